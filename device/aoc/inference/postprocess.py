"""Pure post-processing: raw output tensor -> scores -> top-k labels.

Scores are ``float32`` ``(num_labels,)`` probabilities (see ARCHITECTURE.md). Quantized
outputs are dequantized, ``(q - zero_point) * scale``; softmax is applied only when the
model outputs logits (the manifest's ``output.kind``), never twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from aoc.errors import InferenceError

OUTPUT_KINDS = ("probabilities", "logits")
OUTPUT_DTYPES = ("uint8", "int8", "float32")


class LabelScore(NamedTuple):
    """One label with its score."""

    label: str
    score: float


def dequantize(raw: np.ndarray, *, scale: float, zero_point: int) -> np.ndarray:
    """``(q - zero_point) * scale`` as float32; float inputs with scale 0 pass through."""
    if raw.dtype.kind == "f" and not scale:
        return raw.astype(np.float32, copy=True)
    return ((raw.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(
        np.float32, copy=False
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, float32."""
    x = logits.astype(np.float32)
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32, copy=False)


def scores_from_output(
    raw: np.ndarray, *, kind: str = "probabilities", scale: float = 0.0, zero_point: int = 0
) -> np.ndarray:
    """The model's raw output tensor (``(1, N)`` or ``(N,)``) as float32 probabilities.

    ``scale``/``zero_point`` are the output tensor's quantization (0/0 for float outputs).
    """
    if kind not in OUTPUT_KINDS:
        raise InferenceError(
            f"unknown output kind {kind!r}: the manifest's output.kind must be one of "
            f"{', '.join(OUTPUT_KINDS)}"
        )
    values = dequantize(raw.reshape(-1), scale=scale, zero_point=zero_point)
    if raw.dtype.kind == "f" and not np.isfinite(values).all():
        # a float model's NaN would stick in the smoothed average for good (a class that can
        # no longer win) or stop the loop; the loop skips a frame whose inference failed
        raise InferenceError(
            "the model's output holds NaN or infinity: the model is broken or its input "
            "is out of range; rebuild it or check its input quantization"
        )
    if kind == "logits":
        return softmax(values)
    return values


def top_k(scores: np.ndarray, labels: Sequence[str], k: int = 3) -> list[LabelScore]:
    """The ``k`` best labels, highest score first; ties keep class-id order."""
    if len(scores) != len(labels):
        raise InferenceError(
            f"{len(scores)} scores but {len(labels)} labels: the labels file does not match "
            "the model"
        )
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[: max(0, k)]
    return [LabelScore(labels[i], float(scores[i])) for i in order]
