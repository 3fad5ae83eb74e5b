"""Stages after export: Edge TPU check, compile, bundle, evaluate, report.

The Edge TPU check and the compiler live in :mod:`aoc_train.edgetpu_check` and
:mod:`aoc_train.compiler`; the bundle is written and read with :mod:`aoc.inference.bundle`.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import TrainError

if TYPE_CHECKING:
    from .pipeline import Pipeline

log = logging.getLogger(__name__)

SPLIT_RATIONALE = (
    "Why these sources: each held-out source is a style that independent collectors also "
    "supply to training (anime face crops from three other scrapers; Simpsons art and frames "
    "from two other sets), so the test measures generalisation to a new collector without "
    "removing a style found nowhere else: Tom & Jerry, clip art, anime wallpapers and full "
    "character art are the only examples of their kind and stay in training. 'neither' has "
    "only two, very different sources (ImageNet scenes, studio portraits); holding either out "
    "would leave the class one kind of photo, so 20 % of each is held out instead."
)


def run_check(model: Path, table_file: Path, *,
              say: Callable[[str], object]) -> dict[str, Any]:
    """Per-operator Edge TPU compatibility of ``model``, its table written to ``table_file``
    and passed to ``say``; raises when an op would run on CPU."""
    try:
        from . import edgetpu_check
    except ImportError as exc:  # written by another engineer; absent in early checkouts
        log.warning("Edge TPU check skipped: %s", exc)
        return {"ok": None, "note": f"aoc_train.edgetpu_check unavailable: {exc}"}
    report = edgetpu_check.check_model(model)
    table = table_text(report)
    table_file.write_text(table + "\n")
    say(table)
    ok = bool(getattr(report, "ok", True))
    if not ok:
        raise TrainError(f"Edge TPU check of {model} failed: some operators would fall back "
                         f"to the CPU:\n{table}\nchange the model so every op is supported")
    return {"ok": ok, "ops": _op_count(report)}


def table_text(report: Any) -> str:
    """The printable operator table of an :mod:`aoc_train.edgetpu_check` report."""
    for name in ("table", "format_table", "to_text"):
        attr = getattr(report, name, None)
        if callable(attr):
            return str(attr())
        if isinstance(attr, str):
            return attr
    return str(report)


def _op_count(report: Any) -> int:
    ops = getattr(report, "ops", None) or getattr(report, "operators", None) or ()
    return len(ops)


def run_compile(model: Path, out_dir: Path) -> dict[str, Any]:
    """Run edgetpu_compiler when present; otherwise record why the bundle is CPU-only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"compiled": False, "reason": None, "compiler_version": None,
                            "summary": None, "model": None}
    from . import compiler

    try:
        result = compiler.compile_model(model, out_dir)
    except compiler.CompilerNotFound as exc:
        # the manifest travels to the device: name the bundle's file, not this host's path
        info["reason"] = str(exc).splitlines()[0].replace(str(model), model.name)
        log.warning("%s", exc)
    else:
        if getattr(result.log, "ops_on_cpu", None):
            raise TrainError(f"edgetpu_compiler mapped only part of {model}: "
                             f"{result.log.ops_on_cpu} operations would run on the CPU; see "
                             f"{out_dir} for the compiler log and change the model")
        info.update(compiled=True, model=str(result.model),
                    compiler_version=getattr(result, "version", None),
                    summary=getattr(result, "summary", None))
    (out_dir / "compile.json").write_text(json.dumps(info, indent=1, default=str))
    return {"compiled": info["compiled"], "reason": info["reason"] or ""}


def write(p: Pipeline, *, metrics: dict, extra_files: dict[str, Path],
          out: Path | None = None) -> Path:
    """Write the bundle to ``out`` (default ``config.out``): models, labels, manifest,
    reports. Its name is that of ``config.out`` either way.

    The float model goes in too, as ``model_float.tflite``: a reference for checking the
    int8 model against float; the device never runs it.
    """
    from aoc.inference.bundle_spec import EdgeTpuInfo, InputSpec, OutputSpec
    from aoc.inference.bundle_write import write_bundle

    c = p.config
    export_file = p.work / "export" / "export.json"
    if not export_file.is_file():  # evaluate or bundle run before export: say which first
        from .errors import TrainError

        raise TrainError(f"no exported model at {export_file.parent}; run 'aoc-train export' "
                         "first (or 'aoc-train build', which runs every stage)")
    export = json.loads(export_file.read_text())
    comp_file = p.work / "edgetpu" / "compile.json"
    comp = json.loads(comp_file.read_text()) if comp_file.is_file() else {
        "compiled": False, "reason": "compile stage not run", "compiler_version": None,
        "summary": None, "model": None}
    ins, outs = export["input"], export["output"]
    float_model = p.work / "export" / "model_float.tflite"
    if not float_model.is_file():  # work folders exported before the float model was kept
        log.warning("%s is missing; the bundle ships without the float model", float_model)
    target = Path(c.out) if out is None else Path(out)
    write_bundle(
        target,
        cpu_model=p.work / "export" / "model.tflite",
        labels=list(p.dataset.classes),
        input_spec=InputSpec(width=c.side, height=c.side, dtype=ins["dtype"],
                             resize="center_crop", scale=ins["scale"],
                             zero_point=ins["zero_point"], value_range=(0.0, 255.0)),
        output_spec=OutputSpec(dtype=outs["dtype"], kind="probabilities", scale=outs["scale"],
                               zero_point=outs["zero_point"]),
        edgetpu_model=Path(comp["model"]) if comp["compiled"] else None,
        edgetpu_info=EdgeTpuInfo(compiled=bool(comp["compiled"]), reason=comp["reason"],
                                 compiler_version=comp["compiler_version"],
                                 summary=comp["summary"]),
        float_model=float_model if float_model.is_file() else None,
        provenance=provenance(p),
        metrics=metrics,
        extra_files=extra_files,
        name=c.name or Path(c.out).name,
    )
    return target


def git_commit() -> str:
    """Short hash of the working tree's HEAD, or "unknown"."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(p: Pipeline) -> dict[str, Any]:
    """Tool versions, data, split and settings for the manifest."""
    import numpy

    versions: dict[str, str] = {"python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    except ImportError:
        versions["tensorflow"] = "absent"
    from .data import source_counts

    cfg = p.config.to_dict()
    return {
        "tool": "aoc-train", "versions": versions, "git_commit": git_commit(),
        "data_dir": cfg["data_dir"], "data_fingerprint": p.dataset.fingerprint(),
        "sources": source_counts(p.dataset.records), "seed": p.config.seed,
        "split": {"holdout_sources": list(p.split.holdout_sources),
                  "class_test_fraction": p.config.class_test_fraction,
                  "val_fraction": p.config.val_fraction,
                  "counts": {n: len(p.split.indices(n)) for n in ("train", "val", "test")},
                  "cross_split_duplicates_removed": len(p.split.duplicates)},
        "config": {k: v for k, v in cfg.items() if k not in ("out", "work_dir")},
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
    }
