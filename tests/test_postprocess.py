"""aoc.inference.postprocess: dequantize, softmax only for logits, top-k."""

from __future__ import annotations

import numpy as np
import pytest

from aoc.errors import InferenceError
from aoc.inference.postprocess import LabelScore, dequantize, scores_from_output, softmax, top_k

LABELS = ("anime", "cartoon", "neither")


def test_dequantize_uint8_and_int8() -> None:
    u = dequantize(np.array([[0, 128, 255]], np.uint8), scale=1 / 256, zero_point=0)
    assert u.dtype == np.float32
    np.testing.assert_allclose(u, [[0.0, 0.5, 255 / 256]])
    i = dequantize(np.array([-128, 0, 127], np.int8), scale=1 / 256, zero_point=-128)
    np.testing.assert_allclose(i, [0.0, 0.5, 255 / 256])
    odd = dequantize(np.array([10], np.uint8), scale=0.5, zero_point=20)
    np.testing.assert_allclose(odd, [-5.0])


def test_dequantize_float_passes_through() -> None:
    raw = np.array([0.25, 0.75], np.float32)
    out = dequantize(raw, scale=0.0, zero_point=0)
    np.testing.assert_array_equal(out, raw)
    assert out is not raw


def test_softmax_is_stable_and_sums_to_one() -> None:
    s = softmax(np.array([1000.0, 1000.0, 998.0]))
    assert s.dtype == np.float32 and np.isfinite(s).all()
    np.testing.assert_allclose(s.sum(), 1.0, rtol=1e-6)
    e = np.exp([0.0, 0.0, -2.0])
    np.testing.assert_allclose(s, e / e.sum(), rtol=1e-6)


def test_softmax_only_for_logits() -> None:
    probs = np.array([[0.2, 0.3, 0.5]], np.float32)
    np.testing.assert_allclose(scores_from_output(probs, kind="probabilities"), [0.2, 0.3, 0.5])
    logits = np.array([[8.0, 0.0, 0.0]], np.float32)
    s = scores_from_output(logits, kind="logits")
    np.testing.assert_allclose(s, softmax(np.array([8.0, 0.0, 0.0])))
    assert s.shape == (3,)
    q = scores_from_output(np.array([[255, 0, 0]], np.uint8), scale=1 / 256, zero_point=0)
    np.testing.assert_allclose(q, [255 / 256, 0, 0])
    with pytest.raises(InferenceError, match="output.kind"):
        scores_from_output(probs, kind="odds")


def test_top_k_sorted_descending_with_stable_ties() -> None:
    scores = np.array([0.25, 0.5, 0.25], np.float32)
    best = top_k(scores, LABELS, k=3)
    assert best == [
        LabelScore("cartoon", 0.5),
        LabelScore("anime", 0.25),
        LabelScore("neither", 0.25),
    ]
    assert isinstance(best[0].score, float) and best[0].label == "cartoon"
    assert top_k(scores, LABELS, k=1) == [LabelScore("cartoon", 0.5)]
    assert len(top_k(scores, LABELS, k=10)) == 3
    assert top_k(scores, LABELS, k=0) == []


def test_top_k_refuses_mismatched_labels() -> None:
    with pytest.raises(InferenceError, match="3 scores but 2 labels"):
        top_k(np.zeros(3, np.float32), ("a", "b"))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_float_output_that_is_not_finite_is_an_inference_error(bad):
    raw = np.array([[0.2, bad, 0.3]], np.float32)
    for kind in ("probabilities", "logits"):
        with pytest.raises(InferenceError, match="NaN or infinity"):
            scores_from_output(raw, kind=kind)
