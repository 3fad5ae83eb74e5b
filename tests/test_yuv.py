"""aoc.sources.yuv: YUV420 to RGB at full and half size, OpenCV and numpy, against picamera2's."""

from __future__ import annotations

import numpy as np
import pytest
from fakes.picamera2_fake import QUADRANTS, assert_close, quadrant_colours, rgb_to_i420, scene_rgb

from aoc.errors import CameraError
from aoc.sources.yuv import (
    bgr_to_rgb,
    yuv420_planes,
    yuv420_to_rgb,
    yuv420_to_rgb_full,
    yuv420_to_rgb_half,
)


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


def test_yuv420_full_range_known_colours_hand_computed():
    # JFIF (full-range BT.601) textbook values: red Y=76 U=85 V=255, green 150/44/21,
    # blue 29/255/107, white 255/128/128, black 0/128/128.
    colours = {(255, 0, 0): (76, 85, 255), (0, 255, 0): (150, 44, 21),
               (0, 0, 255): (29, 255, 107), (255, 255, 255): (255, 128, 128),
               (0, 0, 0): (0, 128, 128)}
    for rgb, (y, u, v) in colours.items():
        width, height, stride = 4, 2, 64
        array = np.zeros((3, stride), np.uint8)  # (h * 3 / 2, stride)
        flat = array.reshape(-1)
        array[:2, :width] = y
        flat[2 * stride : 2 * stride + 2] = u  # U plane: 1 row of stride/2, 2 used
        flat[2 * stride + 32 : 2 * stride + 34] = v
        out = yuv420_to_rgb(array, width, height)
        assert out.shape == (2, 4, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
        assert np.abs(out.astype(int) - rgb).max() <= 3, (rgb, out[0, 0])


def test_yuv420_limited_range_matches_opencv_i420():
    cv2 = pytest.importorskip("cv2")
    rgb = scene_rgb(64, 48)
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # (72, 64), stride == width
    ours = yuv420_to_rgb(i420, 64, 48, full_range=False)
    theirs = cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 3


def test_yuv420_handles_stride_padding_and_roundtrips_fake_scene():
    rgb = scene_rgb(224, 224)
    i420 = rgb_to_i420(rgb)  # stride padded to 256, junk in the padding
    assert i420.shape == (336, 256)
    out = yuv420_to_rgb(i420, 224, 224)
    assert_close(quadrant_colours(out), QUADRANTS)


def test_yuv420_rejects_mismatched_shape():
    with pytest.raises(CameraError, match="does not match"):
        yuv420_to_rgb(np.zeros((10, 64), np.uint8), 64, 48)


def test_bgr_to_rgb_swaps_channels():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue first in memory
    out = bgr_to_rgb(bgr)
    assert out.flags.c_contiguous and tuple(out[0, 0]) == (0, 0, 255)
