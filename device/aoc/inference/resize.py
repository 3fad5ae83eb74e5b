"""Pure resizing: fit an RGB uint8 frame to the model size by a resize policy.

Frames of another size are fitted with the filter named by :data:`DEVICE_RESAMPLE`,
``"area_linear"`` (:func:`area_linear_resize`): an exact area reduction by powers of two
(every output pixel the mean of a ``kx`` x ``ky`` block; each ``k`` the largest power of
two dividing the source that keeps it at least the model size) followed by one bilinear
step (no antialiasing) for the remaining factor, which is below 2. With OpenCV these
are ``cv2.resize`` calls (exact halving steps, :func:`area_steps`, then
``INTER_LINEAR``) written into preallocated buffers; without it the same filter runs in
Pillow (``Image.reduce`` and an affine ``transform`` with ``BILINEAR``), within two grey
levels of OpenCV's (rounding after each 2x2 step). The Pillow filters (``lanczos``,
``bilinear``, ...) stay available by name.

Quantizing the fitted frame into the model's input buffer is
:mod:`aoc.inference.preprocess`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from aoc.errors import InferenceError
from aoc.inference.bundle_spec import RESIZE_POLICIES
from aoc.opencv import optional_cv2

RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
AREA_LINEAR = "area_linear"
DEVICE_RESAMPLE = AREA_LINEAR
"""The filter the device fits frames with (see the module docstring); training computes its
inputs through :class:`~aoc.inference.preprocess.Preprocessor` / :func:`resize_frame` with
this name so both match."""
RESAMPLE_NAMES = (AREA_LINEAR, *RESAMPLING)


def area_factors(src_size: tuple[int, int], dst_size: tuple[int, int]) -> tuple[int, int]:
    """The area-reduction factors ``(kx, ky)`` of :func:`area_linear_resize`.

    Each is the largest power of two ``k`` that divides the source with ``source // k``
    still at least the model size: every block is whole, and what is left for the
    bilinear step is a factor below 2.
    """
    factors = []
    for src, dst in zip(src_size, dst_size, strict=True):
        k = 1
        while src % (2 * k) == 0 and src // (2 * k) >= max(1, dst):
            k *= 2
        factors.append(k)
    return factors[0], factors[1]


def area_steps(kx: int, ky: int) -> list[tuple[int, int]]:
    """The exact halving steps for power-of-two factors ``(kx, ky)``: ``(2, 2)`` while
    both directions need it (``INTER_AREA``'s fast path), then ``(2, 1)`` or ``(1, 2)``
    (``INTER_LINEAR`` at exactly 2x, which samples half-way between two pixels: their
    mean, rounded like ``INTER_AREA``)."""
    steps = []
    while kx > 1 or ky > 1:
        fx, fy = (2 if kx > 1 else 1), (2 if ky > 1 else 1)
        steps.append((fx, fy))
        kx, ky = kx // fx, ky // fy
    return steps


def _step_shapes(src_size: tuple[int, int], steps: Sequence[tuple[int, int]]
                 ) -> list[tuple[int, int, int]]:
    w, h = src_size
    shapes = []
    for fx, fy in steps:
        w, h = w // fx, h // fy
        shapes.append((h, w, 3))
    return shapes


def _cv2_resize(cv2: Any, src: np.ndarray, size: tuple[int, int], method: int,
                dst: np.ndarray | None) -> np.ndarray:
    """``cv2.resize`` into ``dst`` when there is one (no allocation), else a new array."""
    if dst is None:
        return cv2.resize(src, size, interpolation=method)
    return cv2.resize(src, size, dst=dst, interpolation=method)


def area_linear_resize(
    frame: np.ndarray,
    size: tuple[int, int],
    *,
    out: np.ndarray | None = None,
    scratch: Sequence[np.ndarray] | None = None,
    cv2: Any = None,
    use_cv2: bool = True,
) -> np.ndarray:
    """Resize an RGB uint8 frame (any strides) to ``size`` = (width, height) by ``area_linear``.

    ``out`` (``(height, width, 3)`` uint8, C-contiguous) receives the result when given;
    ``scratch`` holds one buffer per OpenCV area step (:func:`area_steps`), allocated
    here when missing. ``cv2`` is the module to use (found when None); ``use_cv2=False``
    forces the Pillow path.
    """
    width, height = size
    sh, sw = frame.shape[:2]
    target = out
    if out is None:
        out = np.empty((height, width, 3), np.uint8)
    if (sw, sh) == (width, height):
        np.copyto(out, frame)
        return out
    kx, ky = area_factors((sw, sh), (width, height))
    rw, rh = sw // kx, sh // ky
    if use_cv2 and (cv2 := cv2 or optional_cv2()) is not None:
        steps = area_steps(kx, ky)
        shapes = _step_shapes((sw, sh), steps)
        buffers: Sequence[np.ndarray | None] = (
            scratch if scratch is not None and [b.shape for b in scratch] == shapes
            else [None] * len(steps))
        small = frame
        for (fx, fy), shape, buffer in zip(steps, shapes, buffers, strict=True):
            method = cv2.INTER_AREA if fx == fy else cv2.INTER_LINEAR
            small = _cv2_resize(cv2, small, (shape[1], shape[0]), method, buffer)
        if (rw, rh) == (width, height):
            np.copyto(out, small)
        else:
            result = _cv2_resize(cv2, small, (width, height), cv2.INTER_LINEAR, target)
            if target is None:
                return np.ascontiguousarray(result)
            if result is not target:  # OpenCV reallocated
                np.copyto(target, result)
        return out
    image = Image.fromarray(np.ascontiguousarray(frame))
    if kx > 1 or ky > 1:
        image = image.reduce((kx, ky))
    if (rw, rh) != (width, height):
        # Affine BILINEAR samples at pixel centres like cv2.INTER_LINEAR (no antialiasing).
        image = image.transform(
            (width, height), Image.Transform.AFFINE, (rw / width, 0, 0, 0, rh / height, 0),
            resample=Image.Resampling.BILINEAR,
        )
    np.copyto(out, np.asarray(image))
    return out


def check_policy(policy: str) -> None:
    """Raise InferenceError unless ``policy`` is one of :data:`RESIZE_POLICIES`."""
    if policy not in RESIZE_POLICIES:
        raise InferenceError(
            f"unknown resize policy {policy!r}: use one of {', '.join(RESIZE_POLICIES)}"
        )


def crop_box(src_size: tuple[int, int], dst_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Centered (left, top, right, bottom) box of ``src_size`` with ``dst_size``'s aspect."""
    sw, sh = src_size
    dw, dh = dst_size
    if sw * dh > sh * dw:  # source wider than the model: trim the sides
        cw, ch = max(1, round(sh * dw / dh)), sh
    else:  # source taller: trim top and bottom
        cw, ch = sw, max(1, round(sw * dh / dw))
    left, top = (sw - cw) // 2, (sh - ch) // 2
    return left, top, left + cw, top + ch


def check_resample(resample: str) -> None:
    """Raise InferenceError unless ``resample`` is one of :data:`RESAMPLE_NAMES`."""
    if resample not in RESAMPLE_NAMES:
        raise InferenceError(
            f"unknown resampling {resample!r}: use one of {', '.join(RESAMPLE_NAMES)}"
        )


def resize_frame(
    frame: np.ndarray,
    size: tuple[int, int],
    policy: str = "stretch",
    *,
    resample: str = "lanczos",
    fill: int = 0,
) -> np.ndarray:
    """Fit an RGB uint8 frame to ``size`` = (width, height) by ``policy``.

    ``stretch`` resizes the whole frame (aspect ratio not kept), ``center_crop`` cuts the
    largest centred region with the model's aspect ratio, ``letterbox`` fits the whole frame
    and pads with ``fill``. A frame already of that size is returned as is. ``resample`` is
    one of :data:`RESAMPLE_NAMES`; the device uses :data:`DEVICE_RESAMPLE`.
    """
    check_policy(policy)
    check_resample(resample)
    width, height = size
    if frame.shape[0] == height and frame.shape[1] == width:
        return frame
    if resample == AREA_LINEAR:
        out = np.full((height, width, 3), fill, dtype=np.uint8)
        FrameFitter((width, height), policy, fill=fill)(frame, out)
        return out
    method = RESAMPLING[resample]
    image = Image.fromarray(frame)
    if policy == "stretch":
        return np.asarray(image.resize((width, height), method))
    if policy == "center_crop":
        box = crop_box(image.size, (width, height))
        return np.asarray(image.resize((width, height), method, box=box))
    # letterbox
    sw, sh = image.size
    factor = min(width / sw, height / sh)
    fw, fh = max(1, round(sw * factor)), max(1, round(sh * factor))
    canvas = np.full((height, width, 3), fill, dtype=np.uint8)
    left, top = (width - fw) // 2, (height - fh) // 2
    canvas[top : top + fh, left : left + fw] = np.asarray(image.resize((fw, fh), method))
    return canvas


class FrameFitter:
    """Fits frames to the model by ``policy`` with ``area_linear``, into a caller's buffer.

    Scratch buffers are kept per source shape, so a camera's frames cost no allocation
    after the first. ``use_cv2=False`` forces the Pillow path (devices without OpenCV).
    """

    def __init__(
        self, size: tuple[int, int], policy: str = "stretch", *, fill: int = 0,
        use_cv2: bool = True,
    ) -> None:
        check_policy(policy)
        self.size = size
        self.policy = policy
        self.fill = fill
        self._cv2 = optional_cv2() if use_cv2 else None
        self._use_cv2 = self._cv2 is not None
        self._shape: tuple[int, ...] | None = None
        self._plan: tuple[Any, ...] = ()

    @property
    def backend(self) -> str:
        """``"opencv"`` or ``"pillow"``: which library runs the filter."""
        return "opencv" if self._use_cv2 else "pillow"

    def _prepare(self, shape: tuple[int, ...]) -> tuple[Any, ...]:
        sh, sw = shape[:2]
        width, height = self.size
        if self.policy == "center_crop":
            left, top, right, bottom = crop_box((sw, sh), self.size)
            window = (slice(top, bottom), slice(left, right))
            target, place = (width, height), None
        elif self.policy == "letterbox":
            factor = min(width / sw, height / sh)
            fw, fh = max(1, round(sw * factor)), max(1, round(sh * factor))
            left, top = (width - fw) // 2, (height - fh) // 2
            window, target = (slice(0, sh), slice(0, sw)), (fw, fh)
            place = (slice(top, top + fh), slice(left, left + fw))
        else:
            window, target, place = (slice(0, sh), slice(0, sw)), (width, height), None
        cw, ch = window[1].stop - window[1].start, window[0].stop - window[0].start
        scratch = [np.empty(shape, np.uint8) for shape in
                   _step_shapes((cw, ch), area_steps(*area_factors((cw, ch), target)))]
        fitted = np.empty((target[1], target[0], 3), np.uint8) if place is not None else None
        return window, target, place, scratch, fitted

    def __call__(self, frame: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write ``frame`` fitted to the model size into ``out`` (``(H, W, 3)`` uint8)."""
        if frame.shape != self._shape:
            self._plan = self._prepare(frame.shape)
            self._shape = frame.shape
        window, target, place, scratch, fitted = self._plan
        src = frame[window]
        if place is None:
            return area_linear_resize(src, target, out=out, scratch=scratch, cv2=self._cv2,
                                      use_cv2=self._use_cv2)
        area_linear_resize(src, target, out=fitted, scratch=scratch, cv2=self._cv2,
                           use_cv2=self._use_cv2)
        out.fill(self.fill)
        out[place] = fitted
        return out
