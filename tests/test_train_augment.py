"""aoc_train.augment: every effect is pure, deterministic per seed and does what it says."""

from __future__ import annotations

import numpy as np
import pytest

from aoc_train import augment


def _image(h: int = 64, w: int = 80) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(40, 216, size=(8, 10, 3), dtype=np.uint8)
    return augment.resize(base, (w, h))


def _detail(img: np.ndarray) -> float:
    """Mean absolute horizontal gradient: high-frequency energy."""
    g = img.astype(np.float32).mean(axis=2)
    return float(np.abs(np.diff(g, axis=1)).mean())


def _checker(n: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n]
    c = (((yy // 2) + (xx // 2)) % 2 * 255).astype(np.uint8)
    return np.repeat(c[..., None], 3, axis=2)


RNG_FUNCS = [
    lambda im, r: augment.perspective(im, r),
    lambda im, r: augment.moire(im, r),
    lambda im, r: augment.scanlines(im, r),
    lambda im, r: augment.glare(im, r),
    lambda im, r: augment.sensor_noise(im, r),
    lambda im, r: augment.random_downscale(im, r, min_side=8, max_side=30),
    lambda im, r: augment.screen_capture(im, r),
    lambda im, r: augment.training_view(im, r, 48),
    lambda im, r: augment.random_resized_crop(im, r, 40),
]


@pytest.mark.parametrize("func", RNG_FUNCS)
def test_random_effects_are_deterministic_and_keep_dtype(func) -> None:
    img = _image()
    before = img.copy()
    a = func(img, np.random.default_rng(5))
    b = func(img, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(img, before)  # input untouched
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3


def test_output_sizes() -> None:
    img = _image()
    assert augment.training_view(img, np.random.default_rng(1), 48).shape == (48, 48, 3)
    assert augment.random_resized_crop(img, np.random.default_rng(1), 32).shape == (32, 32, 3)
    assert augment.center_crop_resize(img, 20).shape == (20, 20, 3)
    for f in RNG_FUNCS[:6]:
        assert f(img, np.random.default_rng(2)).shape == img.shape


def test_identities() -> None:
    img = _image()
    np.testing.assert_array_equal(augment.defocus_blur(img, 0), img)
    np.testing.assert_array_equal(augment.motion_blur(img, 1, 0.3), img)
    np.testing.assert_array_equal(augment.white_balance(img, (1.0, 1.0, 1.0)), img)
    np.testing.assert_array_equal(augment.exposure(img, 1.0, 1.0), img)
    np.testing.assert_array_equal(
        augment.screen_capture(img, np.random.default_rng(0), strength=0), img)


def test_white_balance_and_exposure_move_the_right_way() -> None:
    img = np.full((8, 8, 3), 100, np.uint8)
    out = augment.white_balance(img, (1.2, 1.0, 0.8))
    assert tuple(out[0, 0]) == (120, 100, 80)
    assert augment.exposure(img, 1.5, 1.0).mean() > img.mean()
    assert augment.exposure(img, 1.0, 2.0).mean() < img.mean()  # gamma > 1 darkens mid-tones


def test_blurs_remove_detail_and_downscale_softens() -> None:
    img = _checker()
    base = _detail(img)
    assert _detail(augment.defocus_blur(img, 1.5)) < 0.5 * base
    assert _detail(augment.motion_blur(img, 5, 0.0)) < 0.5 * base
    soft = augment.random_downscale(img, np.random.default_rng(0), min_side=12, max_side=12)
    assert _detail(soft) < 0.5 * base
    # small images are left alone when the target is not smaller
    np.testing.assert_array_equal(
        augment.random_downscale(img, np.random.default_rng(0), min_side=200, max_side=300), img)


def test_moire_and_scanlines_add_periodic_structure() -> None:
    flat = np.full((64, 64, 3), 128, np.uint8)
    m = augment.moire(flat, np.random.default_rng(3), amplitude=0.1)
    assert m.std() > 3 and abs(m.mean() - 128) < 3
    s = augment.scanlines(flat, np.random.default_rng(3), depth=0.25)
    rows = s[:, 0, 0]
    assert set(np.unique(rows)) == {96, 128}


def test_glare_only_brightens_and_noise_is_zero_mean() -> None:
    img = np.full((64, 64, 3), 80, np.uint8)
    g = augment.glare(img, np.random.default_rng(1), strength=0.5)
    assert (g >= img).all() and g.max() > 120
    n = augment.sensor_noise(img, np.random.default_rng(1), sigma=5)
    assert 2 < n.astype(np.float32).std() and abs(n.mean() - 80) < 1.5


def test_perspective_shows_bezel_and_jpeg_roundtrips() -> None:
    img = np.full((50, 50, 3), 200, np.uint8)
    p = augment.perspective(img, np.random.default_rng(4), strength=0.2, fill=(0, 0, 0))
    assert (p.sum(axis=2) == 0).any()  # uncovered corner filled with the bezel colour
    j = augment.jpeg(_image(), 30)
    assert j.shape == (64, 80, 3) and np.abs(j.astype(int) - _image().astype(int)).mean() < 12


def test_training_views_differ_between_draws() -> None:
    img = _image()
    rng = np.random.default_rng(0)
    a, b = augment.training_view(img, rng, 32), augment.training_view(img, rng, 32)
    assert not np.array_equal(a, b)


def test_palette_changes_keep_lightness_structure() -> None:
    img = _image()
    np.testing.assert_array_equal(augment.saturation(img, 1.0), img)
    grey = augment.saturation(img, 0.0)
    assert np.abs(grey[..., 0].astype(int) - grey[..., 2].astype(int)).max() <= 1
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200
    turned = augment.hue_rotate(red, 1 / 3)  # red -> green
    assert turned[0, 0, 1] > 150 and turned[0, 0, 0] < 50
    np.testing.assert_allclose(augment.hue_rotate(red, 1.0), red, atol=2)
    a = augment.colour_shift(img, np.random.default_rng(9))
    b = augment.colour_shift(img, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    assert a.shape == img.shape and a.dtype == np.uint8


def test_random_tile_has_the_size_asked_for_and_is_deterministic() -> None:
    image = np.random.default_rng(0).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    for size in [(32, 32), (64, 32), (16, 48)]:
        a = augment.random_tile(image, np.random.default_rng(1), size)
        b = augment.random_tile(image, np.random.default_rng(1), size)
        assert a.shape == (size[1], size[0], 3) and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
    # the square case is random_resized_crop, draw for draw
    np.testing.assert_array_equal(
        augment.random_tile(image, np.random.default_rng(4), (32, 32), ratio=(0.75, 1.333)),
        augment.random_resized_crop(image, np.random.default_rng(4), 32))
    # a picture too thin for the tile's aspect still gives a tile
    thin = augment.random_tile(image[:3], np.random.default_rng(2), (40, 40))
    assert thin.shape == (40, 40, 3)
