"""aoc.inference.preprocess: resize policies, quantization formula, fast paths writing in place."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aoc.errors import InferenceError
from aoc.inference.preprocess import (
    DEVICE_RESAMPLE,
    RESAMPLE_NAMES,
    FrameFitter,
    Preprocessor,
    PreprocessSpec,
    area_factors,
    area_linear_resize,
    area_steps,
    check_frame,
    crop_box,
    lookup_table,
    quantize,
    resize_frame,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def striped(width: int, height: int) -> np.ndarray:
    """Left quarter red, middle half green, right quarter blue."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:, : width // 4] = RED
    frame[:, width // 4 : 3 * width // 4] = GREEN
    frame[:, 3 * width // 4 :] = BLUE
    return frame


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4, 3), np.float32),
        np.zeros((4, 4), np.uint8),
        np.zeros((4, 4, 4), np.uint8),
        [[0, 0, 0]],
    ],
)
def test_check_frame_refuses_non_rgb_uint8(bad: object) -> None:
    with pytest.raises(InferenceError, match=r"uint8 \(H, W, 3\) RGB"):
        check_frame(bad)


def test_crop_box_keeps_model_aspect_centred() -> None:
    assert crop_box((640, 480), (224, 224)) == (80, 0, 560, 480)
    assert crop_box((480, 640), (224, 224)) == (0, 80, 480, 560)
    assert crop_box((100, 100), (200, 100)) == (0, 25, 100, 75)


def test_same_size_frame_is_not_copied() -> None:
    frame = striped(32, 32)
    for policy in ("stretch", "center_crop", "letterbox"):
        assert resize_frame(frame, (32, 32), policy) is frame


def test_stretch_keeps_everything() -> None:
    out = resize_frame(striped(64, 32), (16, 16), "stretch", resample="nearest")
    assert out.shape == (16, 16, 3)
    assert (out[:, 0] == RED).all() and (out[:, 8] == GREEN).all() and (out[:, 15] == BLUE).all()


def test_center_crop_cuts_the_sides_of_a_wide_frame() -> None:
    out = resize_frame(striped(64, 32), (16, 16), "center_crop", resample="nearest")
    assert (out == GREEN).all()  # the middle half is exactly the centred square


def test_letterbox_pads_top_and_bottom() -> None:
    out = resize_frame(striped(64, 32), (16, 16), "letterbox", resample="nearest")
    assert (out[:4] == 0).all() and (out[12:] == 0).all()
    assert (out[4:12, 0] == RED).all() and (out[4:12, 15] == BLUE).all()


def test_unknown_policy() -> None:
    with pytest.raises(InferenceError, match="unknown resize policy 'squash'"):
        resize_frame(striped(8, 8), (4, 4), "squash")
    with pytest.raises(InferenceError, match="resampling"):
        Preprocessor(PreprocessSpec(4, 4, resample="magic"))


def test_quantize_formula_uint8_and_int8() -> None:
    pixels = np.array([0, 1, 127, 128, 255], np.uint8)
    # Coral-style input: real [-1, 1), scale 1/128, zero point 128 -> identity on bytes.
    q = quantize(pixels, dtype="uint8", scale=1 / 128, zero_point=128, value_range=(-1, 0.9921875))
    assert q.tolist() == [0, 1, 127, 128, 255] and q.dtype == np.uint8
    # Same range into int8 with zero point 0.
    q8 = quantize(pixels, dtype="int8", scale=1 / 128, zero_point=0, value_range=(-1, 0.9921875))
    assert q8.tolist() == [-128, -127, -1, 0, 127] and q8.dtype == np.int8
    # [0, 1] range, scale 1/255: x / scale = pixel; zero point -128 shifts into int8.
    q8b = quantize(pixels, dtype="int8", scale=1 / 255, zero_point=-128, value_range=(0, 1))
    assert q8b.tolist() == [-128, -127, -1, 0, 127]


def test_quantize_clips_to_dtype() -> None:
    pixels = np.array([0, 255], np.uint8)
    q = quantize(pixels, dtype="uint8", scale=0.5, zero_point=10, value_range=(0, 255))
    assert q.tolist() == [10, 255]  # 255 / 0.5 + 10 = 520 -> clipped
    q8 = quantize(pixels, dtype="int8", scale=0.5, zero_point=0, value_range=(-255, 255))
    assert q8.tolist() == [-128, 127]


def test_quantize_float_normalises_to_value_range() -> None:
    x = quantize(
        np.array([0, 51, 255], np.uint8),
        dtype="float32",
        scale=0.0,
        zero_point=0,
        value_range=(-1, 1),
    )
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, [-1.0, -0.6, 1.0], atol=1e-6)


def test_quantize_refuses_bad_dtype_and_scale() -> None:
    with pytest.raises(InferenceError, match="unsupported model input dtype 'int16'"):
        quantize(np.zeros(1, np.uint8), dtype="int16", scale=1, zero_point=0)
    with pytest.raises(InferenceError, match="quantization scale is 0"):
        quantize(np.zeros(1, np.uint8), dtype="uint8", scale=0, zero_point=0)


@pytest.mark.parametrize(
    ("spec", "mode"),
    [
        (PreprocessSpec(16, 16, "uint8", 1.0, 0, (0, 255)), "copy"),
        (PreprocessSpec(16, 16, "uint8", 1 / 128, 128, (-1, 0.9921875)), "copy"),
        (PreprocessSpec(16, 16, "int8", 1.0, -128, (0, 255)), "xor"),
        (PreprocessSpec(16, 16, "int8", 1 / 255, -128, (0, 1)), "xor"),
        (PreprocessSpec(16, 16, "uint8", 1 / 255, 0, (-1, 1)), "lut"),
        (PreprocessSpec(16, 16, "int8", 0.02, 3, (-1, 1)), "lut"),
        (PreprocessSpec(16, 16, "float32", 0.0, 0, (-1, 1)), "lut"),
    ],
)
def test_preprocessor_matches_quantize_in_every_mode(spec: PreprocessSpec, mode: str) -> None:
    pre = Preprocessor(spec)
    assert pre.mode == mode
    frame = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    out = np.zeros((1, 16, 16, 3), spec.dtype)  # the interpreter's (1, H, W, 3) layout
    pre(frame, out)
    expected = quantize(
        frame,
        dtype=spec.dtype,
        scale=spec.scale,
        zero_point=spec.zero_point,
        value_range=spec.value_range,
    )
    np.testing.assert_array_equal(out[0], expected)


def test_preprocessor_resizes_by_policy() -> None:
    pre = Preprocessor(PreprocessSpec(16, 16, resize="center_crop", resample="nearest"))
    out = np.zeros((16, 16, 3), np.uint8)
    pre(striped(64, 32), out)
    assert (out == GREEN).all()


def test_preprocessor_refuses_a_foreign_buffer() -> None:
    pre = Preprocessor(PreprocessSpec(16, 16))
    with pytest.raises(InferenceError, match="does not belong to this model"):
        pre(striped(16, 16), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InferenceError, match="does not belong to this model"):
        pre(striped(16, 16), np.zeros((16, 16, 3), np.int8))


def test_lookup_table_is_the_quantize_of_every_byte() -> None:
    table = lookup_table(dtype="int8", scale=1.0, zero_point=-128, value_range=(0, 255))
    assert table.tolist() == list(range(-128, 128))


@pytest.mark.parametrize(
    "spec",
    [
        PreprocessSpec(224, 224, "uint8", 1.0, 0, (0, 255)),
        PreprocessSpec(224, 224, "int8", 1.0, -128, (0, 255)),
        PreprocessSpec(224, 224, "uint8", 1 / 255, 0, (-1, 1)),
    ],
)
def test_fast_path_allocates_nothing_per_frame(spec: PreprocessSpec) -> None:
    pre = Preprocessor(spec)
    frame = np.random.default_rng(2).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    out = np.empty((1, 224, 224, 3), spec.dtype)
    pre(frame, out)  # warm up
    tracemalloc.start()
    try:
        for _ in range(3):
            pre(frame, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4096, f"{peak} bytes allocated for a {frame.nbytes}-byte frame"


# -- the device's resize filter: area_linear -------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
REAL_IMAGES = [
    ROOT / "device" / "aoc" / "assets" / "demo",
    ROOT.parent / "shared" / "reference" / "coral",  # Coral's test photos, where ../shared is
]


def real_frames() -> list[np.ndarray]:
    """Real photographs/drawings at camera-like sizes (skips when none are present)."""
    paths = [p for d in REAL_IMAGES if d.is_dir() for p in sorted(d.iterdir())
             if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp")]
    if not paths:
        pytest.skip("no real images found")
    frames = []
    for path in paths:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        for size in ((640, 480), (1280, 720)):
            frames.append(np.asarray(rgb.resize(size, Image.Resampling.BICUBIC)))
    return frames


def test_device_filter_is_named_and_the_default() -> None:
    assert DEVICE_RESAMPLE == "area_linear" and DEVICE_RESAMPLE in RESAMPLE_NAMES
    assert PreprocessSpec(224, 224).resample == DEVICE_RESAMPLE


@pytest.mark.parametrize(("src", "dst", "factors"), [
    ((640, 480), (224, 224), (2, 2)),
    ((1280, 720), (224, 224), (4, 2)),
    ((720, 720), (224, 224), (2, 2)),  # a centre crop of 1280x720: 360 then bilinear
    ((1920, 1080), (224, 224), (8, 4)),
    ((1080, 1080), (224, 224), (4, 4)),
    ((1002, 1002), (224, 224), (2, 2)),  # 1002 / 4 is not whole
    ((225, 224), (224, 224), (1, 1)),
    ((100, 100), (224, 224), (1, 1)),  # upscaling: bilinear only
])
def test_area_factors_divide_and_keep_the_model_size(src, dst, factors) -> None:
    assert area_factors(src, dst) == factors


def test_area_steps_are_exact_halvings_2x2_first() -> None:
    assert area_steps(4, 2) == [(2, 2), (2, 1)]
    assert area_steps(8, 8) == [(2, 2)] * 3
    assert area_steps(1, 4) == [(1, 2), (1, 2)] and area_steps(1, 1) == []


def test_opencv_area_reduction_is_the_exact_block_mean() -> None:
    pytest.importorskip("cv2")
    frame = np.random.default_rng(6).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    # 1280x720 -> 224x224: blocks of 4x2, so the area step leaves 320x360.
    out = area_linear_resize(frame, (320, 360))
    blocks = frame.reshape(360, 2, 320, 4, 3).astype(int)
    # Rounded after each halving: within one level of the exact mean.
    assert np.abs(out - blocks.mean(axis=(1, 3))).max() <= 1.0


@pytest.mark.parametrize("policy", ["stretch", "center_crop", "letterbox"])
def test_opencv_and_pillow_area_linear_agree_on_real_images(policy: str) -> None:
    pytest.importorskip("cv2")
    for frame in real_frames():
        fast = FrameFitter((224, 224), policy)
        slow = FrameFitter((224, 224), policy, use_cv2=False)
        assert (fast.backend, slow.backend) == ("opencv", "pillow")
        a = fast(frame, np.empty((224, 224, 3), np.uint8)).astype(int)
        b = slow(frame, np.empty((224, 224, 3), np.uint8)).astype(int)
        assert np.abs(a - b).max() <= 2 and np.abs(a - b).mean() < 1.0


def test_area_linear_stays_close_to_pillow_lanczos_on_real_images() -> None:
    # The filter training used before area_linear: close, not equal (reported in the docs).
    for frame in real_frames():
        ours = resize_frame(frame, (224, 224), resample=DEVICE_RESAMPLE).astype(int)
        lanczos = resize_frame(frame, (224, 224), resample="lanczos").astype(int)
        assert np.abs(ours - lanczos).mean() < 4.0


def test_area_linear_reduces_exact_blocks() -> None:
    # A 2x2 checker of two values averages to their mean in the area step.
    frame = np.zeros((448, 448, 3), np.uint8)
    frame[0::2, 0::2] = 200
    frame[1::2, 1::2] = 200
    for use_cv2 in (True, False):
        out = area_linear_resize(frame, (224, 224), use_cv2=use_cv2)
        assert (out == 100).all()


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_preprocessor_resizes_into_the_buffer_without_allocating(dtype: str) -> None:
    spec = (PreprocessSpec(224, 224, "uint8") if dtype == "uint8"
            else PreprocessSpec(224, 224, "int8", 1.0, -128, (0, 255)))
    pre = Preprocessor(spec)
    frame = np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    out = np.empty((1, 224, 224, 3), dtype)
    pre(frame, out)  # warm up: scratch for this frame shape
    expected = quantize(area_linear_resize(frame, (224, 224)), dtype=spec.dtype,
                        scale=spec.scale, zero_point=spec.zero_point,
                        value_range=spec.value_range)
    np.testing.assert_array_equal(out[0], expected)
    tracemalloc.start()
    try:
        pre(frame, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4096, f"{peak} bytes allocated resizing a {frame.nbytes}-byte frame"


def test_identity_path_is_unchanged_by_the_filter() -> None:
    frame = np.random.default_rng(4).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    for resample in RESAMPLE_NAMES:
        out = np.empty((224, 224, 3), np.uint8)
        Preprocessor(PreprocessSpec(224, 224, resample=resample))(frame, out)
        np.testing.assert_array_equal(out, frame)
