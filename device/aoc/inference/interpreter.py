"""A model file turned into an allocated TFLite interpreter, checked against its bundle.

:func:`build_interpreter` makes and allocates the interpreter (a corrupt, truncated,
missing or Edge-TPU-only file becomes a :class:`~aoc.errors.BundleError` naming it);
:func:`model_format` checks the tensors against the manifest and labels (for a backbone +
head bundle: the embedding against ``backbone.output``) and derives the preprocessing.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aoc.errors import BundleError
from aoc.inference.bundle_spec import INPUT_DTYPES
from aoc.inference.preprocess import PreprocessSpec
from aoc.inference.resize import DEVICE_RESAMPLE
from aoc.inference.runtime import Runtime, make_interpreter

if TYPE_CHECKING:
    from aoc.inference.bundle import Bundle

log = logging.getLogger(__name__)

#: What to do about a broken model file.
REBUILD_HINT = "re-copy the model file (or its whole bundle) or rebuild it with aoc-train"


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise BundleError(f"model file {path} is missing: {REBUILD_HINT}", path=path)
    if path.stat().st_size == 0:
        raise BundleError(f"model file {path} is empty (0 bytes): {REBUILD_HINT}", path=path)


def build_interpreter(
    runtime: Runtime,
    path: Path,
    *,
    delegates: tuple[Any, ...] = (),
    num_threads: int | None = None,
) -> Any:
    """An allocated interpreter for ``path``; a bad file becomes BundleError naming it."""
    _check_file(path)
    try:
        interpreter = make_interpreter(runtime, path, delegates=delegates, num_threads=num_threads)
    except RuntimeError as exc:
        if not delegates:
            raise
        # the runtime applies delegates while it builds the interpreter, and its error
        # reporter raises RuntimeError when the Edge TPU refuses the graph (a USB error, a
        # libedgetpu built for another runtime): the caller falls back to the CPU model
        raise BundleError(
            f"model file {path}: the Edge TPU delegate could not be applied ({exc}); check "
            "that libedgetpu matches the TFLite runtime and the accelerator's cable",
            path=path,
        ) from exc
    except ValueError as exc:
        raise BundleError(
            f"model file {path} is not a valid TFLite model ({exc}); it is corrupt or "
            f"truncated: {REBUILD_HINT}",
            path=path,
        ) from exc
    try:
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        if "edgetpu-custom-op" in str(exc) and not delegates:
            raise BundleError(
                f"model file {path} is compiled for the Edge TPU and cannot run on the CPU: "
                "use the bundle's CPU model (model.tflite), or attach the Coral USB "
                "Accelerator",
                path=path,
            ) from exc
        raise BundleError(
            f"model file {path} could not be prepared by {runtime.label} ({exc}): {REBUILD_HINT}",
            path=path,
        ) from exc
    return interpreter


def _bare_value_range(dtype: str, scale: float, zero_point: int) -> tuple[float, float]:
    """For a bare model, the range that makes the quantized input the raw pixel (Coral's way)."""
    if dtype == "float32":
        return (0.0, 255.0)
    lo, hi = (0, 255) if dtype == "uint8" else (-128, 127)
    return ((lo - zero_point) * scale, (hi - zero_point) * scale)


def model_format(
    interpreter: Any, bundle: Bundle, path: Path, *, resample: str = DEVICE_RESAMPLE
) -> tuple[PreprocessSpec, str]:
    """Check the model's tensors against the bundle; return (preprocess spec, output kind)."""
    from aoc.inference.bundle import check_label_count

    inputs = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    if len(inputs) != 1 or not outputs:
        raise BundleError(
            f"model file {path} has {len(inputs)} inputs and {len(outputs)} outputs; an image "
            "classifier has one input and one output: use a classification model",
            path=path,
        )
    shape = tuple(int(d) for d in inputs[0]["shape"])
    dtype = np.dtype(inputs[0]["dtype"]).name
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or dtype not in INPUT_DTYPES:
        raise BundleError(
            f"model file {path} wants input {dtype} {'x'.join(map(str, shape))}; this device "
            "feeds 1xHxWx3 RGB images as uint8, int8 or float32: use an image classifier",
            path=path,
        )
    out_shape = tuple(int(d) for d in outputs[0]["shape"])
    if getattr(bundle, "head", None) is not None:
        check_embedding_output(outputs[0], bundle, path)
    elif len(out_shape) not in (1, 2) or (len(out_shape) == 2 and out_shape[0] != 1):
        raise BundleError(
            f"model file {path} outputs shape {out_shape}; a classifier outputs (1, N) scores",
            path=path,
        )
    else:
        check_label_count(bundle, out_shape[-1])
    height, width = shape[1], shape[2]
    scale, zero_point = inputs[0]["quantization"]
    spec = bundle.input
    if spec is None:
        value_range = _bare_value_range(dtype, scale, zero_point)
        return (
            PreprocessSpec(
                width, height, dtype, scale, zero_point, value_range, "stretch", resample
            ),
            "probabilities",
        )
    if (spec.width, spec.height, spec.dtype) != (width, height, dtype):
        raise BundleError(
            f"manifest.json of {bundle.root} says input {spec.width}x{spec.height} {spec.dtype} "
            f"but model file {path} takes {width}x{height} {dtype}: {REBUILD_HINT}",
            path=path,
        )
    if dtype != "float32" and not (
        math.isclose(spec.scale, scale, rel_tol=1e-5) and spec.zero_point == zero_point
    ):
        raise BundleError(
            f"manifest.json of {bundle.root} says input quantization ({spec.scale}, "
            f"{spec.zero_point}) but model file {path} has ({scale}, {zero_point}): {REBUILD_HINT}",
            path=path,
        )
    kind = bundle.output.kind if bundle.output is not None else "probabilities"
    value_range = (float(spec.value_range[0]), float(spec.value_range[1]))
    pre = PreprocessSpec(
        width, height, dtype, scale, zero_point, value_range, spec.resize, resample
    )
    return pre, kind


def check_embedding_output(output: dict[str, Any], bundle: Bundle, path: Path) -> None:
    """Refuse a backbone whose output tensor is not the ``(1, ..., dim)`` embedding of the
    manifest's ``backbone.output`` dtype (the head could not run on it)."""
    backbone = bundle.backbone
    if backbone is None:  # load_bundle never gives a head without its backbone
        raise BundleError(
            f"bundle {bundle.root} has a head but no backbone section: {REBUILD_HINT}",
            path=bundle.root,
        )
    shape = tuple(int(d) for d in output["shape"])
    dtype = np.dtype(output["dtype"]).name
    if not shape or shape[-1] != backbone.dim or any(d != 1 for d in shape[:-1]) or (
        dtype != backbone.dtype
    ):
        raise BundleError(
            f"model file {path} outputs {dtype} {shape} but manifest.json of {bundle.root} says "
            f"the backbone {backbone.name} gives a {backbone.dtype} (1, ..., {backbone.dim}) "
            f"embedding for the head: {REBUILD_HINT}",
            path=path,
        )
    scale, zero_point = output["quantization"]
    if dtype != "float32" and not (
        math.isclose(scale, backbone.scale, rel_tol=1e-3) and zero_point == backbone.zero_point
    ):
        # The embedding is dequantized with the tensor's own numbers, so scores stay right;
        # but the manifest no longer describes this model.
        log.warning(
            "model file %s: embedding quantization (%g, %d) differs from manifest.json's "
            "backbone.output (%g, %d); using the tensor's", path, scale, zero_point,
            backbone.scale, backbone.zero_point,
        )
