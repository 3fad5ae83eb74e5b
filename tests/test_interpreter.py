"""Tests for aoc.inference.interpreter: every way a model file can be wrong, tensors vs manifest."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fakes.head_bundles import random_head, standin_bundle

from aoc.errors import BundleError
from aoc.inference.bundle import Bundle, bare_bundle, load_bundle
from aoc.inference.interpreter import build_interpreter, model_format
from aoc.inference.runtime import Runtime, find_runtime

pytest.importorskip("ai_edge_litert")

MODELS = Path(__file__).parent / "data" / "models"


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return find_runtime()


@pytest.fixture()
def uint8_bundle() -> Bundle:
    return load_bundle(MODELS / "uint8")


def tensors_of(bundle: Bundle, runtime: Runtime) -> object:
    return build_interpreter(runtime, bundle.cpu_model)


def broken_copy(bundle: Bundle, tmp_path: Path, data: bytes | None) -> Bundle:
    model = tmp_path / "model.tflite"
    if data is not None:
        model.write_bytes(data)
    return dataclasses.replace(bundle, cpu_model=model)


@pytest.mark.parametrize("keep", [0, 16, 200, 1000, 2000])
def test_truncated_or_empty_model_is_a_bundle_error(
    uint8_bundle: Bundle, runtime: Runtime, tmp_path: Path, keep: int
) -> None:
    data = uint8_bundle.cpu_model.read_bytes()[:keep]
    bundle = broken_copy(uint8_bundle, tmp_path, data)
    with pytest.raises(BundleError, match="re-copy") as caught:
        build_interpreter(runtime, bundle.cpu_model)
    assert str(tmp_path / "model.tflite") in str(caught.value)
    assert caught.value.path == tmp_path / "model.tflite"


def test_garbage_and_missing_model_files(
    uint8_bundle: Bundle, runtime: Runtime, tmp_path: Path
) -> None:
    garbage = broken_copy(uint8_bundle, tmp_path, b"\x00not a model" * 100)
    with pytest.raises(BundleError, match="not a valid TFLite model"):
        build_interpreter(runtime, garbage.cpu_model)
    (tmp_path / "model.tflite").unlink()
    with pytest.raises(BundleError, match="is missing"):
        build_interpreter(runtime, garbage.cpu_model)


def test_label_count_must_match_the_output(uint8_bundle: Bundle, runtime: Runtime) -> None:
    wrong = dataclasses.replace(uint8_bundle, labels=("anime", "cartoon"))
    with pytest.raises(BundleError, match="2 labels but model"):
        model_format(tensors_of(wrong, runtime), wrong, wrong.cpu_model)


def test_manifest_must_match_the_tensors(uint8_bundle: Bundle, runtime: Runtime) -> None:
    interpreter = tensors_of(uint8_bundle, runtime)
    path = uint8_bundle.cpu_model
    spec = dataclasses.replace(uint8_bundle.input, width=64, height=64)
    with pytest.raises(BundleError, match="says input 64x64 uint8 but model file"):
        model_format(interpreter, dataclasses.replace(uint8_bundle, input=spec), path)
    spec = dataclasses.replace(uint8_bundle.input, scale=0.5)
    with pytest.raises(BundleError, match="input quantization"):
        model_format(interpreter, dataclasses.replace(uint8_bundle, input=spec), path)


def test_format_follows_the_manifest_or_the_tensors(uint8_bundle: Bundle,
                                                     runtime: Runtime) -> None:
    interpreter = tensors_of(uint8_bundle, runtime)
    pre, kind = model_format(interpreter, uint8_bundle, uint8_bundle.cpu_model)
    assert kind == "probabilities" and pre.resize == uint8_bundle.input.resize
    bare = bare_bundle(uint8_bundle.cpu_model, uint8_bundle.labels_file)
    pre, kind = model_format(interpreter, bare, bare.cpu_model)
    # a bare uint8 model: the quantized input is the raw pixel, frames are stretched
    assert pre.resize == "stretch" and kind == "probabilities"
    assert pre.value_range == pytest.approx(
        ((0 - pre.zero_point) * pre.scale, (255 - pre.zero_point) * pre.scale))


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ([1, 32, 32, 1], np.uint8),
        ([1, 3, 32, 32], np.uint8),
        ([32, 32, 3], np.uint8),
        ([1, 32, 32, 3], np.int16),
    ],
)
def test_input_must_be_an_rgb_image(uint8_bundle: Bundle, shape: list, dtype: type) -> None:
    interpreter = SimpleNamespace(
        get_input_details=lambda: [
            {"shape": np.array(shape), "dtype": dtype, "quantization": (1.0, 0)}
        ],
        get_output_details=lambda: [{"shape": np.array([1, 3]), "dtype": np.uint8}],
    )
    with pytest.raises(BundleError, match="1xHxWx3 RGB"):
        model_format(interpreter, uint8_bundle, Path("odd.tflite"))


# --- compiled backbone + head bundles: the embedding tensor against backbone.output ------


def test_backbone_embedding_is_checked_not_the_label_count(
    runtime: Runtime, tmp_path: Path
) -> None:
    bundle = standin_bundle(tmp_path)
    spec, kind = model_format(tensors_of(bundle, runtime), bundle, bundle.cpu_model)
    assert (spec.width, spec.height, spec.scale, spec.zero_point) == (32, 32, 1 / 128, 128)
    assert kind == "probabilities"  # 8 outputs, 3 labels: the head makes the 3 scores


@pytest.mark.parametrize(
    ("backbone", "said"),
    [
        ({"dim": 16}, r"outputs uint8 \(1, 1, 1, 8\) but .* gives a uint8 \(1, \.\.\., 16\)"),
        ({"dtype": "int8"}, r"outputs uint8 \(1, 1, 1, 8\) but .* gives a int8 \(1, \.\.\., 8\)"),
    ],
)
def test_backbone_output_must_match_the_manifest(
    runtime: Runtime, tmp_path: Path, backbone: dict, said: str
) -> None:
    bundle = standin_bundle(tmp_path)
    info = dataclasses.replace(bundle.backbone, **backbone)
    head = random_head(info.dim)
    wrong = dataclasses.replace(bundle, backbone=info, head=head)
    with pytest.raises(BundleError, match=said) as err:
        model_format(tensors_of(bundle, runtime), wrong, bundle.cpu_model)
    assert err.value.path == bundle.cpu_model


def test_other_embedding_quantization_only_warns(
    runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = standin_bundle(tmp_path)
    other = dataclasses.replace(bundle, backbone=dataclasses.replace(bundle.backbone, scale=0.5))
    model_format(tensors_of(bundle, runtime), other, bundle.cpu_model)
    assert "differs from manifest.json's backbone.output (0.5, 0); using the tensor's" in (
        caplog.text)
