"""The frame-source contract helpers in aoc.sources.base."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from aoc.errors import CameraError, ConfigError
from aoc.sources import DemoSource, FrameSource, ImageFolderSource, OpenCVSource, Picamera2Source
from aoc.sources.base import (
    as_frame,
    camera_frame_size,
    check_resize_mode,
    check_size,
    fit_image,
    frozen,
)


def test_sources_satisfy_protocol():
    for source in (DemoSource(), ImageFolderSource("x"), OpenCVSource(0), Picamera2Source()):
        assert isinstance(source, FrameSource)
        assert isinstance(source.name, str) and isinstance(source.is_live, bool)


def test_check_size():
    assert check_size(None) is None
    assert check_size([224, 160]) == (224, 160)
    for bad in ((0, 10), (1.5, 2), (1, 2, 3), "224", (True, 2)):
        with pytest.raises(ConfigError, match="width, height"):
            check_size(bad)


def test_check_resize_mode():
    assert check_resize_mode("center_crop") == "center_crop"
    assert check_resize_mode("letterbox") == "letterbox"
    assert check_resize_mode("crop") == "center_crop"  # old names stay as aliases
    assert check_resize_mode("pad") == "letterbox"
    with pytest.raises(ConfigError, match="stretch"):
        check_resize_mode("zoom")


def _two_tone(width: int, height: int) -> Image.Image:
    a = np.zeros((height, width, 3), np.uint8)
    a[:, : width // 2] = (255, 0, 0)
    a[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(a)


def test_fit_image_stretch_crop_pad():
    image = _two_tone(200, 100)  # 2:1 -> 50x50
    stretch = fit_image(image, (50, 50), "stretch")
    assert stretch.shape == (50, 50, 3) and stretch.dtype == np.uint8
    assert stretch.flags.c_contiguous
    assert tuple(stretch[25, 2]) == (255, 0, 0) and tuple(stretch[25, 47]) == (0, 0, 255)
    crop = fit_image(image, (50, 50), "center_crop")
    assert crop.shape == (50, 50, 3)
    assert tuple(crop[25, 2]) == (255, 0, 0)  # centre crop keeps both halves
    pad = fit_image(image, (50, 50), "letterbox")
    assert tuple(pad[2, 25]) == (0, 0, 0)  # letterbox bars above and below
    assert tuple(pad[25, 2]) == (255, 0, 0)
    assert np.array_equal(fit_image(image, (50, 50), "crop"), crop)  # aliases
    assert np.array_equal(fit_image(image, (50, 50), "pad"), pad)
    with pytest.raises(ConfigError, match="letterbox"):
        fit_image(image, (50, 50), "zoom")


def test_fit_image_without_size_converts_mode():
    gray = Image.new("L", (8, 4), 128)
    out = fit_image(gray, None)
    assert out.shape == (4, 8, 3) and (out == 128).all()


def test_as_frame_and_frozen():
    frame = as_frame(np.zeros((4, 4, 3), np.uint8)[:, ::-1], device="test")
    assert frame.flags.c_contiguous
    with pytest.raises(CameraError, match="test delivered an array of shape"):
        as_frame(np.zeros((4, 4)), device="test")
    cached = frozen(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError):
        cached[0, 0, 0] = 1


@pytest.mark.parametrize(("camera", "model", "mode", "want"), [
    ((640, 480), (224, 224), "stretch", (224, 224)),
    ((640, 480), (224, 224), "center_crop", (299, 224)),
    ((640, 480), (224, 224), "crop", (299, 224)),  # the alias
    ((1280, 720), (224, 224), "letterbox", (399, 224)),
    ((480, 640), (224, 224), "center_crop", (224, 299)),  # a camera turned upright
    ((1280, 720), (1280, 720), "center_crop", (1280, 720)),  # an exact fit stays
    ((640, 480), None, "center_crop", None),
])
def test_camera_frame_size_keeps_the_cameras_aspect_unless_stretching(camera, model, mode,
                                                                      want):
    assert camera_frame_size(camera, model, mode) == want


def test_camera_frame_size_refuses_an_unknown_policy():
    with pytest.raises(ConfigError, match="resize"):
        camera_frame_size((640, 480), (224, 224), "squash")


@pytest.mark.parametrize("mode", ["stretch", "center_crop", "letterbox"])
def test_fit_image_fits_as_the_classifier_and_training_do(mode):
    """A folder's picture reached the model through Pillow's bilinear filter, not the
    device's area_linear one that classify and training use: scores differed."""
    from aoc.inference.resize import DEVICE_RESAMPLE, resize_frame

    rng = np.random.default_rng(3)
    picture = rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)
    want = resize_frame(picture, (64, 48), mode, resample=DEVICE_RESAMPLE)
    got = fit_image(Image.fromarray(picture), (64, 48), mode)
    assert got.shape == (48, 64, 3) and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)


def test_an_rgb_picture_becomes_a_frame_without_a_converted_copy(monkeypatch):
    """convert("RGB") of an RGB picture is a full copy: 72 MB more for a 24 MP PNG, which
    with the other copies took an image folder's run past the unit's memory limit."""
    from PIL import Image

    from aoc.sources.base import fit_frame, fit_image, image_frame

    picture = Image.new("RGB", (40, 30), (200, 100, 50))
    expected = fit_image(picture, (8, 8), "center_crop")

    def no_copy(self, *args, **kwargs):
        raise AssertionError("an RGB picture was converted")

    monkeypatch.setattr(Image.Image, "convert", no_copy)
    frame = image_frame(picture)
    assert frame.shape == (30, 40, 3) and tuple(frame[0, 0]) == (200, 100, 50)
    assert np.array_equal(fit_frame(frame, (8, 8), "center_crop"), expected)
