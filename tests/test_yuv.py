"""aoc.sources.yuv: YUV420 to RGB at full and half size, OpenCV and numpy, against picamera2's."""

from __future__ import annotations

import numpy as np
import pytest

from aoc.errors import CameraError
from aoc.sources.picamera2_source import yuv420_to_rgb
from aoc.sources.yuv import yuv420_planes, yuv420_to_rgb_full, yuv420_to_rgb_half


def capture(width: int = 64, height: int = 48, stride: int | None = None) -> np.ndarray:
    """A random YUV420 capture laid out like picamera2's (stride padding optional)."""
    stride = stride or width
    rng = np.random.default_rng(7)
    array = rng.integers(0, 256, (height * 3 // 2, stride), dtype=np.uint8)
    return array


@pytest.mark.parametrize("stride", [None, 96])
def test_full_matches_picamera2_conversion(stride):
    array = capture(stride=stride)
    ref = yuv420_to_rgb(array, 64, 48).astype(int)
    np.testing.assert_array_equal(yuv420_to_rgb_full(array, 64, 48, use_cv2=False), ref)
    pytest.importorskip("cv2")
    fast = yuv420_to_rgb_full(array, 64, 48)
    assert fast.shape == (48, 64, 3) and np.abs(fast - ref).max() <= 1


@pytest.mark.parametrize("use_cv2", [False, True])
def test_half_is_the_2x_area_step_of_the_full_conversion(use_cv2):
    if use_cv2:
        pytest.importorskip("cv2")
    # Smooth colours (no channel saturates): averaging before or after converting agree.
    y = np.linspace(60, 190, 64 * 48).reshape(48, 64).astype(np.uint8)
    u = np.full((24, 32), 140, np.uint8)
    v = np.full((24, 32), 120, np.uint8)
    array = np.concatenate([y.reshape(48, 64), np.concatenate([u, v]).reshape(24, 64)])
    full = yuv420_to_rgb(array, 64, 48).astype(float)
    expected = full.reshape(24, 2, 32, 2, 3).mean(axis=(1, 3))
    half = yuv420_to_rgb_half(array, 64, 48, use_cv2=use_cv2)
    assert half.shape == (24, 32, 3) and np.abs(half - expected).max() <= 1.5


def test_planes_and_shape_check():
    y, u, v = yuv420_planes(capture(stride=96), 64, 48)
    assert y.shape == (48, 64) and u.shape == v.shape == (24, 32)
    with pytest.raises(CameraError, match="does not match"):
        yuv420_planes(np.zeros((10, 64), np.uint8), 64, 48)
