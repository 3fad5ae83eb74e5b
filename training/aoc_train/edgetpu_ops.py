"""What edgetpu_compiler 16 (16.0.384591198, the last release) maps and which op versions it reads.

Two tables, both keyed by TFLite builtin operator name:

``MAX_VERSION`` -- operators of Coral's supported-operations table
(coral.ai/docs/edgetpu/models-intro/#supported-operations) with the highest version the
compiler is taken to know. The compiler embeds a TFLite snapshot; a newer op version makes
its parser fail for the whole model ("Didn't find op for builtin opcode 'CONV_2D' version
'6' ... Registration failed ... Model could not be parsed"). Evidence, from the
google-coral/edgetpu issue tracker, with compiler 16.0.384591198:

* CONV_2D v6 rejected with TF 2.9.1 (issue #631); v5 compiles (TF 2.8.2 advised there);
* QUANTIZE v3 rejected (issue #879); TRANSPOSE_CONV v4 rejected (issue #845);
* EXP v2 rejected (TF 2.16; tensorflow/tflite-micro #2633, google-coral/libedgetpu #71).

TensorFlow's ``lite/tools/versioning/runtime_version.cc`` dates every op version: CONV_2D v5
is 2.4.0, v6 2.9.0; QUANTIZE v3 2.7.0. The rejections all need TF >= 2.7 and the accepted
ones are older, which fits the compiler's build (changelist 384591198, mid-2021, the TF 2.6
cycle). So each limit below is the highest version that runtime_version.cc dates 2.6.0 or
earlier. Versions dated exactly 2.6.0 (ADD 4, MUL 5, PAD 4, STRIDED_SLICE 6) are the least
certain: no public log confirms or refutes them.

``PARSE_MAX_VERSION`` -- operators the Edge TPU never maps, with the same parse limit, so the
check can say "the compiler will refuse this model" rather than "this op runs on the CPU".
Operators that did not exist before TF 2.7 get 0: any version is unreadable to compiler 16.
"""

from __future__ import annotations

MAX_VERSION: dict[str, int] = {
    "ADD": 4,
    "AVERAGE_POOL_2D": 3,
    "CONCATENATION": 3,
    "CONV_2D": 5,  # v6 (TF 2.9) rejected: google-coral/edgetpu#631
    "DEPTHWISE_CONV_2D": 6,
    "EXPAND_DIMS": 1,
    "FULLY_CONNECTED": 9,
    "L2_NORMALIZATION": 2,
    "LOGISTIC": 3,
    "LSTM": 4,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": 3,  # Coral: "unidirectional LSTM only"
    "MAXIMUM": 4,
    "MAX_POOL_2D": 3,
    "MEAN": 3,
    "MINIMUM": 4,
    "MUL": 5,
    "PACK": 3,
    "PAD": 4,
    "PRELU": 1,
    "QUANTIZE": 2,  # v3 (TF 2.7) rejected: google-coral/edgetpu#879
    "REDUCE_MAX": 3,
    "REDUCE_MIN": 3,
    "RELU": 3,
    "RELU6": 3,
    "RELU_N1_TO_1": 1,
    "RESHAPE": 1,
    "RESIZE_BILINEAR": 4,
    "RESIZE_NEAREST_NEIGHBOR": 4,
    "RSQRT": 2,
    "SLICE": 5,
    "SOFTMAX": 3,  # Coral: 1-D input of at most 16,000 elements
    "SPACE_TO_DEPTH": 2,
    "SPLIT": 4,
    "SQUARED_DIFFERENCE": 2,
    "SQUEEZE": 2,
    "STRIDED_SLICE": 6,
    "SUB": 5,
    "SUM": 2,
    "TANH": 3,
    "TRANSPOSE": 5,
}

SUPPORTED: frozenset[str] = frozenset(MAX_VERSION)

PARSE_MAX_VERSION: dict[str, int] = {
    "DEQUANTIZE": 4,  # v5 is TF 2.7
    "TRANSPOSE_CONV": 3,  # v4 rejected: google-coral/edgetpu#845
    "EXP": 1,  # v2 rejected: tensorflow/tflite-micro#2633
    "CAST": 1,  # v2 is TF 2.7
    "TILE": 2,  # v3 is TF 2.8
    "ARG_MAX": 2,  # v3 is TF 2.9
    "ARG_MIN": 2,
    "WHERE": 1,  # v2 is TF 2.8
    "LEAKY_RELU": 2,
    "HARD_SWISH": 1,
    "GATHER": 5,
    "BATCH_MATMUL": 4,
    "DEPTH_TO_SPACE": 2,
    # Builtins added in TF 2.7 or later: compiler 16 cannot read them at all.
    "RELU_0_TO_1": 0,
    "GELU": 0,
    "DYNAMIC_UPDATE_SLICE": 0,
    "BUCKETIZE": 0,
    "RANDOM_UNIFORM": 0,
    "RANDOM_STANDARD_NORMAL": 0,
    "MULTINOMIAL": 0,
    "UNSORTED_SEGMENT_PROD": 0,
    "UNSORTED_SEGMENT_MAX": 0,
    "UNSORTED_SEGMENT_MIN": 0,
    "UNSORTED_SEGMENT_SUM": 0,
    "ATAN2": 0,
}

# Input slots that hold model parameters, which Coral requires to be compile-time constants
# ("Model parameters (such as bias tensors) are constant at compile-time").
PARAMETER_INPUTS: dict[str, tuple[int, ...]] = {
    "CONV_2D": (1, 2),
    "DEPTHWISE_CONV_2D": (1, 2),
    "FULLY_CONNECTED": (1, 2),
    "PRELU": (1,),
}
