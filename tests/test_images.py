"""Tests for aoc.images: the safe decoder of classify and the folder source."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from fakes.hostile_images import png_header_only, rotated_jpeg
from PIL import Image

from aoc.errors import AocError, ImageReadError
from aoc.images import MAX_IMAGE_PIXELS, load_frame, load_image, probe_image, to_rgb


def test_pixel_limit_refuses_from_the_header(tmp_path):
    bomb = png_header_only(tmp_path / "bomb.png", 20000, 20000)  # Pillow's own bomb error
    with pytest.raises(ImageReadError, match="bomb.png.*too large"):
        load_image(bomb)
    big = png_header_only(tmp_path / "big.png", 12000, 12000)  # Pillow only warns
    with pytest.raises(ImageReadError, match=r"big.png is 12000x12000.*limit of 24,000,000"):
        load_image(big)
    with pytest.raises(ImageReadError, match="limit"):
        probe_image(big)
    assert 12000 * 12000 > MAX_IMAGE_PIXELS > 6000 * 4000 - 1


def test_large_jpeg_is_decoded_near_the_model_size(tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (4000, 3000), (200, 30, 30)).save(photo, quality=80)
    image = load_image(photo, size=(224, 224))
    assert image.mode == "RGB" and image.size == (500, 375)  # 1/8 DCT scale, >= 224
    assert load_image(photo).size == (4000, 3000)  # no size: full decode
    # a JPEG over the limit at full size is fine when draft brings it under
    assert load_image(photo, size=(224, 224), max_pixels=1_000_000).size == (500, 375)
    with pytest.raises(ImageReadError, match="limit"):
        load_image(photo, max_pixels=1_000_000)


def test_sixteen_bit_grey_png_is_scaled_not_white(tmp_path):
    path = tmp_path / "deep.png"
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(path)
    with Image.open(path) as opened:
        assert opened.mode in ("I;16", "I")
    frame = load_frame(path)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert frame[0, 0, 0] == 0 and frame[-1, -1, 0] == 255
    assert 120 <= frame[32, 0, 0] <= 135  # mid-grey, where a clip would give 255


def test_a_photo_with_an_exif_orientation_is_read_upright(tmp_path):
    """Phone photos came out on their side, for the device and for training alike."""
    path = rotated_jpeg(tmp_path / "phone.jpg")
    frame = load_frame(path)
    assert frame.shape == (20, 60, 3)
    assert frame[10, 5, 0] > 180 and frame[10, 55, 0] < 60  # red on the left, as taken
    assert probe_image(path) == (60, 20)


def test_a_header_check_of_a_png_does_not_decode_it(tmp_path, monkeypatch):
    """Pillow reads a PNG's EXIF orientation by decoding the whole picture: the folder
    source's header checks at open took 0.2 s per 12 MP PNG (76 s for 450 of them)."""
    from PIL import PngImagePlugin

    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200), (10, 20, 30)).save(path)

    def no_decode(self):
        raise AssertionError("the header check decoded the picture")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decode)
    assert probe_image(path) == (300, 200)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV",
                                  "I", "F", "LA", "PA", "RGBX", "RGBa", "La", "I;16",
                                  "I;16B", "I;16L"])
def test_every_mode_becomes_rgb_uint8(mode):
    image = Image.new(mode, (5, 4))
    rgb = to_rgb(image)
    assert rgb.mode == "RGB" and rgb.size == (5, 4)


@pytest.mark.parametrize("mode,values,expected", [
    ("I;16", [0, 257, 65535], [0, 1, 255]),
    ("I", [0, 128, 255], [0, 128, 255]),  # already 8-bit range: kept
    ("I", [0, 32896, 65535], [0, 128, 255]),  # 16-bit range: / 257
    ("I", [-100, 0, 155], [0, 100, 255]),  # anything else: stretched
    ("F", [0.0, 0.5, 1.0], [0, 128, 255]),  # 0..1 floats
    ("F", [0.0, 128.0, 255.0], [0, 128, 255]),
])
def test_wide_modes_are_scaled(mode, values, expected):
    dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
    image = Image.fromarray(np.array([values], dtype=dtype), mode if mode != "I;16" else None)
    assert image.mode == mode
    assert list(np.asarray(to_rgb(image))[0, :, 0]) == expected


def test_not_a_regular_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageReadError, match="FIFO"):
        load_image(fifo)
    with pytest.raises(ImageReadError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(ImageReadError, match="character device"):
        load_image("/dev/zero")
    with pytest.raises(ImageReadError, match="does not exist"):
        load_image(tmp_path / "gone.png")


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
                                  b"\xff\xd8\xff\xe0" + b"\x00" * 20])
def test_corrupt_files_are_image_read_errors(tmp_path, data):
    path = tmp_path / "bad.png"
    path.write_bytes(data)
    with pytest.raises(ImageReadError, match="bad.png") as info:
        load_image(path)
    assert isinstance(info.value, AocError) and isinstance(info.value, OSError)


def test_truncated_png_is_refused(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[:-30])
    with pytest.raises(ImageReadError, match="cut.png"):
        load_image(path)


def test_first_frame_of_an_animation(tmp_path: Path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert load_frame(path).shape == (8, 8, 3)
