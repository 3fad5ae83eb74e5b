"""Model bundle manifest, schema v1: the ``input`` / ``output`` / ``edgetpu`` sections.

Frozen dataclasses that validate themselves (raising :class:`~aoc.errors.BundleError`
naming the dotted key), plus the checked reading of ``manifest.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from aoc.errors import BundleError

SCHEMA_VERSION = 1

# The fixed file names inside a bundle folder.
MANIFEST = "manifest.json"
CPU_MODEL = "model.tflite"
EDGETPU_MODEL = "model_edgetpu.tflite"
# Optional, informational: the float model the int8 one was quantized from, a reference
# for checking int8 against float. Listed (and verified) like any file; never run.
FLOAT_MODEL = "model_float.tflite"
LABELS = "labels.txt"
SUPPORTED_SCHEMA_VERSIONS = (1,)
INPUT_DTYPES = ("uint8", "int8", "float32")
RESIZE_POLICIES = ("stretch", "center_crop", "letterbox")
_KINDS = ("probabilities", "logits")
_ZERO_POINT_RANGE = {"uint8": (0, 255), "int8": (-128, 127), "float32": (-(2**31), 2**31 - 1)}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)  # type: ignore[arg-type]


def _require(ok: bool, key: str, what: str, value: object) -> None:
    if not ok:
        raise BundleError(f"key '{key}' must be {what}, not {value!r}")


def _check_choice(key: str, value: object, choices: Sequence[str]) -> None:
    _require(value in choices, key, "one of " + ", ".join(map(repr, choices)), value)


def _check_quant(prefix: str, dtype: str, scale: object, zero_point: object) -> None:
    _check_choice(f"{prefix}.dtype", dtype, INPUT_DTYPES)
    _require(_is_number(scale) and scale > 0, f"{prefix}.scale", "a positive number", scale)  # type: ignore[operator]
    lo, hi = _ZERO_POINT_RANGE[dtype]
    _require(
        _is_int(zero_point) and lo <= zero_point <= hi,  # type: ignore[operator]
        f"{prefix}.zero_point",
        f"an int in [{lo}, {hi}] for {dtype}",
        zero_point,
    )


@dataclass(frozen=True)
class InputSpec:
    """How a frame becomes the model's input tensor (manifest key ``input``)."""

    width: int
    height: int
    channels: int = 3
    layout: str = "NHWC"
    color_order: str = "RGB"
    dtype: str = "uint8"
    resize: str = "stretch"
    scale: float = 1.0
    zero_point: int = 0
    value_range: tuple[float, float] = (0.0, 255.0)

    def __post_init__(self) -> None:
        for key in ("width", "height"):
            value = getattr(self, key)
            _require(_is_int(value) and value > 0, f"input.{key}", "a positive int", value)
        channels = self.channels
        _require(channels == 3 and _is_int(channels), "input.channels", "3", channels)
        _check_choice("input.layout", self.layout, ("NHWC",))
        _check_choice("input.color_order", self.color_order, ("RGB",))
        _check_choice("input.resize", self.resize, RESIZE_POLICIES)
        _check_quant("input", self.dtype, self.scale, self.zero_point)
        rng = self.value_range
        _require(
            isinstance(rng, list | tuple) and len(rng) == 2 and all(map(_is_number, rng))
            and rng[0] < rng[1],
            "input.value_range",
            "[lo, hi] with lo < hi",
            rng,
        )
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "value_range", (float(rng[0]), float(rng[1])))

    def to_dict(self) -> dict[str, Any]:
        """The manifest form (JSON types)."""
        data = asdict(self)
        data["value_range"] = list(self.value_range)
        return data


@dataclass(frozen=True)
class OutputSpec:
    """How to read the model's output tensor (manifest key ``output``).

    The defaults are TFLite's fixed quantization of a uint8 softmax output (1/256, 0).
    """

    dtype: str = "uint8"
    kind: str = "probabilities"
    scale: float = 1.0 / 256.0
    zero_point: int = 0

    def __post_init__(self) -> None:
        _check_choice("output.kind", self.kind, _KINDS)
        _check_quant("output", self.dtype, self.scale, self.zero_point)
        object.__setattr__(self, "scale", float(self.scale))

    def to_dict(self) -> dict[str, Any]:
        """The manifest form (JSON types)."""
        return asdict(self)


@dataclass(frozen=True)
class EdgeTpuInfo:
    """Whether an Edge TPU model exists and why not (manifest key ``edgetpu``)."""

    compiled: bool
    reason: str | None = None
    compiler_version: str | None = None
    summary: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        compiled = self.compiled
        _require(isinstance(compiled, bool), "edgetpu.compiled", "true or false", compiled)
        for key in ("reason", "compiler_version"):
            value = getattr(self, key)
            ok = value is None or isinstance(value, str)
            _require(ok, f"edgetpu.{key}", "a str or null", value)
        _require(
            self.summary is None or isinstance(self.summary, dict),
            "edgetpu.summary",
            "an object or null",
            self.summary,
        )

    def to_dict(self) -> dict[str, Any]:
        """The manifest form (JSON types)."""
        return asdict(self)


def parse_specs(
    manifest: Mapping[str, Any], where: Path
) -> tuple[InputSpec, OutputSpec, EdgeTpuInfo]:
    """The ``input``, ``output`` and ``edgetpu`` sections, each key type-checked."""
    result = []
    for key, cls in (("input", InputSpec), ("output", OutputSpec), ("edgetpu", EdgeTpuInfo)):
        section = manifest_key(manifest, key, dict, where)
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in section]
        if missing:
            raise BundleError(
                f"{where}: key '{key}.{missing[0]}' is missing; rebuild the bundle with aoc-train",
                path=where,
            )
        try:
            result.append(cls(**{name: section[name] for name in names}))
        except BundleError as exc:
            raise BundleError(
                f"{where}: {exc}; rebuild the bundle with aoc-train", path=where
            ) from None
    return result[0], result[1], result[2]  # type: ignore[return-value]


def manifest_key(
    mapping: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    where: Path,
    *,
    parent: str | None = None,
) -> Any:
    """``mapping[key]`` checked against ``kind``, else a BundleError naming file and key."""
    dotted = f"{parent}.{key}" if parent else key
    if key not in mapping:
        raise BundleError(
            f"{where}: key '{dotted}' is missing; rebuild the bundle with aoc-train",
            path=where,
        )
    value = mapping[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise BundleError(
            f"{where}: key '{dotted}' must be {names}, not {type(value).__name__}; rebuild "
            "the bundle with aoc-train",
            path=where,
        )
    return value


def read_manifest(path: Path) -> dict[str, Any]:
    """Read ``manifest.json`` as a dict, refusing bad JSON and unknown schema versions."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BundleError(
            f"{path.parent} holds no {path.name}, so it is not a model bundle: give a folder built "
            "by aoc-train, or a bare --model with --labels",
            path=path,
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(
            f"{path} cannot be read ({exc}): re-copy the bundle or rebuild it with aoc-train",
            path=path,
        ) from exc
    try:
        manifest = json.loads(text)
    except RecursionError:  # "[[[[...": nested deeper than the parser's stack
        raise BundleError(f"{path} is nested too deeply to be a manifest: re-copy the bundle "
                          "or rebuild it with aoc-train", path=path) from None
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}): "
            "re-copy the bundle or rebuild it with aoc-train",
            path=path,
        ) from None
    if not isinstance(manifest, dict):
        raise BundleError(
            f"{path} must hold a JSON object, not {type(manifest).__name__}: rebuild the bundle "
            "with aoc-train",
            path=path,
        )
    version = manifest_key(manifest, "schema_version", int, path)
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        reads = ", ".join(map(str, SUPPORTED_SCHEMA_VERSIONS))
        fix = (
            "upgrade the device software (aoc) to read it"
            if version > max(SUPPORTED_SCHEMA_VERSIONS)
            else "rebuild the bundle with this version's aoc-train"
        )
        raise BundleError(
            f"{path} has schema_version {version} but this build reads version {reads}: {fix}",
            path=path,
        )
    return manifest
