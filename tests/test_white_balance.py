"""aoc.inference.white_balance: gray-world tables, OpenCV and numpy alike, in place."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from aoc.errors import InferenceError
from aoc.inference.resize import opencv
from aoc.inference.white_balance import (
    GAIN_RANGE,
    GrayWorld,
    check_white_balance,
    grayworld_gains,
    grayworld_table,
)
from aoc.sources import list_images
from aoc.sources.demo_source import DEMO_DIR

CV2 = opencv()
PATHS = [pytest.param(None, id="numpy"),
         pytest.param(CV2, id="opencv", marks=pytest.mark.skipif(CV2 is None,
                                                                reason="no OpenCV"))]


def demo_pictures() -> list[np.ndarray]:
    out = []
    for path in list_images(DEMO_DIR)[:4]:
        with Image.open(path) as image:
            out.append(np.asarray(image.convert("RGB").resize((224, 224))))
    return out


def tinted(picture: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    return np.clip(picture * np.array(gains), 0, 255).astype(np.uint8)


def test_a_grey_picture_is_left_as_it_is() -> None:
    grey = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (8, 1, 3))
    np.testing.assert_array_equal(GrayWorld()(grey, np.empty_like(grey)), grey)


@pytest.mark.parametrize("cv2", PATHS)
def test_a_colour_cast_is_taken_out(cv2) -> None:
    balance = GrayWorld(cv2=cv2)
    for picture in demo_pictures():
        means = picture.reshape(-1, 3).mean(0)
        cast = tinted(picture, (1.25, 1.0, 0.8))
        out = balance(cast, np.empty_like(cast))
        # the channel means end up as balanced as the picture's own, whatever the cast
        spread = np.ptp(out.reshape(-1, 3).mean(0))
        assert spread <= max(3.0, 0.2 * np.ptp(cast.reshape(-1, 3).mean(0)))
        assert abs(out.mean() - cast.mean()) < 0.1 * means.mean() + 3


def test_gains_are_limited() -> None:
    gains = grayworld_gains([200 * 100, 0, 0], 100)  # all red: no green or blue to lift
    assert gains == (GAIN_RANGE[0], GAIN_RANGE[1], GAIN_RANGE[1])
    table = grayworld_table(gains)
    assert table[255, 0] == round(255 * GAIN_RANGE[0]) and table[255, 1] == 255
    assert grayworld_gains([0, 0, 0], 100) == (1.0, 1.0, 1.0)  # black: unchanged


@pytest.mark.skipif(CV2 is None, reason="no OpenCV")
def test_opencv_transform_is_the_table_for_every_value() -> None:
    every = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    for gains in np.random.default_rng(4).uniform(*GAIN_RANGE, (200, 3)):
        matrix = np.diag(gains).astype(np.float32)
        np.testing.assert_array_equal(CV2.transform(every, matrix)[0],
                                      grayworld_table(gains.astype(np.float32)))


@pytest.mark.skipif(CV2 is None, reason="no OpenCV")
def test_opencv_and_numpy_give_the_same_bytes_in_place_and_into_views() -> None:
    for picture in demo_pictures():
        cast = tinted(picture, (0.9, 1.1, 1.3))
        expected = GrayWorld()(cast, np.empty_like(cast))
        np.testing.assert_array_equal(GrayWorld(cv2=CV2)(cast, np.empty_like(cast)), expected)
        in_place = cast.copy()
        GrayWorld(cv2=CV2)(in_place, in_place)
        np.testing.assert_array_equal(in_place, expected)
        tensor = np.zeros((1, 224, 230, 3), np.uint8)  # a strided destination
        GrayWorld(cv2=CV2)(cast, tensor[0, :, 3:227])
        np.testing.assert_array_equal(tensor[0, :, 3:227], expected)


def test_unknown_white_balance_names_the_choices() -> None:
    check_white_balance("grayworld")
    with pytest.raises(InferenceError, match="unknown white balance 'auto'.*none, grayworld"):
        check_white_balance("auto")
