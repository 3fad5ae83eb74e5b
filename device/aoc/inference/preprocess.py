"""Pure pre-processing: fit an RGB frame to the model and quantize it into the input buffer.

Frames are ``uint8`` ``(H, W, 3)`` RGB arrays. The model wants ``(height, width, 3)`` values
of its input dtype, given by the bundle's input spec: pixels are first mapped linearly from
[0, 255] onto ``value_range`` and then quantized, ``q = round(x / scale + zero_point)``,
clipped to the dtype (uint8, int8), or written as is (float32).

Because the source values are bytes, every such mapping is a 256-entry lookup table. The
:class:`Preprocessor` computes it once and picks the cheapest exact way to apply it:
``np.copyto`` when the table is the identity (uint8 model, scale 1, zero point 0, range
[0, 255]), an XOR with 0x80 through a byte view when it is ``pixel - 128`` into int8, and a
table lookup through preallocated scratch otherwise. Frames already at the model size are
not resized at all, so the fast path allocates nothing per frame.

Fitting a frame of another size to the model (the resize policies and the device's
filter, :data:`~aoc.inference.resize.DEVICE_RESAMPLE`) is :mod:`aoc.inference.resize`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aoc.errors import InferenceError
from aoc.inference.bundle_spec import INPUT_DTYPES
from aoc.inference.resize import (
    AREA_LINEAR,
    DEVICE_RESAMPLE,
    FrameFitter,
    check_policy,
    check_resample,
    resize_frame,
)

log = logging.getLogger(__name__)


def check_frame(frame: Any) -> np.ndarray:
    """Return ``frame`` if it is a uint8 ``(H, W, 3)`` array, else raise InferenceError."""
    if (
        not isinstance(frame, np.ndarray)
        or frame.dtype != np.uint8
        or frame.ndim != 3
        or frame.shape[2] != 3
    ):
        what = (
            f"{frame.dtype} array of shape {frame.shape}"
            if isinstance(frame, np.ndarray)
            else type(frame).__name__
        )
        raise InferenceError(
            f"a frame must be a uint8 (H, W, 3) RGB array, got a {what}: "
            "the frame source must convert before returning it"
        )
    return frame


def quantize(
    pixels: np.ndarray,
    *,
    dtype: str,
    scale: float,
    zero_point: int,
    value_range: Sequence[float] = (0.0, 255.0),
) -> np.ndarray:
    """Map uint8 pixels onto ``value_range`` and quantize them for an input of ``dtype``.

    ``x = lo + pixel * (hi - lo) / 255``; uint8/int8: ``q = round(x / scale + zero_point)``
    clipped to the dtype's range; float32: ``x``. Allocates: use :class:`Preprocessor`
    per frame.
    """
    if dtype not in INPUT_DTYPES:
        raise InferenceError(
            f"unsupported model input dtype {dtype!r}: use one of {', '.join(INPUT_DTYPES)}"
        )
    lo, hi = float(value_range[0]), float(value_range[1])
    x = lo + pixels.astype(np.float64) * ((hi - lo) / 255.0)
    if dtype == "float32":
        return x.astype(np.float32)
    if not scale > 0:
        raise InferenceError(
            f"model input is {dtype} but its quantization scale is {scale}: "
            "the model is not quantized correctly, rebuild it"
        )
    info = np.iinfo(dtype)
    q = np.rint(x / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def lookup_table(
    *, dtype: str, scale: float, zero_point: int, value_range: Sequence[float]
) -> np.ndarray:
    """The 256-entry table that :func:`quantize` amounts to for byte pixels."""
    return quantize(
        np.arange(256, dtype=np.uint8),
        dtype=dtype,
        scale=scale,
        zero_point=zero_point,
        value_range=value_range,
    )


@dataclass(frozen=True)
class PreprocessSpec:
    """What the model's input wants; picklable (sent to the isolated child's parent)."""

    width: int
    height: int
    dtype: str = "uint8"
    scale: float = 1.0
    zero_point: int = 0
    value_range: tuple[float, float] = (0.0, 255.0)
    resize: str = "stretch"
    resample: str = DEVICE_RESAMPLE


class Preprocessor:
    """Writes frames, fitted and quantized, straight into a model input buffer.

    ``mode`` tells which exact fast path was chosen: ``copy``, ``xor`` or ``lut``. With
    ``spec.resample == "area_linear"`` (:data:`DEVICE_RESAMPLE`) a frame of another size is
    resized straight into the input buffer (``copy``) or into preallocated scratch, never
    through a fresh array; ``use_cv2=False`` forces the Pillow implementation.
    """

    def __init__(self, spec: PreprocessSpec, *, use_cv2: bool = True) -> None:
        check_policy(spec.resize)
        check_resample(spec.resample)
        self.spec = spec
        self.size = (spec.width, spec.height)
        self.shape = (spec.height, spec.width, 3)
        self.dtype = np.dtype(spec.dtype)
        self.table = lookup_table(
            dtype=spec.dtype,
            scale=spec.scale,
            zero_point=spec.zero_point,
            value_range=spec.value_range,
        )
        ramp = np.arange(256)
        if spec.dtype == "uint8" and np.array_equal(self.table, ramp):
            self.mode = "copy"
        elif spec.dtype == "int8" and np.array_equal(self.table, ramp - 128):
            self.mode = "xor"  # int8 bit pattern of (p - 128) is p ^ 0x80
        else:
            self.mode = "lut"
        # Scratch for the lookup path: index array (np.take wants intp indices).
        self._index = np.empty(self.shape, dtype=np.intp) if self.mode == "lut" else None
        self._fitter = (FrameFitter(self.size, spec.resize, use_cv2=use_cv2)
                        if spec.resample == AREA_LINEAR else None)
        self._fitted = np.empty(self.shape, np.uint8) if self._fitter is not None else None
        log.debug("preprocess %s -> %s %s via %s", spec.resize, self.shape, spec.dtype, self.mode)

    def fit(self, frame: np.ndarray) -> np.ndarray:
        """The frame resized to the model size by the spec's policy (no copy if already)."""
        return resize_frame(
            check_frame(frame), self.size, self.spec.resize, resample=self.spec.resample
        )

    def __call__(self, frame: np.ndarray, out: np.ndarray) -> None:
        """Fit ``frame`` and write it, quantized, into ``out`` (shape (H, W, 3) or (1, H, W, 3))."""
        if out.shape[-3:] != self.shape or out.dtype != self.dtype:
            raise InferenceError(
                f"input buffer is {out.dtype} {out.shape}, expected {self.dtype} "
                f"{self.shape}: the buffer does not belong to this model"
            )
        if out.ndim == 4:
            out = out[0]
        check_frame(frame)
        if self._fitter is not None and frame.shape != self.shape:
            if self.mode == "copy":  # resized straight into the input tensor
                self._fitter(frame, out)
                return
            pixels = self._fitter(frame, self._fitted)
        elif frame.shape == self.shape:
            pixels = frame  # already the model's size: no resize at all
        else:
            pixels = self.fit(frame)
        if self.mode == "copy":
            np.copyto(out, pixels)
        elif self.mode == "xor":
            np.bitwise_xor(pixels, np.uint8(0x80), out=out.view(np.uint8))
        else:
            np.copyto(self._index, pixels)
            np.take(self.table, self._index, out=out, mode="clip")
