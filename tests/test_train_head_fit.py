"""aoc_train.head_fit: balanced weights and a head that learns separable embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from aoc_train.errors import DataError
from aoc_train.head_fit import HeadConfig, fit_head, sample_weights, standardise


def test_weights_balance_classes_and_damp_big_sources() -> None:
    labels = np.array([0] * 100 + [0] * 4 + [1] * 10)
    sources = ["big"] * 100 + ["small"] * 4 + ["c"] * 10
    w = sample_weights(labels, sources, 2, source_power=0.5)
    assert w.mean() == pytest.approx(1.0)
    assert w[labels == 0].sum() == pytest.approx(w[labels == 1].sum())
    big, small = w[:100].sum(), w[100:104].sum()
    assert big / small == pytest.approx(np.sqrt(100 / 4))
    flat = sample_weights(labels, sources, 2, source_power=0.0)
    assert flat[:100].sum() == pytest.approx(flat[100:104].sum())


def test_weights_skip_absent_classes() -> None:
    w = sample_weights(np.array([0, 0, 2]), ["a", "a", "b"], 3)
    assert np.all(w > 0) and w.mean() == pytest.approx(1.0)


def test_standardise_is_weighted() -> None:
    x = np.array([[0.0], [10.0]], np.float32)
    shift, scale = standardise(x, np.array([3.0, 1.0], np.float32))
    assert shift[0] == pytest.approx(2.5)


@pytest.mark.parametrize("hidden", [0, 16])
def test_head_learns_separable_clusters(hidden: int) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (3, 32)).astype(np.float32)
    y = rng.integers(0, 3, 600)
    x = centres[y] + rng.normal(0, 0.3, (600, 32)).astype(np.float32) + 5.0
    head = fit_head(x, y, np.ones(600, np.float32), 3, HeadConfig(hidden=hidden, steps=150))
    probs = head(x)
    assert probs.shape == (600, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert np.mean(probs.argmax(1) == y) > 0.97
    assert head.layer_sizes == ((32, 3) if not hidden else (32, hidden, 3))


def test_fit_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (100, 8)).astype(np.float32)
    y = rng.integers(0, 2, 100)
    w = np.ones(100, np.float32)
    a = fit_head(x, y, w, 2, HeadConfig(hidden=4, steps=20))
    b = fit_head(x, y, w, 2, HeadConfig(hidden=4, steps=20))
    for p, q in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(p, q)


def test_lda_head_from_source_sums_equals_a_direct_fit() -> None:
    """Leaving a source out by subtracting its sums gives the head fitted without it."""
    from aoc_train.head_fit import lda_head, source_stats

    rng = np.random.default_rng(3)
    centres = rng.normal(0, 2, (2, 6))
    labels = np.repeat([0, 0, 1, 1], 25)
    sources = np.repeat(["a1", "a2", "b1", "b2"], 25)
    emb = (centres[labels][:, None, :] + rng.normal(0, 1, (100, 2, 6))).astype(np.float32)
    stats = source_stats(emb, labels, list(sources), (0, 1))
    keep = np.array([n != "a2" for n in stats.names])
    left_out = lda_head(stats, keep, 2)
    kept = sources != "a2"
    direct = lda_head(source_stats(emb[kept], labels[kept], list(sources[kept]), (0, 1)),
                      np.ones(3, bool), 2)
    x = emb[:, 0]
    np.testing.assert_allclose(left_out(x), direct(x), atol=1e-4)
    assert np.mean(left_out(x).argmax(1) == labels) > 0.9


def test_temperature_softens_overconfident_logits() -> None:
    from aoc_train.head_fit import fit_temperature

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    right = rng.random(400) < 0.75  # 75 % right, each with a huge margin
    pred = np.where(right, labels, 1 - labels)
    logits = np.zeros((400, 2))
    logits[np.arange(400), pred] = 20.0
    assert fit_temperature(logits, labels) > 5


def test_source_sums_refuse_a_source_across_classes() -> None:
    """A group of sources spanning classes, passed as one source, was learnt silently as
    the class of its first image."""
    from aoc_train.head_fit import source_stats

    emb = np.zeros((4, 1, 3), np.float32)
    with pytest.raises(DataError, match="'g1' holds images of more than one class"):
        source_stats(emb, np.array([0, 1, 0, 0]), ["g1", "g1", "g2", "g2"], (0,))


def test_a_class_with_no_source_left_is_a_data_error() -> None:
    from aoc_train.head_fit import lda_head, source_stats

    emb = np.arange(12, dtype=np.float32).reshape(4, 1, 3)
    stats = source_stats(emb, np.array([0, 0, 1, 1]), ["a", "a", "b", "b"], (0,))
    with pytest.raises(DataError, match="class 1 has no training source left"):
        lda_head(stats, np.array([True, False]), 2)
