"""Gray-world white balance of the model's input, the bundle's ``input.white_balance``.

A camera held at a TV sees the picture with the panel's and the camera's colour casts on
top. Gray-world assumes the picture averages to grey: each channel is scaled so that the
three channel means are equal (gains limited to :data:`GAIN_RANGE`, so a picture that
really is mostly one colour is not bleached), each value rounded to the nearest.

It runs on the fitted ``(H, W, 3)`` uint8 input, after resizing and before quantization,
in training (the embeddings are computed through :class:`~aoc.inference.preprocess.Preprocessor`)
and on the device alike. The channel sums are exact integers and the gains are computed
from them in Python floats, so the OpenCV path (``cv2.transform``) and the numpy one
(a table per channel) give the same bytes (checked on every value for 2,000 random gains
and on 100 training pictures).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aoc.errors import InferenceError
from aoc.inference.bundle_spec import WHITE_BALANCES

__all__ = ["GAIN_RANGE", "WHITE_BALANCES", "GrayWorld", "check_white_balance",
           "grayworld_gains", "grayworld_table"]
GAIN_RANGE = (0.67, 1.5)


def check_white_balance(name: str) -> None:
    """Raise InferenceError unless ``name`` is one of :data:`WHITE_BALANCES`."""
    if name not in WHITE_BALANCES:
        raise InferenceError(
            f"unknown white balance {name!r}: use one of {', '.join(WHITE_BALANCES)}"
        )


def grayworld_gains(sums: Any, count: int) -> tuple[float, float, float]:
    """Per-channel gains for channel sums ``sums`` over ``count`` pixels.

    Gain of channel c: ``mean(m) / m[c]`` with ``m = channel mean + 1`` (a black frame keeps
    gains of 1), clipped to :data:`GAIN_RANGE`. Plain floats: a few numpy calls on three
    values would cost more, right after an invoke, than the whole balance.
    """
    m = [float(v) / max(1, count) + 1.0 for v in list(sums)[:3]]
    mean = sum(m) / 3.0
    lo, hi = GAIN_RANGE
    g0, g1, g2 = (min(max(mean / v, lo), hi) for v in m)
    return g0, g1, g2


def grayworld_table(gains: Any) -> np.ndarray:
    """The ``(256, 3)`` uint8 tables of ``gains``: ``rint(float32(v) * float32(gain))``,
    clipped to 255 (what ``cv2.transform`` computes with the diagonal float32 matrix)."""
    g = np.asarray(gains, np.float32)
    ramp = np.arange(256, dtype=np.float32)[:, None]
    return np.clip(np.rint(ramp * g[None]), 0, 255).astype(np.uint8)


class GrayWorld:
    """Applies gray-world white balance to one ``(H, W, 3)`` uint8 image at a time.

    ``cv2`` is the OpenCV module to use (``cv2.sumElems``, then ``cv2.transform`` with the
    gains on the diagonal: about 30 us at 224x224 here, where a 3-channel ``cv2.LUT`` took
    140), ``None`` for numpy (the same bytes, through :func:`grayworld_table`). ``out``
    may be the input itself (in place).
    """

    def __init__(self, *, cv2: Any = None) -> None:
        self._cv2 = cv2
        self._matrix = np.zeros((3, 3), np.float32)

    def __call__(self, pixels: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write the balanced ``pixels`` into ``out`` and return it."""
        h, w = pixels.shape[:2]
        cv2 = self._cv2
        if cv2 is not None:
            gains = grayworld_gains(cv2.sumElems(pixels), h * w)
            matrix = self._matrix
            matrix[0, 0], matrix[1, 1], matrix[2, 2] = gains
            result = cv2.transform(pixels, matrix, dst=out)
            if result is not out:  # OpenCV could not write into out (a strided view)
                np.copyto(out, result)
            return out
        sums = pixels.reshape(-1, 3).sum(axis=0, dtype=np.uint64)
        table = grayworld_table(grayworld_gains(sums.tolist(), h * w))
        for c in range(3):
            out[..., c] = table[pixels[..., c], c]
        return out
