"""Generate the tiny .tflite models that tests/test_edgetpu_check.py reads.

Run from the repository root with TensorFlow installed (the ``train`` extra):

    python tests/data/edgetpu/make_models.py

The outputs are committed, so the tests themselves never need TensorFlow:

* ``ok_int8.tflite``: full-int8, uint8 input/output, batch fixed at 1, only ops that the
  Edge TPU maps (CONV_2D, DEPTHWISE_CONV_2D, MEAN, FULLY_CONNECTED, SOFTMAX, QUANTIZE).
* ``float_io_dynamic.tflite``: same network but float32 input/output (so the converter
  wraps it in QUANTIZE / DEQUANTIZE that run on the CPU) and a dynamic batch dimension.
* ``leaky_relu_int8.tflite``: full-int8 but with LEAKY_RELU, which is not in Coral's
  supported-operations table.

Keras 3's ``TFLiteConverter.from_keras_model`` is unreliable, so each model is exported as
a SavedModel first, with an explicit input signature (batch 1 or dynamic).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

OUT = Path(__file__).resolve().parent
SIZE = 32


def build(leaky: bool) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((SIZE, SIZE, 3))
    x = tf.keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = tf.keras.layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = tf.keras.layers.LeakyReLU(0.1)(x) if leaky else tf.keras.layers.ReLU(6.0)(x)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(3, activation="softmax")(x)
    return tf.keras.Model(inputs, outputs)


def convert(model: tf.keras.Model, *, batch: int | None, int_io: bool) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        archive = tf.keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "serve", model.call,
            input_signature=[tf.TensorSpec([batch, SIZE, SIZE, 3], tf.float32)],
        )
        archive.write_out(tmp)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        return _quantize(converter, int_io)


def _quantize(converter: tf.lite.TFLiteConverter, int_io: bool) -> bytes:
    def representative():
        rng = np.random.default_rng(0)
        for _ in range(16):
            yield [rng.uniform(0, 255, (1, SIZE, SIZE, 3)).astype(np.float32)]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int_io:
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter.convert()


def main() -> int:
    plain, leaky = build(leaky=False), build(leaky=True)
    files = {
        "ok_int8.tflite": convert(plain, batch=1, int_io=True),
        "float_io_dynamic.tflite": convert(plain, batch=None, int_io=False),
        "leaky_relu_int8.tflite": convert(leaky, batch=1, int_io=True),
    }
    for name, data in files.items():
        (OUT / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes (TensorFlow {tf.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
