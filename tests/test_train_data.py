"""aoc_train.data: scanning, bad files skipped and listed, manifests, hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.labelled_images import make_tree, picture
from PIL import Image

from aoc_train.data import scan_dataset, source_counts
from aoc_train.errors import DataError


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "data")


def test_scan_reads_classes_sources_and_hashes(tree: Path) -> None:
    ds = scan_dataset(tree)
    assert ds.classes == ("a", "b", "c")
    assert len(ds.records) == 30
    assert source_counts(ds.records)["b2"] == {"b": 6}
    assert all(len(r.sha256) == 64 and len(r.dhash) == 64 for r in ds.records)
    assert list(ds.label_ids()[:6]) == [0] * 6


def test_bad_files_are_skipped_and_listed_never_fatal(tree: Path) -> None:
    good = (tree / "a" / "a1_0.jpg").read_bytes()
    (tree / "a" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (tree / "b" / "garbage.jpg").write_bytes(b"\x00not a jpeg at all" * 10)
    (tree / "b" / "empty.png").write_bytes(b"")
    (tree / "c" / "notes.txt").write_text("hello")
    Image.new("RGB", (4, 4)).save(tree / "c" / "tiny.png")
    ds = scan_dataset(tree)
    skipped = {s.file: s.reason for s in ds.skipped}
    assert set(skipped) == {"a/truncated.jpg", "b/garbage.jpg", "b/empty.png", "c/notes.txt",
                            "c/tiny.png"}
    assert "truncated" in skipped["a/truncated.jpg"].lower()
    assert len(ds.records) == 30
    # files not in the manifest but readable get a per-class "unlisted" source
    picture(999).save(tree / "c" / "extra.jpg")
    ds = scan_dataset(tree)
    extra = [r for r in ds.records if r.file == "c/extra.jpg"]
    assert extra and extra[0].source == "c/unlisted"


def test_scan_cache_gives_same_records(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.json"
    first = scan_dataset(tree, cache_file=cache)
    assert cache.is_file()
    second = scan_dataset(tree, cache_file=cache)
    assert first.records == second.records


def test_missing_folder_and_bad_manifest_raise_data_error(tmp_path: Path, tree: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        scan_dataset(tmp_path / "nope")
    (tree / "manifest.csv").write_text("path,label\nx,y\n")
    with pytest.raises(DataError, match="'file' and 'source'"):
        scan_dataset(tree)
