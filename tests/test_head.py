"""inference/head: the dense numpy head; checked construction, head.npz round trip, timing."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from aoc.errors import BundleError
from aoc.inference.head import DenseHead, load_head, make_head, save_head, time_head


def two_layer() -> DenseHead:
    w0 = np.array([[1.0, -1.0], [0.0, 2.0], [0.5, 0.0]])
    w1 = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]])
    return make_head([1.0, 0.0, 0.0], [1.0, 2.0, 1.0], [w0, w1], [[0.0, 0.5], [0.1, 0.0, 0.0]])


def test_forward_pass_by_hand() -> None:
    head = two_layer()
    assert head.layer_sizes == (3, 2, 3) and head.input_dim == 3 and head.num_classes == 3
    x = np.array([2.0, 1.0, 4.0], np.float32)
    z = (x - [1, 0, 0]) * [1, 2, 1]  # (1, 2, 4)
    h = np.maximum(z @ [[1, -1], [0, 2], [0.5, 0]] + [0, 0.5], 0)  # (3, 3.5)
    logits = h @ [[1, 0, -1], [0, 1, 1]] + [0.1, 0, 0]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(head.logits(x), logits, rtol=1e-6)
    scores = head(x)
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    batch = head(np.stack([x, x]))
    assert batch.shape == (2, 3)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, rtol=1e-6)


def test_npz_round_trip(tmp_path: Path) -> None:
    head = two_layer()
    loaded = load_head(save_head(head, tmp_path / "head.npz"))
    assert sorted(loaded.arrays()) == ["b0", "b1", "scale", "shift", "w0", "w1"]
    for name, array in head.arrays().items():
        np.testing.assert_array_equal(loaded.arrays()[name], array)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.0, 0.0], [1.0], [np.ones((2, 3))], [np.zeros(3)]), "shift .* and scale"),
        (([0.0, 0.0], [1.0, 1.0], [np.ones((3, 3))], [np.zeros(3)]), "layer 0 has weights"),
        (([0.0, 0.0], [1.0, 1.0], [np.ones((2, 3))], [np.zeros(2)]), "layer 0 has weights"),
        (([0.0, 0.0], [1.0, 1.0], [], []), "needs 1 to 4 layers"),
        (([0.0, np.nan], [1.0, 1.0], [np.ones((2, 3))], [np.zeros(3)]), "shift holds NaN"),
    ],
)
def test_bad_shapes_and_values_are_refused(args: tuple, match: str) -> None:
    with pytest.raises(BundleError, match=match):
        make_head(*args)


def test_bad_files_name_themselves(tmp_path: Path) -> None:
    garbage = tmp_path / "head.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(BundleError, match="head.npz cannot be read") as info:
        load_head(garbage)
    # numpy's own words would tell the user to load it "unsafely" with allow_pickle
    assert "not a .npz archive" in str(info.value) and "pickle" not in str(info.value)
    with open(tmp_path / "partial.npz", "wb") as f:
        np.savez(f, shift=np.zeros(2), scale=np.ones(2))
    with pytest.raises(BundleError, match="partial.npz has no array 'w0'"):
        load_head(tmp_path / "partial.npz")


def test_time_head_uses_the_clock() -> None:
    ticks = itertools.count(0.0, 0.5)
    times = time_head(two_layer(), calls=4, clock=lambda: next(ticks))
    np.testing.assert_array_equal(times, [0.5] * 4)
    assert time_head(two_layer(), calls=0).size == 0


def test_input_power_round_trip_and_forward(tmp_path) -> None:
    head = make_head(np.zeros(2), np.ones(2), [np.eye(2)], [np.zeros(2)], power=0.5)
    assert head.format == "dense-v2"
    x = np.array([4.0, 9.0], np.float32)
    expected = np.exp([2.0, 3.0]) / np.exp([2.0, 3.0]).sum()
    np.testing.assert_allclose(head(x), expected, rtol=1e-5)
    back = load_head(save_head(head, tmp_path / "head.npz"))
    assert back.power == 0.5 and back.format == "dense-v2"
    np.testing.assert_allclose(back(x), head(x))
    plain = make_head(np.zeros(2), np.ones(2), [np.eye(2)], [np.zeros(2)])
    assert plain.format == "dense-v1" and "power" not in plain.arrays()
    with pytest.raises(BundleError, match="power"):
        make_head(np.zeros(2), np.ones(2), [np.eye(2)], [np.zeros(2)], power=0.0)


@pytest.mark.parametrize("dtype, zero_point", [("uint8", 0), ("uint8", 7), ("int8", -3)])
@pytest.mark.parametrize("power, hidden", [(1.0, 0), (0.5, 0), (0.5, 4)])
def test_quantized_head_equals_dequantize_then_head(dtype, zero_point, power, hidden) -> None:
    from aoc.inference.head import QuantizedHead
    from aoc.inference.postprocess import dequantize

    rng = np.random.default_rng(5)
    sizes = [16, hidden, 3] if hidden else [16, 3]
    weights = [rng.normal(0, 1, (a, b)) for a, b in itertools.pairwise(sizes)]
    biases = [rng.normal(0, 1, b) for b in sizes[1:]]
    head = make_head(rng.normal(1, 0.3, 16), rng.uniform(0.5, 2, 16), weights, biases,
                     power=power)
    info = np.iinfo(dtype)
    fast = QuantizedHead(head, scale=0.05, zero_point=zero_point, dtype=dtype)
    for _ in range(20):
        raw = rng.integers(info.min, info.max + 1, (1, 1, 1, 16)).astype(dtype)
        slow = head(dequantize(raw.reshape(-1), scale=0.05, zero_point=zero_point))
        np.testing.assert_allclose(fast(raw), slow, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype, zero_point", [("uint8", 0), ("uint8", 131), ("int8", 0),
                                               ("int8", -3)])
@pytest.mark.parametrize("power", [1.0, 0.5])
def test_quantized_head_decodes_every_byte_code(dtype, zero_point, power) -> None:
    """The device reads the backbone's embedding through a 256-entry table: one byte code
    decoded wrong (127 read as -129 in an int8 model, say) turns the strongest activation
    into nothing, and the scores shown are not the head's."""
    from aoc.inference.head import QuantizedHead

    scale = 0.01
    # one input, two classes: the logits are (z, -z), so any change of z shows in the scores
    head = make_head([0.0], [1.0], [np.array([[1.0, -1.0]])], [np.zeros(2)], power=power)
    fast = QuantizedHead(head, scale=scale, zero_point=zero_point, dtype=dtype)
    codes = np.arange(256, dtype=np.uint8).view(dtype)  # every byte pattern of the dtype
    assert codes.view(np.uint8).tolist() == list(range(256))
    for code in codes:
        # dequantized by hand; the int8 view is already signed (0x7f is 127, 0x80 is -128)
        value = (int(code) - zero_point) * scale
        want = head(np.array([value], np.float32))
        got = fast(np.array([code], dtype))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=f"code {code}")
