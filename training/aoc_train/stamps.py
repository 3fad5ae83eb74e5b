"""Resumable stages: a stage runs unless its stamp says it already ran on the same inputs.

A stage writes its outputs under the work folder and a stamp ``stamps/<stage>.json`` holding
a key (a hash of the settings and inputs it depends on) and its summary. A stage whose
stamp key matches and whose outputs exist is skipped, so ``aoc-train build`` re-run after
an interruption continues where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StageResult:
    """What one stage did: its name, whether it was cached, seconds and summary fields."""

    stage: str
    skipped: bool
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """The one-line human summary."""
        fields = ", ".join(f"{k}={_fmt(v)}" for k, v in self.summary.items()
                           if not isinstance(v, dict | list))
        state = "cached" if self.skipped else f"{self.seconds:.1f}s"
        return f"[{self.stage}] {state}: {fields}"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def stamp_path(work: Path, stage: str) -> Path:
    """Where ``stage``'s stamp lives in the work folder ``work``."""
    return Path(work) / "stamps" / f"{stage}.json"


def run_stage(work: Path, stage: str, key: str, outputs: list[Path],
              fn: Callable[[], dict]) -> StageResult:
    """Run ``fn`` (which returns the stage's summary) unless ``stage``'s stamp in ``work``
    has ``key`` and every one of ``outputs`` exists; stamp it when it ran."""
    stamp = stamp_path(work, stage)
    if stamp.is_file() and all(p.exists() for p in outputs):
        saved = json.loads(stamp.read_text())
        if saved.get("key") == key:
            return StageResult(stage, True, 0.0, saved.get("summary", {}))
    t0 = time.monotonic()
    summary = fn()
    result = StageResult(stage, False, time.monotonic() - t0, summary)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"key": key, "summary": summary,
                                 "seconds": result.seconds}, indent=1, default=str))
    return result
