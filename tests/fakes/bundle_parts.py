"""Shared inputs for the bundle tests: fake model files and a ``write_bundle`` with defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aoc.inference.bundle import Bundle
from aoc.inference.bundle_spec import InputSpec, OutputSpec
from aoc.inference.bundle_write import write_bundle

LABELS = ("anime", "cartoon", "neither")
# Fake model bytes: the bundle never parses models, only hashes them. The Edge TPU one
# carries the custom op name, which is how bare_bundle recognises a compiled model.
CPU_BYTES = b"TFL3 fake cpu model"
TPU_BYTES = b"TFL3 fake model with edgetpu-custom-op inside"


def write_sources(tmp_path: Path) -> dict[str, Path]:
    """A CPU model, an Edge TPU model and a picture under ``tmp_path/src``."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.tflite").write_bytes(CPU_BYTES)
    (src / "m_edgetpu.tflite").write_bytes(TPU_BYTES)
    (src / "confusion.png").write_bytes(b"\x89PNG fake")
    return {"cpu": src / "m.tflite", "tpu": src / "m_edgetpu.tflite", "png": src / "confusion.png"}


def make(out: Path, sources: dict[str, Path], **overrides: Any) -> Bundle:
    """``write_bundle`` with everything required filled in; ``overrides`` replace any of it."""
    kwargs: dict[str, Any] = {
        "cpu_model": sources["cpu"],
        "labels": LABELS,
        "input_spec": InputSpec(224, 224, scale=1 / 255, zero_point=0),
        "output_spec": OutputSpec(),
        "provenance": {"seed": 1, "data_dir": Path("/data")},
        "metrics": {"accuracy": 0.9},
    }
    kwargs.update(overrides)
    return write_bundle(out, **kwargs)


def make_bundle_dir(tmp_path: Path, sources: dict[str, Path]) -> Path:
    """A bundle with both models at ``tmp_path/bundle``."""
    out = tmp_path / "bundle"
    make(out, sources, edgetpu_model=sources["tpu"])
    return out
