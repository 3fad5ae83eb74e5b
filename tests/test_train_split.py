"""aoc_train.split: deterministic source-aware splits, cross-split duplicates, weights."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest
from fakes.labelled_images import make_tree, picture
from PIL import Image

from aoc_train.data import Dataset, difference_hash, scan_dataset
from aoc_train.errors import DataError
from aoc_train.split import balanced_weights, find_cross_duplicates, make_split


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "data")


def test_split_is_deterministic_and_order_independent(tree: Path) -> None:
    ds = scan_dataset(tree)
    a = make_split(ds, holdout_sources=["a2", "b2"], val_fraction=0.2, seed=7)
    b = make_split(ds, holdout_sources=["a2", "b2"], val_fraction=0.2, seed=7)
    assert a == b
    reversed_ds = Dataset(ds.root, ds.classes, tuple(reversed(ds.records)), ds.skipped)
    c = make_split(reversed_ds, holdout_sources=["a2", "b2"], val_fraction=0.2, seed=7)
    files = lambda d, s, n: sorted(d.records[i].file for i in s.indices(n))  # noqa: E731
    for name in ("train", "val", "test"):
        assert files(ds, a, name) == files(reversed_ds, c, name)
    test_sources = {ds.records[i].source for i in a.test}
    assert {"a2", "b2"} <= test_sources
    # class c has no held-out source: part of its only source is held out instead
    assert any(ds.records[i].source == "c1" for i in a.test)
    assert not {ds.records[i].source for i in a.train} & {"a2", "b2"}
    other = make_split(ds, holdout_sources=["a2", "b2"], val_fraction=0.2, seed=8)
    assert other.val != a.val or other.test != a.test


def test_split_refuses_unknown_or_emptying_holdouts(tree: Path) -> None:
    ds = scan_dataset(tree)
    with pytest.raises(DataError, match="not in the data"):
        make_split(ds, holdout_sources=["zzz"])
    with pytest.raises(DataError, match="no images of.*hold out fewer sources"):
        make_split(ds, holdout_sources=["a1", "a2"])
    # nothing held out: a class too small for a test share (the advice named hold-outs)
    few = replace(ds, records=tuple(r for r in ds.records
                                    if r.label != "c" or r.file.endswith("_0.jpg")))
    with pytest.raises(DataError, match=r"no images of \['c'\]; add images of them"):
        make_split(few, holdout_sources=[], class_test_fraction=0.2)


def test_cross_split_duplicates_detected_and_dropped(tree: Path) -> None:
    # an exact copy and a resized re-encode of a training picture inside held-out source a2
    src = tree / "a" / "a1_0.jpg"
    (tree / "a" / "a2_copy.jpg").write_bytes(src.read_bytes())
    with Image.open(src) as img:
        img.resize((40, 40)).save(tree / "a" / "a2_resized.jpg", quality=70)
    rows = list(csv.DictReader((tree / "manifest.csv").open()))
    rows += [{"file": "a/a2_copy.jpg", "label": "a", "source": "a2"},
             {"file": "a/a2_resized.jpg", "label": "a", "source": "a2"}]
    with (tree / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "label", "source"])
        writer.writeheader()
        writer.writerows(rows)
    ds = scan_dataset(tree)
    sp = make_split(ds, holdout_sources=["a2"], val_fraction=0.0, seed=1)
    dups = {d.dropped: d for d in sp.duplicates}
    assert dups["a/a2_copy.jpg"].kind == "exact"
    assert dups["a/a2_resized.jpg"].kind == "near"
    assert dups["a/a2_copy.jpg"].kept == "a/a1_0.jpg"
    test_files = {ds.records[i].file for i in sp.test}
    assert "a/a2_copy.jpg" not in test_files and "a/a2_resized.jpg" not in test_files
    # distinct pictures are not flagged
    assert len(sp.duplicates) == 2


def test_near_duplicate_threshold_separates_distinct_pictures() -> None:
    h1 = difference_hash(picture(1))
    h2 = difference_hash(picture(2))
    same = difference_hash(picture(1).resize((30, 30)))
    bits = lambda a, b: bin(int(a, 16) ^ int(b, 16)).count("1")  # noqa: E731
    assert bits(h1, same) <= 12 < bits(h1, h2)


def test_find_cross_duplicates_handles_empty_sides(tree: Path) -> None:
    ds = scan_dataset(tree)
    assert find_cross_duplicates(ds.records, [], [0, 1]) == []
    assert find_cross_duplicates(ds.records, [0, 1], []) == []


def test_balanced_weights_equalise_classes_and_damp_big_sources(tree: Path) -> None:
    ds = scan_dataset(tree)
    # make source a1 four times as big as a2 by relabelling records
    recs = [replace(r, source="a1") if r.source == "a2" and r.file.endswith(("_0.jpg", "_1.jpg",
                                                                             "_2.jpg")) else r
            for r in ds.records]
    idx = list(range(len(recs)))
    w = balanced_weights(recs, idx, ds.classes)
    assert w.mean() == pytest.approx(1.0)
    per_class = {c: w[[i for i in idx if recs[i].label == c]].sum() for c in ds.classes}
    assert max(per_class.values()) == pytest.approx(min(per_class.values()), rel=1e-5)
    a1 = w[[i for i in idx if recs[i].source == "a1"]].sum()
    a2 = w[[i for i in idx if recs[i].source == "a2"]].sum()
    assert a2 < a1 < 3 * a2  # bigger source counts more, but less than proportionally


def test_hamming_distances_match_bit_by_bit_counts_with_and_without_bitwise_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    from aoc_train import split

    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**63, (5, 4), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, (7, 4), dtype=np.uint64)
    b[0] = a[2]  # one exact copy: distance 0
    bits = lambda h: np.unpackbits(h.view(np.uint8), axis=1)  # noqa: E731
    expected = (bits(a)[:, None, :] != bits(b)[None, :, :]).sum(axis=2)
    assert expected[2, 0] == 0
    got = split.hamming_distances(a, b)
    np.testing.assert_array_equal(got, expected)
    # numpy 1.x (the Pi's 1.24) has no bitwise_count: the byte table must give the same
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    np.testing.assert_array_equal(split.hamming_distances(a, b), expected)
    assert split.hamming_distances(a, b[:0]).shape == (5, 0)  # nothing to compare with


def test_flat_pictures_are_not_copies_of_each_other_unless_their_bytes_are() -> None:
    """Every flat picture has the same difference hash (all bits 0): a red and a blue
    card were grouped as one picture, and flagged as duplicates across the split."""
    from aoc_train.data import ImageRecord
    from aoc_train.split import near_duplicate_groups

    def record(name: str, image: Image.Image, sha: str) -> ImageRecord:
        return ImageRecord(f"a/{name}.png", "a", "s", sha, difference_hash(image), 32, 32)

    red, blue = Image.new("RGB", (32, 32), "red"), Image.new("RGB", (32, 32), "blue")
    ramp = Image.linear_gradient("L").rotate(90).convert("RGB")  # smooth: every bit 1
    records = [record("red", red, "1" * 64), record("blue", blue, "2" * 64),
               record("red_again", red, "1" * 64), record("ramp", ramp, "3" * 64),
               record("photo", picture(1), "4" * 64),
               record("photo_small", picture(1).resize((30, 30)), "5" * 64)]
    groups = near_duplicate_groups(records, range(len(records)))
    assert groups[0] == groups[2] == 0  # the same bytes: one picture
    assert groups[1] == 1 and groups[3] == 3  # flat or smooth, not the same: apart
    assert groups[5] == groups[4] == 4  # a real picture's rescale still found
    assert find_cross_duplicates(records, [0], [1, 3]) == []
    assert [d.kind for d in find_cross_duplicates(records, [0, 4], [2, 5])] == [
        "exact", "near"]


def test_pictures_shared_with_another_source_are_found() -> None:
    """A source copied into a second folder of its class scored 100 % held out (60 % without
    the copy), and the report still said its figures predict unseen shows."""
    from aoc_train.data import ImageRecord
    from aoc_train.split import shared_with_other_sources

    def record(name: str, source: str, image: Image.Image, sha: str,
               label: str = "a") -> ImageRecord:
        return ImageRecord(f"{label}/{name}.png", label, source, sha, difference_hash(image),
                           32, 32)

    records = [record("p1", "s1", picture(1), "1" * 64),
               record("p2", "s1", picture(2), "2" * 64),
               record("p1_copy", "s2", picture(1), "1" * 64),          # same bytes
               record("p2_small", "s3", picture(2).resize((30, 30)), "3" * 64),  # re-encoded
               record("p4", "s3", picture(4), "4" * 64)]
    shared = shared_with_other_sources(records, [r.source for r in records])
    assert shared.tolist() == [True, True, True, True, False]
    assert not shared_with_other_sources(records[:2], ["s1", "s1"]).any()  # one source
    # a twin in another class is a label conflict (trained on under the other label: a
    # pessimistic score), not an optimistic one
    other = [records[0], record("p1_as_b", "b1", picture(1), "1" * 64, label="b")]
    assert not shared_with_other_sources(other, ["s1", "b1"]).any()


def test_a_class_with_a_held_out_source_keeps_its_other_sources_out_of_test(
        tree: Path) -> None:
    """The class test share is for classes with no held-out source: taking it from a class
    that has one would mix seen shows into the unseen-shows test set (and shrink training)."""
    ds = scan_dataset(tree)
    sp = make_split(ds, holdout_sources=["a2"], val_fraction=0.0, class_test_fraction=0.5,
                    seed=1)
    test_sources = {ds.records[i].source for i in sp.test}
    assert "a1" not in test_sources
    assert {"a2", "b1", "b2", "c1"} <= test_sources  # b and c: their share is held out
    assert {ds.records[i].file for i in sp.train} >= {
        r.file for r in ds.records if r.source == "a1"}


def test_held_out_copies_of_validation_images_are_dropped(tree: Path) -> None:
    """A test picture whose copy stopped training early (validation) has been seen by the
    run it scores: the held-out figures would be inflated."""
    ds = scan_dataset(tree)
    first = make_split(ds, holdout_sources=["a2"], val_fraction=0.5, seed=1)
    val_file = next(ds.records[i].file for i in first.val if ds.records[i].source == "a1")
    (tree / "a" / "a2_valcopy.jpg").write_bytes((tree / val_file).read_bytes())
    with (tree / "manifest.csv").open("a") as fh:
        fh.write("a/a2_valcopy.jpg,a,a2\n")
    ds = scan_dataset(tree)
    sp = make_split(ds, holdout_sources=["a2"], val_fraction=0.5, seed=1)
    assert val_file in {ds.records[i].file for i in sp.val}
    dups = {d.dropped: d for d in sp.duplicates}
    assert dups["a/a2_valcopy.jpg"].kept == val_file
    assert "a/a2_valcopy.jpg" not in {ds.records[i].file for i in sp.test}


def test_a_nearly_flat_kept_picture_is_matched_by_its_bytes_only() -> None:
    """A nearly flat training picture (a few hash bits set) is a few bits from any other
    faint picture: without skipping it on the kept side, a held-out picture that merely
    resembles a plain card is dropped as its "copy"."""
    from aoc_train.data import ImageRecord

    def record(name: str, bits: int, sha: str) -> ImageRecord:
        return ImageRecord(f"a/{name}.png", "a", "s", sha, format(bits, "064x"), 32, 32)

    faint = record("faint", (1 << 10) - 1, "1" * 64)  # 10 bits set: under MIN_HASH_BITS
    textured = record("textured", (1 << 18) - 1, "2" * 64)  # 18 bits: 8 bits from faint
    assert find_cross_duplicates([faint, textured], [0], [1]) == []
    assert find_cross_duplicates([textured, faint], [0], [1]) == []  # nor the other way
    again = record("textured_again", ((1 << 18) - 1) ^ 0b1000, "3" * 64)  # 1 bit off
    assert [d.kind for d in find_cross_duplicates([textured, again], [0], [1])] == ["near"]


def test_a_copy_exactly_max_distance_bits_away_is_still_a_duplicate() -> None:
    """``max_distance`` is the largest distance that counts as a copy (12 catches
    re-encodes): a re-encode exactly that far from its original must be dropped too."""
    from aoc_train.data import ImageRecord

    def record(name: str, bits: int, sha: str) -> ImageRecord:
        return ImageRecord(f"a/{name}.png", "a", "s", sha, format(bits, "064x"), 32, 32)

    original = (1 << 40) - 1  # 40 bits set: an informative hash
    records = [record("original", original, "1" * 64),
               record("twelve_off", original ^ ((1 << 52) - (1 << 40)), "2" * 64),
               record("thirteen_off", original ^ ((1 << 53) - (1 << 40)), "3" * 64)]
    found = find_cross_duplicates(records, [0], [1, 2], max_distance=12)
    assert [(d.dropped, d.distance) for d in found] == [("a/twelve_off.png", 12)]
