"""aoc.inference.preprocess: quantization formula, fast paths writing in place."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from fakes.frames import GREEN, striped

from aoc.errors import InferenceError
from aoc.inference.preprocess import (
    Preprocessor,
    PreprocessSpec,
    check_frame,
    lookup_table,
    quantize,
)
from aoc.inference.resize import RESAMPLE_NAMES, area_linear_resize


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


def test_quantize_rounds_to_nearest_not_down() -> None:
    """A model quantized with round-to-nearest sees inputs half a step low everywhere if the
    device truncated instead: every pixel darker than in training, scores off."""
    # x = pixel; x / 2 = 1.5, 3.5, 4, 5.5 (odd + 0.5: rounds up both half-up and half-even)
    q = quantize(np.array([3, 7, 8, 11], np.uint8), dtype="uint8", scale=2.0, zero_point=0,
                 value_range=(0, 255))
    assert q.tolist() == [2, 4, 4, 6]
    pixels = np.array([3, 7, 8, 13, 17], np.uint8)
    # x / 5 = 0.6, 1.4, 1.6, 2.6, 3.4
    q5 = quantize(pixels, dtype="uint8", scale=5.0, zero_point=0, value_range=(0, 255))
    assert q5.tolist() == [1, 1, 2, 3, 3]
    # negative values round to nearest too: x = pixel - 255, x / 5 + 1
    # = -49.4, -48.6, -48.4, -47.4, -46.6
    q8 = quantize(pixels, dtype="int8", scale=5.0, zero_point=1, value_range=(-255, 0))
    assert q8.tolist() == [-49, -49, -48, -47, -47]
    # the table the Preprocessor applies per pixel is the same rounding
    table = lookup_table(dtype="uint8", scale=5.0, zero_point=0, value_range=(0, 255))
    assert table[[3, 7, 8, 13, 17]].tolist() == [1, 1, 2, 3, 3]


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
