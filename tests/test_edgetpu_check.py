"""Tests for aoc_train.edgetpu_check (and its flatbuffer reader) on committed tiny models.

The models in tests/data/edgetpu/ come from make_models.py (TensorFlow 2.21); these tests
need no TensorFlow.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aoc.errors import AocError
from aoc_train.edgetpu_check import (
    EdgeTpuIncompatible,
    check_loaded,
    check_model,
    format_table,
    require_compatible,
)
from aoc_train.tflite_schema import OpCode, TfliteFormatError, _Table, read_model

DATA = Path(__file__).parent / "data" / "edgetpu"
OK = DATA / "ok_int8.tflite"
FLOAT_IO = DATA / "float_io_dynamic.tflite"
LEAKY = DATA / "leaky_relu_int8.tflite"
OK_OPS = [
    ("QUANTIZE", 1), ("MUL", 2), ("ADD", 2), ("CONV_2D", 3), ("DEPTHWISE_CONV_2D", 3),
    ("MEAN", 2), ("FULLY_CONNECTED", 4), ("SOFTMAX", 2), ("QUANTIZE", 1),
]


def test_reader_sees_the_operators_and_tensors() -> None:
    model = read_model(OK)
    assert [(op.opcode.name, op.opcode.version) for op in model.operators] == OK_OPS
    assert model.subgraph_count == 1
    (inp,), (out,) = model.inputs, model.outputs
    assert model.tensors[inp].dtype == "uint8" and model.tensors[inp].shape == (1, 32, 32, 3)
    assert model.tensors[out].dtype == "uint8" and model.tensors[out].shape == (1, 3)
    assert model.tensors[out].scales == pytest.approx((1 / 256,))
    conv = model.operators[3]
    weights = model.tensors[conv.inputs[1]]
    assert weights.is_constant and weights.dtype == "int8" and weights.shape == (8, 3, 3, 3)
    assert not model.tensors[conv.inputs[0]].is_constant


def test_fully_supported_model_is_ok() -> None:
    check = check_model(OK)
    assert check.ok and check.problems == []
    assert [(r.op, r.version) for r in check.rows] == OK_OPS
    assert check.rows[0].inputs == ("uint8",) and check.rows[0].outputs == ("int8",)
    assert require_compatible(OK).ok
    table = format_table(check)
    assert table == check.table()
    assert "9 of 9 operators should map to the Edge TPU" in table
    assert "  3  CONV_2D                    3  int8             int8       ok" in table


def test_float_input_output_and_dynamic_batch_are_flagged() -> None:
    check = check_model(FLOAT_IO)
    assert not check.ok
    bad = {r.op: r.problem for r in check.rows if r.problem}
    assert set(bad) == {"QUANTIZE", "DEQUANTIZE"}
    assert "inference_input_type=tf.uint8" in bad["QUANTIZE"]
    assert "inference_output_type=tf.uint8" in bad["DEQUANTIZE"]
    (model_problem,) = check.model_problems
    assert "dynamic sizes" in model_problem and "[-1, 32, 32, 3]" in model_problem
    assert "7 of 9 operators" in check.table()


def test_unsupported_operator() -> None:
    check = check_model(LEAKY)
    (row,) = [r for r in check.rows if r.problem]
    assert (row.index, row.op) == (4, "LEAKY_RELU")
    assert "not in the Edge TPU's supported operations" in row.problem
    assert "CPU: not in the Edge TPU" in check.table()


def test_require_compatible_names_the_ops_and_why() -> None:
    with pytest.raises(EdgeTpuIncompatible) as info:
        require_compatible(LEAKY)
    message = str(info.value)
    assert str(LEAKY) in message
    assert "operators LEAKY_RELU would fall back to the CPU" in message
    assert "#4 LEAKY_RELU v1: not in the Edge TPU's supported operations" in message
    assert isinstance(info.value, AocError) and isinstance(info.value, ValueError)
    assert info.value.check.rows[4].op == "LEAKY_RELU"


def _patch_version(data: bytes, op_name: str, version: int) -> bytes:
    """Rewrite one operator code's stored version in place (the field must be present)."""
    root = _Table(data, int.from_bytes(data[:4], "little"))
    for code in root.tables(1):
        if max(code.scalar(0, "b"), code.scalar(3, "i")) == _BUILTIN[op_name]:
            at = code._field(2)
            assert at, "version field not stored"
            buf = bytearray(data)
            buf[at : at + 4] = version.to_bytes(4, "little")
            return bytes(buf)
    raise AssertionError(f"{op_name} not in model")


_BUILTIN = {"CONV_2D": 3, "SOFTMAX": 25}


def test_op_version_newer_than_compiler_16(tmp_path: Path) -> None:
    # CONV_2D v6 (TF 2.9) is what google-coral/edgetpu#631 shows compiler 16 refusing.
    path = tmp_path / "conv_v6.tflite"
    path.write_bytes(_patch_version(OK.read_bytes(), "CONV_2D", 6))
    check = check_model(path)
    (row,) = [r for r in check.rows if r.problem]
    assert (row.op, row.version) == ("CONV_2D", 6)
    assert "newer than edgetpu_compiler 16 knows (max 5)" in row.problem
    assert "refuses the whole model" in row.problem


def _model_with(op_index: int, **changes: object):
    model = read_model(OK)
    ops = list(model.operators)
    ops[op_index] = replace(ops[op_index], **changes)
    return replace(model, operators=tuple(ops))


def test_custom_ops() -> None:
    compiled = _model_with(3, opcode=OpCode("edgetpu-custom-op", 1, True))
    assert "already compiled" in check_loaded(compiled).rows[3].problem
    other = _model_with(3, opcode=OpCode("TFLite_Detection_PostProcess", 1, True))
    assert "custom op 'TFLite_Detection_PostProcess'" in check_loaded(other).rows[3].problem


def test_tensor_rules() -> None:
    model = read_model(OK)
    conv = model.operators[3]
    tensors = list(model.tensors)
    weights, activation = conv.inputs[1], conv.inputs[0]

    tensors[weights] = replace(tensors[weights], is_constant=False)
    problem = check_loaded(replace(model, tensors=tuple(tensors))).rows[3].problem
    assert "is not constant" in problem

    tensors = list(model.tensors)
    tensors[weights] = replace(tensors[weights], dtype="float32")
    assert "is float32" in check_loaded(replace(model, tensors=tuple(tensors))).rows[3].problem

    tensors = list(model.tensors)
    tensors[activation] = replace(tensors[activation], shape=(2, 1, 32, 32, 3))
    problem = check_loaded(replace(model, tensors=tuple(tensors))).rows[3].problem
    assert "only the 3 innermost" in problem

    tensors = list(model.tensors)
    tensors[activation] = replace(tensors[activation], scales=())
    problem = check_loaded(replace(model, tensors=tuple(tensors))).rows[3].problem
    assert "without quantization parameters" in problem


def test_softmax_size_limit() -> None:
    model = read_model(OK)
    softmax = model.operators[7]
    tensors = list(model.tensors)
    tensors[softmax.inputs[0]] = replace(tensors[softmax.inputs[0]], shape=(1, 16001))
    problem = check_loaded(replace(model, tensors=tuple(tensors))).rows[7].problem
    assert "softmax over 16001 elements" in problem and "16,000" in problem


def test_model_rules() -> None:
    model = read_model(OK)
    tensors = list(model.tensors)
    (inp,) = model.inputs
    tensors[inp] = replace(tensors[inp], shape=(4, 32, 32, 3))
    check = check_loaded(replace(model, tensors=tuple(tensors), subgraph_count=2))
    assert any("2 subgraphs" in p for p in check.model_problems)
    assert any("has batch 4" in p for p in check.model_problems)
    assert not check.ok
    assert "model: 2 subgraphs" in check.table()


def test_not_a_model(tmp_path: Path) -> None:
    bogus = tmp_path / "x.tflite"
    bogus.write_bytes(b"not a model at all")
    with pytest.raises(TfliteFormatError, match="not a TensorFlow Lite model"):
        check_model(bogus)
    truncated = tmp_path / "t.tflite"
    truncated.write_bytes(OK.read_bytes()[:600])
    with pytest.raises(TfliteFormatError, match="truncated or corrupt"):
        check_model(truncated)
    with pytest.raises(TfliteFormatError, match="cannot read model"):
        check_model(tmp_path / "missing.tflite")


@pytest.mark.parametrize("path", [OK, FLOAT_IO, LEAKY], ids=lambda p: p.stem)
def test_reader_agrees_with_the_official_schema(path: Path) -> None:
    """Cross-check the hand-written reader against flatc-generated code, when installed."""
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    data = path.read_bytes()
    official = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    graph, mine = official.subgraphs[0], read_model(path)
    assert tuple(graph.inputs) == mine.inputs and tuple(graph.outputs) == mine.outputs
    assert len(graph.operators) == len(mine.operators)
    for theirs, ours in zip(graph.operators, mine.operators, strict=True):
        code = official.operatorCodes[theirs.opcodeIndex]
        assert names[max(code.deprecatedBuiltinCode, code.builtinCode)] == ours.opcode.name
        assert code.version == ours.opcode.version
        assert (tuple(theirs.inputs), tuple(theirs.outputs)) == (ours.inputs, ours.outputs)
    for theirs, ours in zip(graph.tensors, mine.tensors, strict=True):
        assert tuple(theirs.shape) == ours.shape
        signature = theirs.shapeSignature
        assert (tuple(signature) if signature is not None and len(signature) else None) == (
            ours.shape_signature)
        quant = theirs.quantization
        scales = () if quant is None or quant.scale is None else tuple(quant.scale)
        assert scales == pytest.approx(ours.scales)
        buffer = official.buffers[theirs.buffer]
        assert (theirs.buffer > 0 and buffer.data is not None and len(buffer.data) > 0) == (
            ours.is_constant)
