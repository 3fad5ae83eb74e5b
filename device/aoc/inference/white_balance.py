"""Gray-world white balance of the model's input, the bundle's ``input.white_balance``.

A camera held at a TV sees the picture with the panel's and the camera's colour casts on
top. Gray-world assumes the picture averages to grey: each channel is scaled so that the
three channel means are equal (gains limited to :data:`GAIN_RANGE`, so a picture that
really is mostly one colour is not bleached), as one 256-entry table per channel.

It runs on the fitted ``(H, W, 3)`` uint8 input, after resizing and before quantization,
in training (the embeddings are computed through :class:`~aoc.inference.preprocess.Preprocessor`)
and on the device alike. The channel sums are exact integers and the table is computed
from them in numpy, so the OpenCV path (``cv2.sumElems`` and ``cv2.LUT``, about 30 us at
224x224) and the numpy path give the same bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aoc.errors import InferenceError
from aoc.inference.bundle_spec import WHITE_BALANCES

__all__ = ["GAIN_RANGE", "WHITE_BALANCES", "GrayWorld", "check_white_balance",
           "grayworld_table"]
GAIN_RANGE = (0.67, 1.5)


def check_white_balance(name: str) -> None:
    """Raise InferenceError unless ``name`` is one of :data:`WHITE_BALANCES`."""
    if name not in WHITE_BALANCES:
        raise InferenceError(
            f"unknown white balance {name!r}: use one of {', '.join(WHITE_BALANCES)}"
        )


def grayworld_table(sums: Any, count: int) -> np.ndarray:
    """The ``(256, 3)`` uint8 tables for channel sums ``sums`` over ``count`` pixels.

    Gain of channel c: ``mean(m) / m[c]`` with ``m = channel mean + 1`` (a black frame
    keeps gains of 1), clipped to :data:`GAIN_RANGE`; table ``round(v * gain)`` clipped to
    255.
    """
    m = np.asarray(sums, np.float64)[:3] / max(1, count) + 1.0
    gains = np.clip(m.mean() / m, *GAIN_RANGE)
    return np.clip(np.arange(256)[:, None] * gains[None] + 0.5, 0, 255).astype(np.uint8)


class GrayWorld:
    """Applies gray-world white balance to one ``(H, W, 3)`` uint8 image at a time.

    ``cv2`` is the OpenCV module to use, ``None`` for numpy only (both give the same
    bytes). ``out`` may be the input itself (in place).
    """

    def __init__(self, *, cv2: Any = None) -> None:
        self._cv2 = cv2

    def __call__(self, pixels: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write the balanced ``pixels`` into ``out`` and return it."""
        h, w = pixels.shape[:2]
        cv2 = self._cv2
        if cv2 is not None:
            table = grayworld_table(cv2.sumElems(pixels), h * w)
            result = cv2.LUT(pixels, table.reshape(1, 256, 3), dst=out)
            if result is not out:  # OpenCV could not write into out (a strided view)
                np.copyto(out, result)
            return out
        sums = pixels.reshape(-1, 3).sum(axis=0, dtype=np.uint64)
        table = grayworld_table(sums, h * w)
        for c in range(3):
            out[..., c] = table[pixels[..., c], c]
        return out
