"""aoc_train.data: scanning, bad files skipped and listed, manifests, hashes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aoc_train.data import scan_dataset, source_counts
from aoc_train.errors import DataError


def _picture(seed: int, size: int = 48) -> Image.Image:
    """A distinct smooth picture per seed (smooth so that rescaled copies stay similar)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def _make_tree(root: Path, per_source: int = 6) -> Path:
    sources = {"a": ["a1", "a2"], "b": ["b1", "b2"], "c": ["c1"]}
    rows = []
    seed = 0
    for label, srcs in sources.items():
        (root / label).mkdir(parents=True)
        for src in srcs:
            for i in range(per_source):
                seed += 1
                name = f"{label}/{src}_{i}.jpg"
                _picture(seed).save(root / name, quality=95)
                rows.append({"file": name, "label": label, "source": src})
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "label", "source"])
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return _make_tree(tmp_path / "data")


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
    _picture(999).save(tree / "c" / "extra.jpg")
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
