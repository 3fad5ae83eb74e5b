"""Compiled backbone + head bundles for tests: the stand-in backbone, Coral's pair, a head.

The stand-in backbone (``tests/data/models/backbone/backbone.tflite``, made by
``make_models.py``) takes uint8 ``1x32x32x3`` quantized like Coral's embedding extractor
(scale 1/128, zero point 128, so the quantized input is the raw pixel) and outputs a uint8
``1x1x1x8`` embedding. Coral's real pair lives in ``../shared/reference/coral`` on the
developers' machines only. :func:`reference_scores` is the two-step path written out by hand
(the runtime's own interpreter, then numpy), independent of
``aoc.inference.classifier``/``aoc.inference.head``.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from aoc.inference.bundle import Bundle
from aoc.inference.bundle_spec import EdgeTpuInfo, InputSpec, OutputSpec
from aoc.inference.bundle_write import write_bundle
from aoc.inference.head import DenseHead, make_head

LABELS = ("anime", "cartoon", "neither")
BACKBONE = Path(__file__).resolve().parents[1] / "data" / "models" / "backbone" / "backbone.tflite"
STANDIN_DIM, STANDIN_SIZE, STANDIN_SCALE = 8, 32, 0.011734068393707275
CORAL_NAME = "mobilenet_v1_1.0_224_quant_embedding_extractor"
CORAL_DIM, CORAL_SCALE = 1024, 0.023528477177023888
# Coral's input quantization (1/128, 128): this value range makes the quantized input the
# raw pixel, q = p, as Coral's own examples feed it.
CORAL_STYLE_RANGE = (-1.0, 127 / 128)


def random_head(dim: int, classes: int = 3, *, hidden: int | None = None, seed: int = 0
                ) -> DenseHead:
    """A seeded head with weights big enough that the scores differ from frame to frame."""
    rng = np.random.default_rng(seed)
    sizes = [dim, *([hidden] if hidden else []), classes]
    weights = [rng.normal(0, 1.5 / np.sqrt(a), (a, b)) for a, b in itertools.pairwise(sizes)]
    biases = [rng.normal(0, 0.1, b) for b in sizes[1:]]
    return make_head(rng.normal(0.5, 0.2, dim), rng.uniform(0.5, 2.0, dim), weights, biases)


def backbone_section(dim: int, scale: float, name: str = "standin-backbone") -> dict[str, Any]:
    """The ``backbone=`` argument of write_bundle."""
    return {"name": name, "origin": "tests (stand-in)" if name == "standin-backbone" else
            "Coral test_data, Apache-2.0",
            "output": {"dim": dim, "dtype": "uint8", "scale": scale, "zero_point": 0}}


def write_head_bundle(out: Path, *, cpu: Path, tpu: Path | None, head: DenseHead, dim: int,
                      scale: float, size: int, name: str = "standin-backbone",
                      labels: tuple[str, ...] = LABELS) -> Bundle:
    """write_bundle the way aoc_train calls it for a compiled backbone + head bundle."""
    return write_bundle(
        out,
        cpu_model=cpu,
        edgetpu_model=tpu,
        edgetpu_info=EdgeTpuInfo(compiled=tpu is not None,
                                 reason=f"backbone compiled by Coral ({name})" if tpu else
                                 "no compiled twin in this test"),
        labels=labels,
        input_spec=InputSpec(size, size, dtype="uint8", scale=1 / 128, zero_point=128,
                             value_range=CORAL_STYLE_RANGE),
        output_spec=OutputSpec(dtype="float32", kind="probabilities", scale=1.0, zero_point=0),
        backbone=backbone_section(dim, scale, name),
        head=head,
        provenance={"tool": "tests/fakes/head_bundles.py"},
        metrics={},
        name=f"{name}-head",
    )


def standin_bundle(tmp_path: Path, *, tpu: bool = True, seed: int = 0, hidden: int | None = 5
                   ) -> Bundle:
    """A head bundle on the stand-in backbone; its "Edge TPU twin" is a byte copy."""
    twin = None
    if tpu:
        twin = tmp_path / "src" / "backbone_edgetpu.tflite"
        twin.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BACKBONE, twin)
    return write_head_bundle(
        tmp_path / "standin", cpu=BACKBONE, tpu=twin,
        head=random_head(STANDIN_DIM, hidden=hidden, seed=seed), dim=STANDIN_DIM,
        scale=STANDIN_SCALE, size=STANDIN_SIZE,
    )


def coral_bundle(coral: Path, tmp_path: Path, *, seed: int = 0) -> Bundle:
    """A head bundle on Coral's real embedding extractor pair, copied byte for byte."""
    return write_head_bundle(
        tmp_path / "coral", cpu=coral / f"{CORAL_NAME}.tflite",
        tpu=coral / f"{CORAL_NAME}_edgetpu.tflite", head=random_head(CORAL_DIM, seed=seed),
        dim=CORAL_DIM, scale=CORAL_SCALE, size=224, name="coral-mobilenet-v1-1.0-224-embedding",
    )


def reference_scores(model: Path, pixels: np.ndarray, head: DenseHead) -> np.ndarray:
    """The two steps by hand: the model on raw pixels, dequantize, then the head in numpy."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], pixels[np.newaxis].astype(np.uint8))
    interpreter.invoke()
    scale, zero_point = out["quantization"]
    x = (interpreter.get_tensor(out["index"]).reshape(-1).astype(np.float64) - zero_point) * scale
    x = (x - head.shift) * head.scale
    for i, (w, b) in enumerate(zip(head.weights, head.biases, strict=True)):
        x = x @ w.astype(np.float64) + b
        if i < len(head.weights) - 1:
            x = np.maximum(x, 0.0)
    e = np.exp(x - x.max())
    return e / e.sum()


class TwinModule:
    """The runtime module, with a fake Edge TPU: an interpreter built with delegates for
    ``model_edgetpu.tflite`` runs the CPU twin beside it (what the TPU computes), without
    the delegates. Records every (model file name, delegates) it was asked for."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.built: list[tuple[str, Any]] = []

    def Interpreter(self, **kwargs: Any) -> Any:  # noqa: N802 (the runtime's own name)
        path = Path(kwargs["model_path"])
        delegates = kwargs.pop("experimental_delegates", None)
        self.built.append((path.name, delegates))
        if delegates and path.name.endswith("_edgetpu.tflite"):
            kwargs["model_path"] = str(path.with_name(path.name.replace("_edgetpu", "")))
        return self.real.Interpreter(**kwargs)


def open_on_fake_tpu(bundle: Bundle, **kwargs: Any) -> Any:
    """``open_classifier(bundle, prefer="edgetpu")`` with :class:`TwinModule` and a delegate
    that loads: the compiled twin is the model opened. Module level, so a ``spawn``-ed
    inference child (aoc.inference.isolated) can unpickle it."""
    from aoc.inference.classifier import open_classifier
    from aoc.inference.runtime import Runtime, find_runtime

    real = find_runtime()
    runtime = Runtime(real.name, real.version, TwinModule(real.module))
    return open_classifier(bundle, prefer="edgetpu", runtime=runtime,
                           load_delegate=lambda library, options: object(), **kwargs)
