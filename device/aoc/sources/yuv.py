"""Fast YUV420 (I420) to RGB for a Pi 4's lores stream, with OpenCV or numpy.

picamera2 hands a ``YUV420`` capture over as a ``(height * 3 // 2, stride)`` array:
``height`` rows of Y, then the U and V planes, ``height / 2`` rows of ``stride / 2``
bytes each, packed two rows per array row (:func:`yuv420_planes`). The colour matrix is
full-range BT.601 (libcamera's sYCC, picamera2's default), the one
:func:`yuv420_to_rgb` applies; OpenCV's ``YCrCb2RGB`` is that
matrix (coefficients equal to 3 decimals, results within one grey level).

* :func:`yuv420_to_rgb_full` converts at full size: chroma repeated 2x2, one
  ``cv2.merge`` and one ``cv2.cvtColor``.
* :func:`yuv420_to_rgb_half` converts at the chroma's resolution, half the size each
  way: each output pixel is the mean of a 2x2 luma block with that block's chroma sample.
  That is exactly the first 2x area step of :func:`aoc.inference.resize.area_linear_resize`
  done before the colour conversion (linear, so the order only changes rounding), and
  it converts a quarter of the pixels. Use it whenever the model is at most half the
  capture size each way.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from aoc.errors import CameraError
from aoc.opencv import optional_cv2

log = logging.getLogger(__name__)

# Full-range BT.601 (JPEG / sYCC), the matrix picamera2's YUV420 uses by default.
KR, KGU, KGV, KB = 1.402, 0.344136, 0.714136, 1.772


def yuv420_planes(array: np.ndarray, width: int, height: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y ``(height, width)``, U and V ``(height/2, width/2)`` planes."""
    if array.ndim != 2 or array.shape[0] * 2 != height * 3 or width % 2 or height % 2:
        raise CameraError(
            f"YUV420 capture of shape {array.shape} does not match {width}x{height}: "
            "lores sizes must be even; check the camera configuration"
        )
    stride = array.shape[1]
    flat = array.reshape(-1)
    c_rows, c_stride = height // 2, stride // 2
    y_size, c_size = height * stride, c_rows * c_stride
    y = array[:height, :width]
    u = flat[y_size:y_size + c_size].reshape(c_rows, c_stride)[:, :width // 2]
    v = flat[y_size + c_size:y_size + 2 * c_size].reshape(c_rows, c_stride)[:, :width // 2]
    return y, u, v


def _numpy_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, out: np.ndarray) -> np.ndarray:
    yf = y.astype(np.float32)
    uf = u.astype(np.float32) - 128.0
    vf = v.astype(np.float32) - 128.0
    for channel, plane in enumerate((yf + KR * vf, yf - KGU * uf - KGV * vf, yf + KB * uf)):
        np.clip(np.rint(plane), 0, 255, out=plane)
        out[..., channel] = plane
    return out


def yuv420_to_rgb_full(
    array: np.ndarray, width: int, height: int, *, out: np.ndarray | None = None,
    cv2: Any = None, use_cv2: bool = True,
) -> np.ndarray:
    """RGB ``(height, width, 3)`` of a YUV420 capture (chroma repeated 2x2)."""
    y, u, v = yuv420_planes(array, width, height)
    if out is None:
        out = np.empty((height, width, 3), np.uint8)
    if use_cv2 and (cv2 := cv2 or optional_cv2()) is not None:
        up = (width, height)
        ycrcb = cv2.merge((y, cv2.resize(v, up, interpolation=cv2.INTER_NEAREST),
                           cv2.resize(u, up, interpolation=cv2.INTER_NEAREST)))
        return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB, dst=out)
    u2 = u.repeat(2, axis=0).repeat(2, axis=1)
    v2 = v.repeat(2, axis=0).repeat(2, axis=1)
    return _numpy_rgb(y, u2, v2, out)


def yuv420_to_rgb_half(
    array: np.ndarray, width: int, height: int, *, out: np.ndarray | None = None,
    cv2: Any = None, use_cv2: bool = True,
) -> np.ndarray:
    """RGB ``(height/2, width/2, 3)``: 2x2 luma means with their chroma sample."""
    y, u, v = yuv420_planes(array, width, height)
    hw, hh = width // 2, height // 2
    if out is None:
        out = np.empty((hh, hw, 3), np.uint8)
    if use_cv2 and (cv2 := cv2 or optional_cv2()) is not None:
        y2 = cv2.resize(y, (hw, hh), interpolation=cv2.INTER_AREA)  # exact 2x: block means
        return cv2.cvtColor(cv2.merge((y2, v, u)), cv2.COLOR_YCrCb2RGB, dst=out)
    blocks = (y[0::2, 0::2].astype(np.uint16) + y[1::2, 0::2] + y[0::2, 1::2] + y[1::2, 1::2]
              + 2) >> 2
    return _numpy_rgb(blocks, u, v, out)


def bgr_to_rgb(array: np.ndarray) -> np.ndarray:
    """Swap a (H, W, 3) BGR array (picamera2 ``RGB888``) to a C-contiguous RGB frame."""
    # Three plane copies run ~4x faster than ascontiguousarray(array[..., ::-1]).
    rgb = np.empty(array.shape, dtype=np.uint8)
    rgb[..., 0] = array[..., 2]
    rgb[..., 1] = array[..., 1]
    rgb[..., 2] = array[..., 0]
    return rgb


def yuv420_to_rgb(
    array: np.ndarray, width: int, height: int, *, full_range: bool = True
) -> np.ndarray:
    """Convert a picamera2 ``YUV420`` (I420) capture to an RGB frame of ``(height, width)``.

    picamera2 returns YUV420 as a ``(height * 3 // 2, stride)`` array: ``height`` rows of Y,
    then the U plane and the V plane, each ``height/2`` rows of ``stride/2`` bytes packed two
    rows per array row; ``stride >= width`` may carry padding. Chroma is upsampled by
    repetition. ``full_range`` selects JPEG-style BT.601 (libcamera's sYCC, picamera2's
    default for preview configurations); ``False`` selects limited-range BT.601 (16-235).
    """
    y8, u, v = yuv420_planes(array, width, height)
    y = y8.astype(np.float32)
    u = u.astype(np.float32).repeat(2, axis=0).repeat(2, axis=1) - 128.0
    v = v.astype(np.float32).repeat(2, axis=0).repeat(2, axis=1) - 128.0
    if full_range:
        r = y + 1.402 * v
        g = y - 0.344136 * u - 0.714136 * v
        b = y + 1.772 * u
    else:
        y = (y - 16.0) * (255.0 / 219.0)
        r = y + 1.596027 * v
        g = y - 0.391762 * u - 0.812968 * v
        b = y + 2.017232 * u
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    for channel, plane in enumerate((r, g, b)):
        np.clip(np.rint(plane), 0, 255, out=plane)
        rgb[..., channel] = plane
    return rgb
