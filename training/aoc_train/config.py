"""Build configuration: every choice that decides the trained model, in one dataclass."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .fit import FitConfig

# The default model's source-held-out split (see models/default/report.md for why):
# whole sources whose style other training sources from other collectors also cover.
DEFAULT_HOLDOUT = ("techdude_animefacedataset", "gprzy_simpsons_art")
DEFAULT_CLASSES = ("anime", "cartoon", "neither")


@dataclass(frozen=True)
class BuildConfig:
    """Everything ``aoc-train build`` needs; stage caches are keyed by the relevant parts."""

    data_dir: Path
    out: Path
    work_dir: Path
    weights: str | None = None
    classes: tuple[str, ...] = ()
    holdout_sources: tuple[str, ...] = ()
    val_fraction: float = 0.1
    class_test_fraction: float = 0.2
    seed: int = 1234
    side: int = 224
    alpha: float = 0.35
    dropout: float = 0.5  # before the head; see FitConfig.head_l2
    source_power: float = 0.5  # per-source weight ~ count**power within a class
    views: int = 6
    screen_strength: float = 1.0
    calibration: int = 300
    workers: int = 2
    max_images: int = 0  # 0 = all; a cap for smoke runs
    name: str = ""
    fit: FitConfig = field(default_factory=FitConfig)

    def key(self, *names: str) -> str:
        """A short hash of the named settings (and all fit settings when 'fit' is named)."""
        d = self.to_dict()
        return hashlib.sha256(json.dumps([d[n] for n in names], sort_keys=True,
                                         default=str).encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["fit"] = asdict(self.fit)
        for k in ("data_dir", "out", "work_dir"):
            d[k] = str(d[k])
        d["classes"], d["holdout_sources"] = list(self.classes), list(self.holdout_sources)
        return d
