"""A minimal reader of TensorFlow Lite flatbuffers (``.tflite``), stdlib only.

Reads just what the Edge TPU check needs: operator codes (name, version, custom code),
the main subgraph's tensors (type, shape, shape signature, quantization, constant data)
and operators. Field numbers follow TensorFlow Lite's ``schema.fbs``; unknown fields are
ignored, so newer models still read. No TensorFlow and no ``flatbuffers`` package: the
check must run on any host, and its tests must not need TensorFlow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from aoc.errors import AocError

__all__ = ["Model", "OpCode", "Operator", "Tensor", "TfliteFormatError", "read_model"]

# BuiltinOperator enum of schema.fbs, by value (generated from TensorFlow 2.21's schema).
BUILTIN_NAMES = tuple(
    """
ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE
EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D
LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1
RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS
SKIP_GRAM CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER
BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE
UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT
LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG
PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE
EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW ARG_MIN FAKE_QUANT REDUCE_PROD
REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK REDUCE_MIN FLOOR_DIV
REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR LEAKY_RELU
SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL REVERSE_V2 ADD_N GATHER_ND COS WHERE
RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE
NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM
BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D
IMAG REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL
CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS
RANDOM_STANDARD_NORMAL BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU DYNAMIC_UPDATE_SLICE
RELU_0_TO_1 UNSORTED_SEGMENT_PROD UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2
UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR RIGHT_SHIFT STABLEHLO_LOGISTIC STABLEHLO_ADD
STABLEHLO_DIVIDE STABLEHLO_MULTIPLY STABLEHLO_MAXIMUM STABLEHLO_RESHAPE STABLEHLO_CLAMP
STABLEHLO_CONCATENATE STABLEHLO_BROADCAST_IN_DIM STABLEHLO_CONVOLUTION STABLEHLO_SLICE
STABLEHLO_CUSTOM_CALL STABLEHLO_REDUCE STABLEHLO_ABS STABLEHLO_AND STABLEHLO_COSINE
STABLEHLO_EXPONENTIAL STABLEHLO_FLOOR STABLEHLO_LOG STABLEHLO_MINIMUM STABLEHLO_NEGATE
STABLEHLO_OR STABLEHLO_POWER STABLEHLO_REMAINDER STABLEHLO_RSQRT STABLEHLO_SELECT
STABLEHLO_SUBTRACT STABLEHLO_TANH STABLEHLO_SCATTER STABLEHLO_COMPARE STABLEHLO_CONVERT
STABLEHLO_DYNAMIC_SLICE STABLEHLO_DYNAMIC_UPDATE_SLICE STABLEHLO_PAD STABLEHLO_IOTA
STABLEHLO_DOT_GENERAL STABLEHLO_REDUCE_WINDOW STABLEHLO_SORT STABLEHLO_WHILE
STABLEHLO_GATHER STABLEHLO_TRANSPOSE DILATE STABLEHLO_RNG_BIT_GENERATOR REDUCE_WINDOW
STABLEHLO_COMPOSITE STABLEHLO_SHIFT_LEFT STABLEHLO_CBRT STABLEHLO_CASE
""".split()
)

TENSOR_TYPES = (
    "float32 float16 int32 uint8 int64 string bool int16 complex64 int8 float64 complex128 "
    "uint64 resource variant uint32 uint16 int4 bfloat16 int2 uint4 float8_e4m3fn float8_e5m2"
).split()


class TfliteFormatError(AocError, ValueError):
    """The file is not a readable TensorFlow Lite flatbuffer."""


@dataclass(frozen=True)
class OpCode:
    """One entry of the model's operator-code table."""

    name: str  # BuiltinOperator name, or the custom code for CUSTOM ops
    version: int
    custom: bool


@dataclass(frozen=True)
class Tensor:
    """A tensor of the main subgraph."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...] | None  # None when the model stores none (= shape)
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    is_constant: bool  # backed by a non-empty buffer


@dataclass(frozen=True)
class Operator:
    """An operator of the main subgraph."""

    index: int
    opcode: OpCode
    inputs: tuple[int, ...]  # tensor indices; -1 = optional input left out
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class Model:
    """The parts of a .tflite model the Edge TPU check reads."""

    schema_version: int
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraph_count: int


class _Table:
    """A flatbuffer table: fields located through its vtable."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        vtable = pos - _unpack(buf, "<i", pos)
        self.vtable = vtable
        self.vsize = _unpack(buf, "<H", vtable)

    def _field(self, index: int) -> int:
        entry = 4 + 2 * index
        if entry >= self.vsize:
            return 0
        offset = _unpack(self.buf, "<H", self.vtable + entry)
        return self.pos + offset if offset else 0

    def scalar(self, index: int, fmt: str, default: int | float = 0) -> int | float:
        at = self._field(index)
        return _unpack(self.buf, "<" + fmt, at) if at else default

    def _target(self, index: int) -> int:
        at = self._field(index)
        return at + _unpack(self.buf, "<I", at) if at else 0

    def table(self, index: int) -> _Table | None:
        at = self._target(index)
        return _Table(self.buf, at) if at else None

    def string(self, index: int) -> str | None:
        at = self._target(index)
        if not at:
            return None
        length = _unpack(self.buf, "<I", at)
        return self.buf[at + 4 : at + 4 + length].decode("utf-8", "replace")

    def vector(self, index: int, fmt: str) -> tuple:
        at = self._target(index)
        if not at:
            return ()
        length = _unpack(self.buf, "<I", at)
        size = struct.calcsize("<" + fmt)
        end = at + 4 + length * size
        if end > len(self.buf):
            raise struct.error("vector runs past the end of the file")
        return struct.unpack_from(f"<{length}{fmt}", self.buf, at + 4)

    def vector_len(self, index: int) -> int:
        at = self._target(index)
        return _unpack(self.buf, "<I", at) if at else 0

    def tables(self, index: int) -> list[_Table]:
        at = self._target(index)
        if not at:
            return []
        length = _unpack(self.buf, "<I", at)
        items = []
        for i in range(length):
            slot = at + 4 + 4 * i
            items.append(_Table(self.buf, slot + _unpack(self.buf, "<I", slot)))
        return items


def _unpack(buf: bytes, fmt: str, at: int) -> int:
    return struct.unpack_from(fmt, buf, at)[0]


def _opcode(table: _Table) -> OpCode:
    # Codes above 127 live in builtin_code (field 3); older files only fill the deprecated
    # int8 field 0. schema_utils.GetBuiltinCode takes the larger of the two.
    code = max(int(table.scalar(0, "b", 0)), int(table.scalar(3, "i", 0)))
    version = int(table.scalar(2, "i", 1))
    name = BUILTIN_NAMES[code] if 0 <= code < len(BUILTIN_NAMES) else f"BUILTIN_{code}"
    if name == "CUSTOM":
        return OpCode(table.string(1) or "CUSTOM", version, True)
    return OpCode(name, version, False)


def _tensor(table: _Table, buffers: list[_Table]) -> Tensor:
    type_code = int(table.scalar(1, "b", 0))
    dtype = TENSOR_TYPES[type_code] if 0 <= type_code < len(TENSOR_TYPES) else f"type{type_code}"
    quant = table.table(4)
    buffer_index = int(table.scalar(2, "I", 0))
    constant = False
    if 0 < buffer_index < len(buffers):
        data = buffers[buffer_index]
        # Buffers over 2 GB are stored after the flatbuffer: offset (1) / size (2).
        constant = data.vector_len(0) > 0 or int(data.scalar(2, "Q", 0)) > 0
    signature = table.vector(7, "i")
    return Tensor(
        name=table.string(3) or "",
        dtype=dtype,
        shape=tuple(table.vector(0, "i")),
        shape_signature=tuple(signature) if signature else None,
        scales=tuple(quant.vector(2, "f")) if quant else (),
        zero_points=tuple(quant.vector(3, "q")) if quant else (),
        is_constant=constant,
    )


def read_model(path: str | Path) -> Model:
    """Parse ``path``; raise :class:`TfliteFormatError` naming the file when it cannot."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise TfliteFormatError(
            f"cannot read model {path} ({exc.strerror or exc}): check the path"
        ) from exc
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TfliteFormatError(
            f"{path} is not a TensorFlow Lite model (no TFL3 identifier): export it with "
            "aoc-train or TFLiteConverter"
        )
    try:
        root = _Table(buf, _unpack(buf, "<I", 0))
        codes = [_opcode(t) for t in root.tables(1)]
        subgraphs = root.tables(2)
        if not subgraphs:
            raise TfliteFormatError(f"{path} has no subgraph: re-export the model")
        main = subgraphs[0]
        buffers = root.tables(4)
        tensors = tuple(_tensor(t, buffers) for t in main.tables(0))
        operators = tuple(
            Operator(
                index=i,
                opcode=codes[int(op.scalar(0, "I", 0))],
                inputs=tuple(op.vector(1, "i")),
                outputs=tuple(op.vector(2, "i")),
            )
            for i, op in enumerate(main.tables(3))
        )
        return Model(
            schema_version=int(root.scalar(0, "I", 0)),
            tensors=tensors,
            operators=operators,
            inputs=tuple(main.vector(1, "i")),
            outputs=tuple(main.vector(2, "i")),
            subgraph_count=len(subgraphs),
        )
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise TfliteFormatError(
            f"{path} is a truncated or corrupt TensorFlow Lite model ({exc}): re-export it"
        ) from exc
