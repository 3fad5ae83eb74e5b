"""aoc_train.crossval: leave-source-out folds, scoring, and a real head fit per fold."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fakes.labelled_images import make_tree

from aoc_train.crossval import (
    FoldResult,
    fold_split,
    head_probs,
    parse_folds,
    score_fold,
    summarise,
)
from aoc_train.data import scan_dataset
from aoc_train.errors import DataError
from aoc_train.quality import predictions

CLASSES = ("a", "b", "c")


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "data", per_source=8)


def test_parse_folds_default_is_every_source_alone() -> None:
    sources = ["b1", "a1", "a1", "c1"]
    assert parse_folds("", sources) == [("a1",), ("b1",), ("c1",)]
    assert parse_folds("a1, b1; c1", sources) == [("a1", "b1"), ("c1",)]
    with pytest.raises(DataError, match=r"\['zz'\]"):
        parse_folds("a1;zz", sources)


def test_fold_split_holds_out_whole_sources(tree: Path) -> None:
    ds = scan_dataset(tree)
    split = fold_split(ds.records, ["a2"], CLASSES, seed=3, val_fraction=0.25)
    recs = ds.records
    assert {recs[i].source for i in split.test} == {"a2"}
    assert len(split.test) == 8
    assert "a2" not in {recs[i].source for i in split.train + split.val}
    assert split.val and split.train
    assert sorted(split.train + split.val + split.test) == list(range(len(recs)))
    # same seed, same fold: the same split
    assert fold_split(ds.records, ["a2"], CLASSES, seed=3, val_fraction=0.25) == split


def test_fold_split_refuses_to_empty_a_class(tree: Path) -> None:
    ds = scan_dataset(tree)
    with pytest.raises(DataError, match=r"no training images of \['c'\]"):
        fold_split(ds.records, ["c1"], CLASSES, seed=3)


def test_fold_split_drops_held_out_copies_of_training_images(tree: Path) -> None:
    # the same picture collected by two sources must not score as "unseen"
    shutil.copy(tree / "a" / "a1_0.jpg", tree / "a" / "a2_dup.jpg")
    with (tree / "manifest.csv").open("a") as fh:
        fh.write("a/a2_dup.jpg,a,a2\n")
    ds = scan_dataset(tree)
    split = fold_split(ds.records, ["a2"], CLASSES, seed=3)
    assert split.dropped_duplicates == 1
    assert "a/a2_dup.jpg" not in {ds.records[i].file for i in split.test}


def test_head_probs_is_the_dense_softmax() -> None:
    feats = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    kernel = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    bias = np.array([0.0, 0.0, 1.0], dtype=np.float32)
    probs = head_probs(feats, [kernel, bias])
    expected = np.exp([[2, 0, 1], [0, 2, 1]]) / np.exp([[2, 0, 1], [0, 2, 1]]).sum(1,
                                                                                    keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-6)


def test_score_and_summarise(tree: Path) -> None:
    ds = scan_dataset(tree)
    split = fold_split(ds.records, ["b2"], CLASSES, seed=3)
    labels = ds.label_ids()
    probs = np.zeros((len(split.test), 3))
    probs[:, 1] = 1.0
    probs[:2] = [1.0, 0.0, 0.0]  # two of the held-out b images called a
    result = score_fold(split, probs, labels, ds.records, CLASSES)
    assert result.label == "b"
    assert result.accuracy == pytest.approx((len(split.test) - 2) / len(split.test))
    assert result.predicted == {"a": 2, "b": len(split.test) - 2, "c": 0}
    other = FoldResult(("a2",), "a", 10, 0, 0.5, {"a": 5, "b": 5, "c": 0})
    summary = summarise([result, other], CLASSES)
    assert summary.mean_accuracy == pytest.approx((result.accuracy + 0.5) / 2)
    assert summary.class_mean_accuracy == {"a": 0.5, "b": result.accuracy}
    assert summary.balanced_accuracy == pytest.approx((0.5 + result.accuracy) / 2)
    table = summary.table()
    assert "| b2 | b | 8 |" in table and "50.0 %" in table


@pytest.mark.training
def test_run_crossval_fits_a_head_per_fold(tree: Path, tmp_path: Path) -> None:
    """Sources whose features look like their class score high; a source whose features
    look like another class scores low and is reported as called that class."""
    pytest.importorskip("keras")
    from aoc_train.config import BuildConfig
    from aoc_train.crossval import run_crossval
    from aoc_train.fit import FitConfig
    from aoc_train.pipeline import Pipeline

    cfg = BuildConfig(data_dir=tree, out=tmp_path / "bundle", work_dir=tmp_path / "work",
                      classes=CLASSES, val_fraction=0.2, dropout=0.0,
                      fit=replace(FitConfig(), head_epochs=40, head_lr=0.05, seed=5,
                                  top_tune_from=""))
    p = Pipeline(cfg, progress=False)
    p.scan()
    recs = p.dataset.records
    rng = np.random.default_rng(0)
    k, dims = 2, 6
    pattern = {"a": 0, "b": 1, "c": 2}
    # b2 draws like class a: a head trained on the others must call it a
    looks_like = {r.source: pattern[r.label] for r in recs} | {"b2": pattern["a"]}
    centre = np.array([np.eye(dims)[looks_like[r.source]] * 4 for r in recs], np.float32)
    f_clean = centre + rng.normal(0, 0.3, centre.shape).astype(np.float32)
    f_aug = centre[:, None] + rng.normal(0, 0.3, (len(recs), k, dims)).astype(np.float32)
    seen: list[FoldResult] = []
    summary = run_crossval(p, [("a2",), ("b2",)], on_fold=seen.append,
                           features=(f_aug, f_clean))
    by_fold = {f.sources: f for f in summary.folds}
    assert seen == list(summary.folds)
    assert by_fold[("a2",)].accuracy == 1.0
    assert by_fold[("b2",)].accuracy == 0.0
    assert by_fold[("b2",)].predicted["a"] == 8
    saved = json.loads((tmp_path / "work" / "crossval.json").read_text())
    assert saved["mean_accuracy"] == pytest.approx(0.5)
    assert (tmp_path / "work" / "crossval.md").read_text().startswith("| held-out")


@pytest.mark.training
def test_run_crossval_top_tunes_each_fold_from_fresh_weights(tree: Path, tmp_path: Path) -> None:
    """With top_tune_from set, each fold tunes Conv_1 on cached activations of real views."""
    pytest.importorskip("keras")
    from aoc_train.config import BuildConfig
    from aoc_train.crossval import run_crossval
    from aoc_train.fit import FitConfig
    from aoc_train.pipeline import Pipeline

    cfg = BuildConfig(data_dir=tree, out=tmp_path / "bundle", work_dir=tmp_path / "work",
                      classes=CLASSES, val_fraction=0.2, side=96, views=1, workers=1,
                      fit=replace(FitConfig(), head_epochs=2, top_tune_from="Conv_1",
                                  top_tune_epochs=1))
    p = Pipeline(cfg, progress=False)
    p.scan()
    summary = run_crossval(p, [("a2",), ("b2",)])
    assert [f.images for f in summary.folds] == [8, 8]
    assert all(sum(f.predicted.values()) == 8 for f in summary.folds)
    cached = list((tmp_path / "work").glob("crossval-activations-Conv_1-*.npz"))
    assert len(cached) == 1
    with np.load(cached[0]) as z:
        assert z["augmented"].shape == (40, 1, 3, 3, 112) and z["clean"].shape == (40, 3, 3, 112)
    # every fold's held-out probabilities, head only and top-tuned; scored on the latter
    with np.load(tmp_path / "work" / "crossval-probs.npz") as z:
        assert sorted(z.files) == sorted(f"{i}_{kind}" for i in (0, 1)
                                         for kind in ("test", "head", "top"))
        for i, fold in enumerate(summary.folds):
            assert z[f"{i}_top"].shape == z[f"{i}_head"].shape == (8, 3)
            pred = predictions(z[f"{i}_top"])
            assert fold.predicted == {c: int((pred == k).sum()) for k, c in enumerate(CLASSES)}


def _add_to_manifest(tree: Path, file: str, label: str, source: str) -> None:
    with (tree / "manifest.csv").open("a") as fh:
        fh.write(f"{file},{label},{source}\n")


def test_fold_split_drops_held_out_copies_of_validation_images(tree: Path) -> None:
    """A held-out picture whose copy stopped training early (validation) was seen by the
    run that it scores: the fold's accuracy for "unseen" shows would be inflated."""
    ds = scan_dataset(tree)
    split = fold_split(ds.records, ["a2"], CLASSES, seed=3, val_fraction=0.25)
    val_file = next(ds.records[i].file for i in split.val if ds.records[i].label == "a")
    shutil.copy(tree / val_file, tree / "a" / "a2_valcopy.jpg")
    _add_to_manifest(tree, "a/a2_valcopy.jpg", "a", "a2")
    ds = scan_dataset(tree)
    split = fold_split(ds.records, ["a2"], CLASSES, seed=3, val_fraction=0.25)
    assert val_file in {ds.records[i].file for i in split.val}  # the original stays in val
    assert split.dropped_duplicates == 1
    assert "a/a2_valcopy.jpg" not in {ds.records[i].file for i in split.test}


def test_fold_split_drops_held_out_re_encodes_of_training_images(tree: Path) -> None:
    """A re-encoded copy (other bytes, a few bits of perceptual hash apart) of a training
    picture in the held-out fold is not unseen either."""
    from PIL import Image

    from aoc_train.split import hamming_distances

    with Image.open(tree / "a" / "a1_0.jpg") as im:
        im.convert("RGB").save(tree / "a" / "a2_reencoded.jpg", quality=30)
    _add_to_manifest(tree, "a/a2_reencoded.jpg", "a", "a2")
    ds = scan_dataset(tree)
    by_file = {r.file: r for r in ds.records}
    orig, copy = by_file["a/a1_0.jpg"], by_file["a/a2_reencoded.jpg"]
    hashes = [np.frombuffer(bytes.fromhex(r.dhash), np.uint64)[None] for r in (orig, copy)]
    assert 0 < hamming_distances(*hashes)[0, 0] <= 12  # a near copy, not an exact one
    split = fold_split(ds.records, ["a2"], CLASSES, seed=3, val_fraction=0.0)
    assert "a/a1_0.jpg" in {ds.records[i].file for i in split.train}
    assert split.dropped_duplicates == 1
    assert "a/a2_reencoded.jpg" not in {ds.records[i].file for i in split.test}
