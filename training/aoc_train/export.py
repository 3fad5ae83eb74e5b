"""Export to TFLite: a float model and a full-integer int8 model with uint8 input and output.

Keras 3's ``from_keras_model`` path is unreliable, so the model goes through a SavedModel
(``model.export``) with a static batch of 1 and ``TFLiteConverter.from_saved_model``.
Calibration uses real training images prepared exactly as the device prepares frames.
The int8 model keeps only builtin int8 kernels (``TFLITE_BUILTINS_INT8``), so a float op
fails the conversion instead of silently landing on the Edge TPU host's CPU.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ExportError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TensorQuant:
    """dtype, shape and quantization of a model's input or output tensor."""

    dtype: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int


@dataclass(frozen=True)
class ExportResult:
    """Paths and tensor details of the exported models."""

    int8_model: Path
    float_model: Path
    input: TensorQuant
    output: TensorQuant
    int8_bytes: int

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        d = asdict(self)
        d["int8_model"], d["float_model"] = str(self.int8_model), str(self.float_model)
        return d


def tensor_details(model_path: Path) -> tuple[TensorQuant, TensorQuant]:
    """(input, output) details of a .tflite read with ai-edge-litert (or TF's interpreter)."""
    interpreter = make_interpreter(model_path)
    result = []
    for d in (interpreter.get_input_details()[0], interpreter.get_output_details()[0]):
        scale, zp = d["quantization"]
        result.append(TensorQuant(np.dtype(d["dtype"]).name, tuple(int(v) for v in d["shape"]),
                                  float(scale), int(zp)))
    return result[0], result[1]


def make_interpreter(model_path: Path, num_threads: int | None = None) -> Any:
    """A CPU TFLite interpreter (ai-edge-litert preferred, TensorFlow's as fallback)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the train extra always has TensorFlow
        from tensorflow.lite import Interpreter  # type: ignore[no-redef]
    interpreter = Interpreter(model_path=str(model_path), num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def export_tflite(model: Any, out_dir: Path, calibration: np.ndarray) -> ExportResult:
    """Write ``model_float.tflite`` and ``model.tflite`` (int8, uint8 I/O) into ``out_dir``.

    ``calibration``: ``(n, side, side, 3)`` uint8 images prepared like device frames.
    """
    import tensorflow as tf

    out_dir.mkdir(parents=True, exist_ok=True)
    side = int(model.input_shape[1])
    saved = out_dir / "saved_model"
    signature = [tf.TensorSpec((1, side, side, 3), tf.float32, name="image")]
    model.export(str(saved), format="tf_saved_model", input_signature=signature, verbose=False)

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    float_path = out_dir / "model_float.tflite"
    float_path.write_bytes(converter.convert())

    def representative():
        for img in calibration:
            yield [np.asarray(img, dtype=np.float32)[None]]

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    try:
        blob = converter.convert()
    except Exception as exc:  # the converter raises many unrelated types
        raise ExportError(f"int8 conversion of {saved} failed: {exc}; check that every layer "
                          "has an int8 TFLite kernel") from exc
    int8_path = out_dir / "model.tflite"
    int8_path.write_bytes(blob)
    inp, outp = tensor_details(int8_path)
    if inp.dtype != "uint8" or outp.dtype != "uint8" or inp.shape != (1, side, side, 3):
        raise ExportError(f"{int8_path}: expected uint8 input (1, {side}, {side}, 3) and uint8 "
                          f"output, got {inp} / {outp}")
    log.info("exported %s (%d bytes), input q=(%g, %d), output q=(%g, %d)", int8_path,
             len(blob), inp.scale, inp.zero_point, outp.scale, outp.zero_point)
    return ExportResult(int8_path, float_path, inp, outp, len(blob))
