"""How fast and how steady the explanation maps are (``python -m aoc.explain.bench``).

For each picture (by default the demo pictures) and each budget it computes the map of the
top class with two seeds and reports:

* seconds per map, and milliseconds per model invocation, on this machine;
* ``r_seeds``: the Pearson correlation between the two seeds' cell maps at that budget
  (1 = the map does not depend on the random masks; their masks are independent);
* ``r_largest``: the correlation of the first seed's map with the second seed's map at
  the largest budget (how close a cheaper map comes to a costlier one).

Prints a table and writes JSON with ``--json FILE``. The figures recorded in
``device/docs/explain.md`` come from this command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aoc.explain.rise import DEFAULT_BUDGET, explain
from aoc.sources.demo_source import DEMO_DIR

log = logging.getLogger(__name__)

BUDGETS = (64, 128, 256, 512)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two maps (0 when either is flat)."""
    x, y = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else 0.0


@dataclass(frozen=True)
class BudgetFigures:
    """Figures of one budget over all pictures."""

    budget: int
    seconds_median: float
    ms_per_invocation: float
    r_seeds_mean: float
    r_seeds_min: float
    r_largest_mean: float


@dataclass(frozen=True)
class BenchResult:
    """What the benchmark measured; ``seconds_per_map`` is at ``default_budget``."""

    model: str
    backend: str
    images: int
    seeds: tuple[int, int]
    default_budget: int
    seconds_per_map: float
    budgets: tuple[BudgetFigures, ...]
    machine: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def bench_explain(
    classifier: Any, frames: Sequence[np.ndarray], *, budgets: Sequence[int] = BUDGETS,
    seeds: tuple[int, int] = (0, 1), default_budget: int = DEFAULT_BUDGET, model: str = "",
) -> BenchResult:
    """Explain each frame at each budget with both seeds (the top class's map)."""
    budgets = sorted(set(budgets) | {default_budget})
    maps: dict[tuple[int, int, int], np.ndarray] = {}
    seconds: dict[int, list[float]] = {b: [] for b in budgets}
    for i, frame in enumerate(frames):
        for b in budgets:
            for s in seeds:
                expl = explain(classifier, frame, budget=b, seed=s)
                maps[i, b, s] = expl.map_of(None)
                seconds[b].append(expl.seconds)
            log.info("picture %d budget %d: %.2f s per map", i, b, seconds[b][-1])
    largest = budgets[-1]
    figures = []
    for b in budgets:
        r_seeds = [correlation(maps[i, b, seeds[0]], maps[i, b, seeds[1]])
                   for i in range(len(frames))]
        r_big = [correlation(maps[i, b, seeds[0]], maps[i, largest, seeds[1]])
                 for i in range(len(frames))]
        med = float(np.median(seconds[b]))
        figures.append(BudgetFigures(b, round(med, 4), round(1000 * med / (b + 1), 3),
                                     round(float(np.mean(r_seeds)), 3),
                                     round(float(np.min(r_seeds)), 3),
                                     round(float(np.mean(r_big)), 3)))
    return BenchResult(
        model=model, backend=str(getattr(classifier, "backend", "")), images=len(frames),
        seeds=seeds, default_budget=default_budget,
        seconds_per_map=next(f.seconds_median for f in figures if f.budget == default_budget),
        budgets=tuple(figures),
        machine=f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
    )


def format_bench(result: BenchResult) -> str:
    """The result as a small table."""
    lines = [
        f"model {result.model} on {result.backend}, {result.images} pictures, seeds "
        f"{result.seeds[0]} and {result.seeds[1]} ({result.machine})",
        f"default budget {result.default_budget}: {result.seconds_per_map:.2f} s per map",
        "budget  s/map  ms/invoke  r(seeds) mean  min  r(vs largest)",
    ]
    for f in result.budgets:
        lines.append(f"{f.budget:6d} {f.seconds_median:6.2f} {f.ms_per_invocation:9.2f} "
                     f"{f.r_seeds_mean:14.3f} {f.r_seeds_min:5.3f} {f.r_largest_mean:13.3f}")
    return "\n".join(lines)


def _frames(paths: Sequence[Path]) -> list[np.ndarray]:
    from PIL import Image

    frames = []
    for path in paths:
        with Image.open(path) as img:
            frames.append(np.asarray(img.convert("RGB")))
    return frames


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aoc.explain.bench``; returns the exit code."""
    from aoc.inference.bundle import bare_bundle, load_bundle
    from aoc.inference.classifier import open_classifier

    p = argparse.ArgumentParser(prog="python -m aoc.explain.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default="models/default", help="bundle (default models/default)")
    p.add_argument("--model", help="bare .tflite model instead (needs --labels)")
    p.add_argument("--labels", help="labels file for --model")
    p.add_argument("--backend", default="cpu", choices=("auto", "edgetpu", "cpu"))
    p.add_argument("--budgets", default=",".join(map(str, BUDGETS)),
                   help="comma-separated budgets (default 64,128,256,512)")
    p.add_argument("--images", nargs="*", type=Path, help="pictures (default: the demo ones)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    logging.basicConfig(level="WARNING")
    bundle = (bare_bundle(args.model, args.labels) if args.model else load_bundle(args.bundle))
    images = args.images or sorted(DEMO_DIR.glob("*.png"))
    budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
    with open_classifier(bundle, prefer=args.backend) as clf:
        result = bench_explain(clf, _frames(images), budgets=budgets, model=bundle.name)
    sys.stdout.write(format_bench(result) + "\n")
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
