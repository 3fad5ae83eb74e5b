"""Will this .tflite map fully onto the Edge TPU? A per-operator check without the compiler.

The rules are Coral's "TensorFlow models on the Edge TPU" (coral.ai/docs/edgetpu/models-intro,
"Model requirements" and "Supported operations"):

* tensors are 8-bit quantized (int8/uint8; int32 only for constant biases, shapes and
  axes). A float model input or output makes the converter add QUANTIZE / DEQUANTIZE
  ops on float tensors, which run on the CPU;
* tensor sizes are constant at compile time (no -1 in ``shape_signature``), batch 1, and
  a tensor of more than 3 dimensions may have only its 3 innermost dimensions above 1;
* model parameters (weights, biases) are constant;
* only the operators of the supported-operations table map, and only in versions the
  compiler knows (see :mod:`aoc_train.edgetpu_ops`: compiler 16 rejects op versions that
  newer TensorFlow emits and then refuses the whole model).

The compiler cuts the graph at the first operator it cannot map; that one and everything
after it run on the CPU. This check cannot see every limitation (sizes that do not fit,
"unspecified limitation"), so a compiled model's log stays the final word.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from aoc.errors import AocError
from aoc_train.edgetpu_ops import MAX_VERSION, PARAMETER_INPUTS, PARSE_MAX_VERSION, SUPPORTED
from aoc_train.tflite_schema import Model, Operator, Tensor, read_model

__all__ = [
    "EdgeTpuCheck",
    "EdgeTpuIncompatible",
    "OpRow",
    "check_loaded",
    "check_model",
    "format_table",
    "require_compatible",
]

log = logging.getLogger(__name__)

_QUANTIZED = {"int8", "uint8"}
SOFTMAX_MAX_ELEMENTS = 16_000


class EdgeTpuIncompatible(AocError, ValueError):
    """A model would not run (fully) on the Edge TPU; ``check`` holds the per-op table."""

    def __init__(self, message: str, *, check: EdgeTpuCheck) -> None:
        super().__init__(message)
        self.check = check


@dataclass(frozen=True)
class OpRow:
    """One operator of the model and whether it maps to the Edge TPU."""

    index: int
    op: str
    version: int
    inputs: tuple[str, ...]  # dtypes of the non-constant inputs
    outputs: tuple[str, ...]
    problem: str | None = None


@dataclass
class EdgeTpuCheck:
    """Result of :func:`check_model`: ``ok`` when every operator should map."""

    path: Path
    rows: list[OpRow]
    model_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No op stands in the way of compiling for the Edge TPU."""
        return not self.problems

    @property
    def problems(self) -> list[str]:
        """Every problem, model-wide first, then per operator (``#3 SOFTMAX v3: why``)."""
        per_op = [f"#{r.index} {r.op} v{r.version}: {r.problem}" for r in self.rows if r.problem]
        return [*self.model_problems, *per_op]

    @property
    def operators(self) -> list[OpRow]:
        """Alias of ``rows``."""
        return self.rows

    def table(self) -> str:
        """The per-operator table (see :func:`format_table`)."""
        return format_table(self)


def check_model(path: str | Path) -> EdgeTpuCheck:
    """Check ``path`` against the Edge TPU's model requirements, operator by operator."""
    path = Path(path)
    return check_loaded(read_model(path), path)


def check_loaded(model: Model, path: str | Path = "<model>") -> EdgeTpuCheck:
    """:func:`check_model` for an already parsed model (``path`` only names it)."""
    path = Path(path)
    check = EdgeTpuCheck(path=path, rows=[], model_problems=_model_problems(model))
    for op in model.operators:
        check.rows.append(_row(model, op))
    log.info("Edge TPU check of %s: %d ops, %d problems", path, len(check.rows),
             len(check.problems))
    return check


def require_compatible(path: str | Path) -> EdgeTpuCheck:
    """:func:`check_model`, raising :class:`EdgeTpuIncompatible` if anything would fall back."""
    check = check_model(path)
    if not check.ok:
        bad = sorted({r.op for r in check.rows if r.problem})
        lines = "\n".join(f"  - {p}" for p in check.problems)
        raise EdgeTpuIncompatible(
            f"{check.path} would not run fully on the Edge TPU"
            + (f" (operators {', '.join(bad)} would fall back to the CPU" if bad else "")
            + (", and the compiler runs everything after the first of them on the CPU too)"
               if bad else "")
            + f":\n{lines}\nfix the model (full-int8 with uint8 input/output, batch 1, "
            "supported ops) and export it again",
            check=check,
        )
    return check


def format_table(check: EdgeTpuCheck) -> str:
    """A fixed-width table: index, operator, version, in/out dtypes, Edge TPU verdict."""
    head = f"{'#':>3}  {'operator':<24} {'ver':>3}  {'inputs':<16} {'outputs':<10} edge tpu"
    lines = [f"Edge TPU check: {check.path}", head, "-" * len(head)]
    for r in check.rows:
        verdict = "ok" if r.problem is None else f"CPU: {r.problem}"
        lines.append(
            f"{r.index:>3}  {r.op:<24} {r.version:>3}  {','.join(r.inputs) or '-':<16} "
            f"{','.join(r.outputs) or '-':<10} {verdict}"
        )
    for problem in check.model_problems:
        lines.append(f"model: {problem}")
    mapped = sum(r.problem is None for r in check.rows)
    lines.append(
        f"{mapped} of {len(check.rows)} operators should map to the Edge TPU"
        + ("" if check.ok else f"; {len(check.problems)} problem(s)")
    )
    return "\n".join(lines)


def _model_problems(model: Model) -> list[str]:
    problems = []
    if model.subgraph_count > 1:
        problems.append(
            f"{model.subgraph_count} subgraphs (control flow): the Edge TPU compiles only "
            "the main one; remove tf.cond / while loops"
        )
    dynamic = [t for t in model.tensors if t.shape_signature and min(t.shape_signature) < 0]
    if dynamic:
        problems.append(
            f"{len(dynamic)} tensors have dynamic sizes (e.g. {dynamic[0].name!r} "
            f"{list(dynamic[0].shape_signature or ())}); compiler 16 fails on them ('a "
            "delegate that only supports static-sized tensors', google-coral/edgetpu#829): "
            "export with a fixed input signature of batch 1"
        )
    for index in model.inputs:
        tensor = model.tensors[index]
        if tensor.shape[:1] not in ((1,), ()):
            problems.append(
                f"input {tensor.name!r} has batch {tensor.shape[0]}: export with batch 1"
            )
    return problems


def _row(model: Model, op: Operator) -> OpRow:
    ins = [model.tensors[i] for i in op.inputs if i >= 0]
    outs = [model.tensors[i] for i in op.outputs if i >= 0]
    row = OpRow(
        index=op.index,
        op=op.opcode.name,
        version=op.opcode.version,
        inputs=tuple(t.dtype for t in ins if not t.is_constant),
        outputs=tuple(t.dtype for t in outs),
    )
    problem = _op_problem(op, ins, outs, model.tensors)
    return row if problem is None else replace(row, problem=problem)


def _op_problem(
    op: Operator, ins: list[Tensor], outs: list[Tensor], model_tensors: tuple[Tensor, ...]
) -> str | None:
    name, version = op.opcode.name, op.opcode.version
    if op.opcode.custom:
        if name == "edgetpu-custom-op":
            return "already compiled for the Edge TPU: check the CPU model instead"
        return f"custom op {name!r} is not supported by the Edge TPU"
    limit = PARSE_MAX_VERSION.get(name, MAX_VERSION.get(name))
    if limit is not None and version > limit:
        return (
            f"version {version} is newer than edgetpu_compiler 16 knows (max {limit}): the "
            "compiler refuses the whole model; convert with an older TensorFlow or another op"
        )
    if name == "QUANTIZE" and ins and ins[0].dtype.startswith("float"):
        return "quantizes a float input on the CPU: convert with inference_input_type=tf.uint8"
    if name == "DEQUANTIZE" or any(t.dtype.startswith("float") for t in outs):
        return "produces float output on the CPU: convert with inference_output_type=tf.uint8"
    if name not in SUPPORTED:
        return "not in the Edge TPU's supported operations"
    for slot in PARAMETER_INPUTS.get(name, ()):
        index = op.inputs[slot] if slot < len(op.inputs) else -1
        if index >= 0 and not model_tensors[index].is_constant:
            name_ = model_tensors[index].name
            return f"parameter {name_!r} is not constant: weights and biases must be fixed"
    for tensor in ins + outs:
        problem = _tensor_problem(tensor)
        if problem:
            return problem
    if name == "SOFTMAX" and ins and math.prod(ins[0].shape) > SOFTMAX_MAX_ELEMENTS:
        return (
            f"softmax over {math.prod(ins[0].shape)} elements: the Edge TPU takes at most "
            f"{SOFTMAX_MAX_ELEMENTS:,} (Coral's supported-operations table)"
        )
    return None


def _tensor_problem(tensor: Tensor) -> str | None:
    if tensor.dtype not in _QUANTIZED:
        if tensor.is_constant and tensor.dtype == "int32":
            return None  # quantized biases, shapes and axes are int32 constants
        return f"tensor {tensor.name!r} is {tensor.dtype}: the Edge TPU needs 8-bit quantized"
    if not tensor.scales:
        return f"tensor {tensor.name!r} is {tensor.dtype} without quantization parameters"
    # Weights (OHWI filters) are exempt: the rule is about the data flowing through.
    if not tensor.is_constant and len(tensor.shape) > 3 and any(d > 1 for d in tensor.shape[:-3]):
        return (
            f"tensor {tensor.name!r} has shape {list(tensor.shape)}: beyond 3 dimensions only "
            "the 3 innermost may exceed 1 (batch 1)"
        )
    return None
