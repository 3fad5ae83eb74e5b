"""aoc_train.loso: each source is scored only by a head that never saw it; ties are misses."""

from __future__ import annotations

import numpy as np
import pytest

from aoc_train.embed import VIEWS
from aoc_train.head_fit import HeadConfig
from aoc_train.loso import run_loso, summarise
from aoc_train.quality import predictions


def test_ties_are_misses() -> None:
    probs = np.array([[0.5, 0.5, 0.0], [0.2, 0.7, 0.1], [1 / 3] * 3], np.float32)
    np.testing.assert_array_equal(predictions(probs), [-1, 1, -1])


def _data(seed: int = 0):
    """Two sources per class, a shared class direction plus a per-source offset."""
    rng = np.random.default_rng(seed)
    d, per = 16, 30
    cls = rng.normal(0, 1, (2, d))
    emb, labels, sources = [], [], []
    for c in range(2):
        for s in range(2):
            offset = rng.normal(0, 0.3, d)
            x = cls[c] + offset + rng.normal(0, 0.4, (per, len(VIEWS), d))
            emb.append(x)
            labels += [c] * per
            sources += [f"c{c}s{s}"] * per
    return np.concatenate(emb).astype(np.float32), np.array(labels), sources


def test_loso_scores_every_image_held_out() -> None:
    emb, labels, sources = _data()
    held = run_loso(emb, labels, sources, ("a", "b"), config=HeadConfig(steps=60))
    assert not np.isnan(held.clean).any() and not np.isnan(held.tv).any()
    s = summarise(held)
    assert s["clean"]["class_mean"] > 0.9
    assert set(s["sources"]) == set(sources)
    assert s["sources"]["c0s0"]["label"] == "a"


def test_a_source_unlike_its_class_is_caught() -> None:
    """When one source of class a looks like class b, its held-out score shows it."""
    emb, labels, sources = _data(1)
    emb[np.array(sources) == "c0s1"] = emb[np.array(sources) == "c1s0"][::-1]
    s = summarise(run_loso(emb, labels, sources, ("a", "b"), config=HeadConfig(steps=60)))
    assert s["sources"]["c0s1"]["clean"] < 0.2
    assert s["clean"]["source_mean"]["a"] < 0.7


def test_single_source_classes_are_split_not_held_out_whole() -> None:
    from aoc_train.loso import fold_names

    labels = np.array([0] * 4 + [0] * 4 + [1] * 9)
    sources = ["a1"] * 4 + ["a2"] * 4 + ["b/unlisted"] * 9
    folds = fold_names(labels, sources, seed=0)
    assert folds[:8] == sources[:8]
    assert sorted(set(folds[8:])) == ["b/unlisted#1", "b/unlisted#2", "b/unlisted#3"]
    assert fold_names(labels, sources, seed=0) == folds


def test_copies_of_a_picture_go_to_the_same_third() -> None:
    """'x.jpg' and 'x copy.jpg' in different thirds: the head learnt the picture it was
    scored on (a class mean of 95.8 % instead of 88.3 % on a user's folder)."""
    from aoc_train.loso import fold_names

    labels = np.zeros(12, int)
    sources = ["a/unlisted"] * 12
    groups = [f"picture{i}" for i in range(6)] * 2  # every picture twice
    folds = fold_names(labels, sources, seed=3, groups=groups)
    for i in range(6):
        assert folds[i] == folds[i + 6]
    assert len(set(folds)) == 3
    distinct = [f"p{i}" for i in range(12)]  # no copies: as without groups
    assert fold_names(labels, sources, seed=3, groups=distinct) == fold_names(
        labels, sources, seed=3)


def test_re_encoded_copies_of_a_picture_share_a_group_in_a_one_source_class(
        tmp_path) -> None:
    """Grouping by the exact perceptual hash missed re-encodes (a JPEG at quality 75 moves
    it by 3 to 5 bits), so they could still land in different thirds."""
    from fakes.labelled_images import picture

    from aoc_train.data import scan_dataset
    from aoc_train.loso import copy_groups

    root = tmp_path / "data"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
    for i in range(4):
        picture(i).save(root / "a" / f"p{i}.jpg", quality=95)
        picture(i).save(root / "a" / f"p{i}_again.jpg", quality=70)
        picture(100 + i).save(root / "b" / f"q{i}.jpg")
    records = list(scan_dataset(root).records)
    groups = dict(zip((r.file for r in records), copy_groups(records), strict=True))
    for i in range(4):
        assert groups[f"a/p{i}.jpg"] == groups[f"a/p{i}_again.jpg"]
    assert len({groups[f"a/p{i}.jpg"] for i in range(4)}) == 4  # distinct pictures apart


def test_the_class_mean_comes_with_an_interval_from_resampled_sources() -> None:
    """Percentages to 0.1 % for a few sources, with no word on how much they rest on which
    shows happen to be in the data."""
    from aoc_train.loso import HeldOut, class_mean_interval

    # class a: source a1 all right, a2 all wrong; class b: both sources right
    labels = np.array([0] * 4 + [0] * 4 + [1] * 8)
    sources = ("a1",) * 4 + ("a2",) * 4 + ("b1",) * 4 + ("b2",) * 4
    right = np.eye(2)[labels]
    wrong = ((np.arange(16) >= 4) & (np.arange(16) < 8))[:, None]
    clean = np.where(wrong, 1 - right, right)
    held = HeldOut(("a", "b"), labels, sources, clean.astype(np.float32),
                   np.repeat(clean[:, None], 2, axis=1).astype(np.float32))
    lo, hi = class_mean_interval(held, "clean")
    assert lo == 0.5 and hi == 1.0  # a's recall is 0, 0.5 or 1 by which sources are drawn
    steady = HeldOut(("a", "b"), labels, sources, right.astype(np.float32),
                     np.repeat(right[:, None], 2, axis=1).astype(np.float32))
    assert class_mean_interval(steady, "tv") == [1.0, 1.0]


def _odd_source_data():
    """Two classes of three sources; source a3 of class a sits nearer class b's region and
    also reaches along a feature no other source uses: a head recognises a3 as class a only
    if it learnt a3 itself."""
    rng = np.random.default_rng(0)
    d, per = 8, 20
    where = {"a1": (0, [4, 1]), "a2": (0, [4, 1]), "a3": (0, [1.5, 3.5, 6]),
             "b1": (1, [1, 4]), "b2": (1, [1, 4]), "b3": (1, [1, 4])}
    emb, labels, sources = [], [], []
    for name, (c, centre) in where.items():
        m = np.ones(d)
        m[:len(centre)] = centre
        emb.append(m + rng.normal(0, 0.3, (per, len(VIEWS), d)))
        labels += [c] * per
        sources += [name] * per
    return np.clip(np.concatenate(emb), 0, None).astype(np.float32), np.array(labels), sources


@pytest.mark.parametrize("kind", ["lda", "softmax"])
def test_a_held_out_source_is_scored_by_a_head_that_never_saw_it(kind: str) -> None:
    """If a source's fold trained on that source too (or scored the other sources), a show
    the head only knows because it learnt it would look recognised, and the estimate for
    unseen shows would be inflated."""
    emb, labels, sources = _odd_source_data()
    held = run_loso(emb, labels, sources, ("a", "b"), config=HeadConfig(kind=kind, steps=200))
    s = summarise(held)
    assert s["sources"]["a3"]["clean"] == 0.0 and s["sources"]["a3"]["tv"] == 0.0
    for name in ("a1", "a2", "b1", "b2", "b3"):  # the regular sources stay right
        assert s["sources"][name]["clean"] == 1.0


def test_held_out_lda_scores_are_calibrated_by_a_fitted_temperature() -> None:
    """Without the temperature the LDA head's held-out percentages are near 0 or 100 even
    for the shows it gets wrong: the calibrated confidence the app shows would be a lie."""
    from aoc.inference.postprocess import softmax
    from aoc_train.head_fit import fit_temperature

    emb, labels, sources = _odd_source_data()
    held = run_loso(emb, labels, sources, ("a", "b"), config=HeadConfig())
    assert held.temperature > 1.0  # confident mistakes on a3: the scores are softened
    t = held.temperature
    probs = np.concatenate([held.clean, held.tv.reshape(-1, 2)])
    y = np.concatenate([labels, np.repeat(labels, held.tv.shape[1])])
    raw = softmax(t * np.log(probs + 1e-30))  # the head's scores before calibration

    def log_loss(p: np.ndarray) -> float:  # class-balanced, as the temperature is fitted
        return float(np.mean([-np.log(p[y == c, c] + 1e-30).mean() for c in (0, 1)]))

    assert log_loss(probs) < log_loss(raw)
    assert fit_temperature(np.log(raw + 1e-30), y) == pytest.approx(t)
