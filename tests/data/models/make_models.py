"""Generate the tiny test models and bundles under tests/data/models/ (needs TensorFlow).

Run once, commit the outputs; the tests only read the committed files:

    PYTHONPATH=device python3 tests/data/models/make_models.py [--out DIR] [--size 32]

Every model computes the same thing with hand-set weights, so tests can assert real
predictions: pixels / 255 -> mean over the image per channel -> logits = 8 * (r, g, b) ->
softmax. Labels are (anime, cartoon, neither): a mostly red image is "anime", mostly green
"cartoon", mostly blue "neither", and a grey image scores 1/3 each.

Bundles written (folder: model.tflite, labels.txt, manifest.json):
- ``uint8/``: full-int8, uint8 input and output (the default model's format), softmax.
- ``int8/``: full-int8, int8 input and output, softmax.
- ``float_logits/``: float32 input and output, no softmax (manifest kind "logits").

And ``backbone/backbone.tflite``, a stand-in for Coral's MobileNet V1 embedding extractor
(a bare model; the tests build "compiled backbone + head" bundles from it): uint8 input
quantized like Coral's ((x / 128) - 1, i.e. scale 1/128, zero point 128), uint8 output
``(1, 1, 1, 8)``, the embedding ``relu(mean(x) @ W + 1)`` with hand-set ``W`` (3, 8).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

LABELS = ("anime", "cartoon", "neither")
GAIN = 8.0


def _module(size: int, *, softmax: bool):
    import tensorflow as tf

    weights = tf.constant(np.eye(3, dtype=np.float32) * GAIN)

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
        def __call__(self, x):
            means = tf.reduce_mean(x / 255.0, axis=[1, 2])
            logits = tf.matmul(means, weights)
            return tf.nn.softmax(logits) if softmax else logits

    return Tiny()


def _representative(size: int):
    rng = np.random.default_rng(0)

    def gen():
        # Pure colours and black/white pin the input range to exactly [0, 255] (scale 1).
        for colour in ((0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255)):
            yield [np.broadcast_to(np.float32(colour), (1, size, size, 3)).copy()]
        for _ in range(40):
            yield [rng.integers(0, 256, (1, size, size, 3)).astype(np.float32)]

    return gen


def convert(size: int, dtype: str) -> bytes:
    """TFLite flatbuffer for ``dtype`` in/out: uint8, int8 (full-int8, softmax) or float32."""
    import tensorflow as tf

    module = _module(size, softmax=dtype != "float32")
    fn = module.__call__.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], module)
    if dtype != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(size)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = getattr(tf, dtype)
        converter.inference_output_type = getattr(tf, dtype)
    return converter.convert()


BACKBONE_DIM = 8


def convert_backbone(size: int) -> bytes:
    """The stand-in backbone: uint8 ``(1, size, size, 3)`` -> uint8 ``(1, 1, 1, 8)``."""
    import tensorflow as tf

    w = np.array(
        [[1, 0, 0, 1, -1, 0, 0.5, -0.5], [0, 1, 0, -1, 0, 1, 0.5, 0.5], [0, 0, 1, 0, 1, -1, -1, 0]],
        dtype=np.float32,
    )

    class Backbone(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
        def __call__(self, x):
            means = tf.reduce_mean(x, axis=[1, 2])  # x in [-1, 1)
            embedding = tf.nn.relu(tf.matmul(means, tf.constant(w)) + 1.0)
            return tf.reshape(embedding, [1, 1, 1, BACKBONE_DIM])

    module = Backbone()
    rng = np.random.default_rng(0)

    def gen():
        for colour in ((0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255)):
            yield [np.broadcast_to(np.float32(colour) / 128 - 1, (1, size, size, 3)).copy()]
        for _ in range(40):
            yield [(rng.integers(0, 256, (1, size, size, 3)) / 128 - 1).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module
    )
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    return converter.convert()


def _tensor_quant(model: bytes) -> tuple[tuple[float, int], tuple[float, int]]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    return inp["quantization"], out["quantization"]


def write_test_bundle(folder: Path, name: str, model: bytes, size: int, dtype: str) -> None:
    """Write a schema-1 bundle with :func:`aoc.inference.bundle.write_bundle` (reloads and
    verifies)."""
    from aoc.inference.bundle_spec import EdgeTpuInfo, InputSpec, OutputSpec
    from aoc.inference.bundle_write import write_bundle

    quantized = dtype != "float32"
    (in_scale, in_zp), (out_scale, out_zp) = _tensor_quant(model)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "model.tflite"
        source.write_bytes(model)
        write_bundle(
            folder,
            name=name,
            created=datetime(2026, 11, 25, tzinfo=UTC),
            cpu_model=source,
            labels=LABELS,
            input_spec=InputSpec(
                width=size,
                height=size,
                dtype=dtype,
                resize="stretch",
                scale=float(in_scale) if quantized else 1.0,
                zero_point=int(in_zp),
                value_range=(0.0, 255.0),
            ),
            output_spec=OutputSpec(
                dtype=dtype,
                kind="probabilities" if quantized else "logits",
                scale=float(out_scale) if quantized else 1.0,
                zero_point=int(out_zp),
            ),
            edgetpu_info=EdgeTpuInfo(compiled=False, reason="edgetpu_compiler not found on PATH"),
            provenance={
                "tool": "tests/data/models/make_models.py",
                "what": f"hand-set weights: logits = {GAIN} * mean(rgb / 255); red=anime, "
                "green=cartoon, blue=neither",
            },
            metrics={},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--size", type=int, default=32, help="input width = height")
    args = parser.parse_args()
    for dtype, folder in (("uint8", "uint8"), ("int8", "int8"), ("float32", "float_logits")):
        model = convert(args.size, dtype)
        write_test_bundle(args.out / folder, f"tiny-{folder}", model, args.size, dtype)
        print(f"{args.out / folder}: {len(model)} bytes")  # noqa: T201 (a CLI's own output)
    backbone = args.out / "backbone" / "backbone.tflite"
    backbone.parent.mkdir(exist_ok=True)
    backbone.write_bytes(convert_backbone(args.size))
    print(f"{backbone}: {backbone.stat().st_size} bytes")  # noqa: T201


if __name__ == "__main__":
    main()
