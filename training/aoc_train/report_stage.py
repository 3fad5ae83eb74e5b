"""The report stage: figures, report.md, model_card.md, final bundle with metrics."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import figures
from .bundle_stages import SPLIT_RATIONALE, git_commit, write
from .model_card import model_card_md
from .report import report_md, test_kind

if TYPE_CHECKING:
    from .pipeline import Pipeline


def _source_split(p: Pipeline) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for name in ("train", "val", "test"):
        for r in p.records(name):
            row = table.setdefault(r.source, {"label": r.label, "train": 0, "val": 0, "test": 0})
            row[name] += 1
    return table


def _stamp_summary(p: Pipeline, stage: str) -> dict[str, Any]:
    stamp = p.work / "stamps" / f"{stage}.json"
    return json.loads(stamp.read_text()).get("summary", {}) if stamp.is_file() else {}


def _stage_rows(p: Pipeline) -> list[dict[str, Any]]:
    rows = []
    for stage in ("fit", "export", "check", "compile", "evaluate"):
        stamp = p.work / "stamps" / f"{stage}.json"
        if stamp.is_file():
            rows.append({"stage": stage, "skipped": False,
                         "seconds": json.loads(stamp.read_text()).get("seconds", 0.0)})
    return rows


def _edgetpu_text(p: Pipeline) -> str:
    comp = p.work / "edgetpu" / "compile.json"
    check = p.work / "edgetpu_check.txt"
    parts = []
    if check.is_file():
        parts.append("operator check passed (every op maps to the Edge TPU).")
    if comp.is_file():
        info = json.loads(comp.read_text())
        parts.append("compiled with edgetpu_compiler " + str(info.get("compiler_version"))
                     if info["compiled"] else f"not compiled: {info['reason']} "
                     "(manifest edgetpu.compiled = false; the bundle runs on the CPU).")
    return " ".join(parts) or "not checked"


def run_report(p: Pipeline, *, command: str, wall_seconds: float,
               notes: str = "") -> dict[str, Any]:
    """Make figures and texts under ``work/report`` and write the bundle with them to
    ``--out``, once the quality gate passed (it raises DegenerateModelError otherwise)."""
    p.require_quality()
    c = p.config
    ev = json.loads((p.work / "eval.json").read_text())
    history = json.loads((p.work / "history.json").read_text()) if (
        p.work / "history.json").is_file() else {}
    rdir = p.work / "report"
    rdir.mkdir(parents=True, exist_ok=True)
    classes = list(p.dataset.classes)
    pngs = {
        "report/confusion.png": figures.confusion_png(
            {"float": ev["float"]["confusion"], "int8 (device path)": ev["int8"]["confusion"],
             "int8, screen-captured": ev["int8_screen"]["confusion"]},
            classes, rdir / "confusion.png"),
        "report/curves.png": figures.curves_png(history, rdir / "curves.png"),
        "report/augmentation.png": figures.augmentation_grid_png(
            rdir / "augmentation.png", seed=c.seed, screen_strength=c.screen_strength),
    }
    split_json = json.loads((p.work / "split.json").read_text())
    source_split = _source_split(p)
    try:
        import tensorflow as tf

        tf_version = tf.__version__
    except ImportError:
        tf_version = "absent"
    facts = {
        "name": c.name or Path(c.out).name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command, "git_commit": git_commit(), "tensorflow": tf_version,
        "wall_seconds": wall_seconds, "cpu": f"{os.cpu_count()} cores",
        "evaluation": ev, "split": split_json, "config": c.to_dict(), "classes": classes,
        "fit": _stamp_summary(p, "fit"), "export": _stamp_summary(p, "export"),
        "stages": _stage_rows(p), "skipped": [s.__dict__ for s in p.dataset.skipped],
        "num_images": len(p.dataset.records), "source_split": source_split,
        "source_labels": {s: v["label"] for s, v in source_split.items()},
        "split_rationale": SPLIT_RATIONALE if set(c.holdout_sources) == {
            "techdude_animefacedataset", "gprzy_simpsons_art"} else "",
        "edgetpu_text": _edgetpu_text(p), "notes": notes,
    }
    (rdir / "report.md").write_text(report_md(facts))
    (rdir / "model_card.md").write_text(model_card_md(facts))
    metrics = {
        "test_split": f"{test_kind(c.holdout_sources)} (see report.md)",
        "float_top1": ev["float"]["accuracy"], "int8_top1": ev["int8"]["accuracy"],
        "int8_screen_top1": ev["int8_screen"]["accuracy"],
        "int8_per_class": ev["int8"]["per_class"], "int8_per_source": ev["int8"]["per_source"],
        "int8_invoke_ms_host_cpu": ev["int8_invoke_ms"],
        "val_top1_in_source": facts["fit"].get("val_acc"), "test_images": ev["int8"]["count"],
        "build_wall_seconds": wall_seconds,
    }
    extra = {"report.md": rdir / "report.md", "model_card.md": rdir / "model_card.md", **pngs}
    write(p, metrics=metrics, extra_files=extra)
    return {"bundle": str(c.out), "int8_acc": ev["int8"]["accuracy"],
            "report": str(Path(c.out) / "report.md")}
