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
    # edited in place with its size and mtime kept (`exiftool -P`): the cache must not
    # answer for it (here the JFIF header's pixel density, bytes 14-15, changes)
    import hashlib
    import os

    target = tree / "a" / "a1_0.jpg"
    before = target.stat()
    data = bytearray(target.read_bytes())
    assert data[6:11] == b"JFIF\0"
    data[14:16] = (int.from_bytes(data[14:16], "big") + 1).to_bytes(2, "big")
    target.write_bytes(data)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size
    third = scan_dataset(tree, cache_file=cache)
    changed = next(r for r in third.records if r.file == "a/a1_0.jpg")
    assert changed.sha256 == hashlib.sha256(data).hexdigest()


def test_missing_folder_and_bad_manifest_raise_data_error(tmp_path: Path, tree: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        scan_dataset(tmp_path / "nope")
    (tree / "manifest.csv").write_text("path,label\nx,y\n")
    with pytest.raises(DataError, match="'file' and 'source'"):
        scan_dataset(tree)


def test_a_manifest_with_a_byte_order_mark_or_in_latin_1(tree: Path) -> None:
    manifest = tree / "manifest.csv"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_bytes(b"\xef\xbb\xbf" + text.encode())  # a spreadsheet's "CSV UTF-8"
    assert source_counts(scan_dataset(tree).records)["b2"] == {"b": 6}
    manifest.write_bytes(text.encode() + "a/é.jpg,a,söurce\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 text.*save it as UTF-8"):
        scan_dataset(tree)


def test_a_scan_cache_cut_short_is_rescanned(tree: Path, tmp_path: Path, caplog) -> None:
    cache = tmp_path / "scan.json"
    first = scan_dataset(tree, cache_file=cache)
    cache.write_text(cache.read_text()[:100])
    assert scan_dataset(tree, cache_file=cache).records == first.records
    assert "scan cache" in caplog.text and "unreadable" in caplog.text
    assert not list(tmp_path.glob("*.partial"))


def test_a_source_in_two_classes_is_refused(tree: Path) -> None:
    """The head learns one class per source: all of it became the first image's class."""
    manifest = tree / "manifest.csv"
    manifest.write_text(manifest.read_text().replace(",b1\n", ",a1\n"))
    with pytest.raises(DataError, match=r"source 'a1' has images in classes \['a', 'b'\]"):
        scan_dataset(tree)


def test_files_the_manifest_names_but_the_folder_lacks_are_warned_about(tree: Path,
                                                                       caplog) -> None:
    manifest = tree / "manifest.csv"
    manifest.write_text(manifest.read_text() + "a/gone.jpg,a,a1\n")
    scan_dataset(tree)
    assert "1 file(s) the manifest names are not under" in caplog.text
    assert "a/gone.jpg" in caplog.text


def test_manifest_rows_under_a_wrong_prefix_and_images_it_lacks_are_warned_about(
        tree: Path, caplog) -> None:
    """Rows written 'wrong/a/...' were passed over without a word, and the images they meant
    became a new 'unlisted' source."""
    manifest = tree / "manifest.csv"
    rows = manifest.read_text().splitlines()
    moved = rows[1].split(",")[0]
    rows[1] = "wrong/" + rows[1]
    manifest.write_text("\n".join(rows) + "\n")
    scan_dataset(tree)
    assert f"1 file(s) the manifest names are not under {tree} (e.g. wrong/{moved})" in (
        caplog.text)
    assert f"1 image(s) under {tree} are not in the manifest (e.g. {moved})" in caplog.text


@pytest.mark.parametrize("prefix", ["./", ".\\"])  # a Windows path: .\x
def test_manifest_paths_with_a_leading_dot_folder_match(tree: Path, prefix: str) -> None:
    manifest = tree / "manifest.csv"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([lines[0], *(prefix + line for line in lines[1:])]) + "\n")
    assert source_counts(scan_dataset(tree).records)["b2"] == {"b": 6}


def test_a_manifest_that_matches_no_image_is_refused(tree: Path) -> None:
    """Bare file names: every image became 'unlisted' and the class mean jumped from 74.5 %
    (true leave-one-source-out) to 97.4 % (random thirds), without a word."""
    manifest = tree / "manifest.csv"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([lines[0], *(line.split("/", 1)[1] for line in lines[1:])])
                        + "\n")
    with pytest.raises(DataError, match="none of them under .* relative to the data folder"):
        scan_dataset(tree)


def test_training_reads_pictures_as_the_device_does(tree: Path, tmp_path: Path) -> None:
    """A 16-bit PNG was trained on as a white picture (convert("RGB") clips), a phone photo
    on its side, and pictures in hidden folders were trained on while the device skips
    them."""
    import numpy as np
    from fakes.hostile_images import rotated_jpeg

    from aoc.images import load_frame
    from aoc_train.data import read_rgb

    deep = tree / "a" / "deep.png"
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(deep)
    phone = rotated_jpeg(tree / "b" / "phone.jpg")
    for path in (deep, phone):
        assert np.array_equal(np.asarray(read_rgb(path)), load_frame(path))
    assert np.asarray(read_rgb(deep)).mean() < 200
    (tree / "c" / ".thumbnails").mkdir()
    picture(77).save(tree / "c" / ".thumbnails" / "c1_0.jpg")
    files = {r.file for r in scan_dataset(tree).records}
    assert "a/deep.png" in files and not any(".thumbnails" in f for f in files)


def test_a_class_folder_left_out_by_the_classes_is_named(tree: Path, caplog) -> None:
    """A western/ folder next to the three classes was dropped without a word."""
    (tree / "western").mkdir()
    for i in range(3):
        picture(500 + i).save(tree / "western" / f"w{i}.jpg")
    (tree / "empty").mkdir()
    with caplog.at_level("WARNING", logger="aoc_train.data"):
        ds = scan_dataset(tree, classes=("a", "b", "c"))
    assert ds.classes == ("a", "b", "c")
    warned = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("ignoring folder western/ (3 images)") and "--classes ''" in m
               for m in warned)
    assert not any("empty/" in m for m in warned)


def test_a_picture_in_two_classes_is_warned_about(tree: Path, caplog) -> None:
    import shutil

    shutil.copyfile(tree / "a" / "a1_0.jpg", tree / "b" / "same.jpg")
    with caplog.at_level("WARNING", logger="aoc_train.data"):
        scan_dataset(tree)
    assert any("1 picture(s) are in two classes at once (e.g. a/a1_0.jpg and b/same.jpg)"
               in r.getMessage() for r in caplog.records)


def test_without_a_manifest_a_sub_folder_of_a_class_is_a_source(tmp_path: Path) -> None:
    """anime/naruto/, anime/ghibli/ ...: every class became one 'unlisted' source split in
    random thirds, 87.5 % against 58.3 % when each show was held out whole."""
    root = tmp_path / "shows"
    for label, shows in {"anime": ["naruto", "ghibli"], "cartoon": ["simpsons"]}.items():
        for k, show in enumerate(shows):
            (root / label / show).mkdir(parents=True)
            for i in range(2):
                picture(100 * k + i + (50 if label == "cartoon" else 0)).save(
                    root / label / show / f"{i}.jpg")
    picture(999).save(root / "cartoon" / "loose.jpg")
    sources = {r.file: r.source for r in scan_dataset(root).records}
    assert sources["anime/naruto/0.jpg"] == "anime/naruto"
    assert sources["anime/ghibli/1.jpg"] == "anime/ghibli"
    assert sources["cartoon/simpsons/0.jpg"] == "cartoon/simpsons"
    assert sources["cartoon/loose.jpg"] == "cartoon/unlisted"


def test_a_linked_folder_is_followed_once_and_a_dangling_link_is_listed(tmp_path: Path) -> None:
    """Path.rglob left a symlinked source folder's images out, and dropped a dangling link,
    without a word."""
    root = tmp_path / "shows"
    elsewhere = tmp_path / "elsewhere" / "ghibli"
    elsewhere.mkdir(parents=True)
    for i in range(2):
        picture(i).save(elsewhere / f"{i}.jpg")
    (root / "anime").mkdir(parents=True)
    (root / "cartoon" / "simpsons").mkdir(parents=True)
    picture(50).save(root / "cartoon" / "simpsons" / "0.jpg")
    (root / "anime" / "ghibli").symlink_to(elsewhere)
    (elsewhere / "loop").symlink_to(elsewhere)  # a link loop: each real folder once
    (root / "anime" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    ds = scan_dataset(root)
    assert sorted(r.file for r in ds.records) == [
        "anime/ghibli/0.jpg", "anime/ghibli/1.jpg", "cartoon/simpsons/0.jpg"]
    assert {s.file: s.reason for s in ds.skipped} == {
        "anime/gone.jpg": "a link to nothing, or not a regular file"}
