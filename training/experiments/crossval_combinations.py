"""Score combinations of ``aoc-train crossval`` runs from their ``crossval-probs.npz`` dumps.

Re-runs the "K = 5 plus the head-only model" row and the class-prior offsets of the
ensemble section in ``aoc_train/notes/default_model.md``; the single members and K-member
means are re-run directly by ``aoc-train crossval --top-tune-members K``. Copy each run's
``crossval-probs.npz`` aside (the next run overwrites it), then::

    PYTHONPATH=device:training python3 training/experiments/crossval_combinations.py \\
        /work/shared/data/aoc-train RUN1.npz [RUN2.npz ...]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aoc_train.config import DEFAULT_CLASSES
from aoc_train.data import scan_dataset
from aoc_train.quality import predictions

HARD = ("pranav_anime", "ao7108_character_art", "sytwu_danbooru_faces",
        "visuallayer_tomjerry_frames", "pranav_cartoon", "techdude_human_faces")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("runs", type=Path, nargs="+")
    a = ap.parse_args()
    ds = scan_dataset(a.data_dir, classes=DEFAULT_CLASSES)
    recs, labels = ds.records, ds.label_ids()
    runs = [dict(np.load(f)) for f in a.runs]
    n = sum(k.endswith("_test") for k in runs[0])
    tests = [runs[0][f"{i}_test"] for i in range(n)]
    folds = [(recs[t[0]].source, recs[t[0]].label, labels[t]) for t in tests]

    def summary(pick: Callable[[int], np.ndarray]) -> tuple[dict[str, float], float, float, float]:
        acc = {s: float((predictions(pick(i)) == y).mean()) for i, (s, _, y) in enumerate(folds)}
        by = {c: [acc[s] for s, lab, _ in folds if lab == c] for c in DEFAULT_CLASSES}
        drawings = [acc[s] for s, lab, _ in folds if lab != "neither"]
        return (acc, float(np.mean(list(acc.values()))),
                float(np.mean([np.mean(v) for v in by.values() if v])), float(np.mean(drawings)))

    def members(r: dict, i: int) -> list[np.ndarray]:
        return [r[k] for k in sorted(r) if k.startswith(f"{i}_member")]

    variants: dict[str, Callable[[int], np.ndarray]] = {}
    for j, r in enumerate(runs):
        variants[f"run{j} head"] = lambda i, r=r: r[f"{i}_head"]
        variants[f"run{j} mean of members"] = lambda i, r=r: np.mean(members(r, i), 0)
        variants[f"run{j} members + head"] = (
            lambda i, r=r: np.mean([*members(r, i), r[f"{i}_head"]], 0))
    variants["all runs, all members"] = (
        lambda i: np.mean([m for r in runs for m in members(r, i)], 0))
    print("variant".ljust(24), "folds  classes drawings |", " ".join(h[:8] for h in HARD))
    for name, pick in variants.items():
        acc, mean, cls, draw = summary(pick)
        print(name.ljust(24), f"{100 * mean:5.1f}  {100 * cls:5.1f}  {100 * draw:5.1f}   |",
              " ".join(f"{100 * acc[h]:8.1f}" for h in HARD))

    # class-prior offsets on the log-probabilities of run 0's first member (the shipped
    # recipe): the best offset on all folds, and nested (chosen without the scored fold)
    logp = [np.log(members(runs[0], i)[0] + 1e-9) for i in range(n)]
    grid = [np.array([x, z, 0.0]) for x in np.arange(-1, 1.01, 0.25)
            for z in np.arange(-1, 1.01, 0.25)]

    def shifted(b: np.ndarray, skip: int = -1) -> Callable[[int], np.ndarray]:
        # a fold left out of the choice scores 0 for every offset, so it cannot sway it
        return lambda i: logp[i] + b if i != skip else np.zeros_like(logp[i])

    # objectives as in the notes: class-balanced mean on all folds, mean of folds nested
    best = max(grid, key=lambda b: summary(shifted(b))[2])
    _, mean, cls, draw = summary(shifted(best))
    print(f"offset {best[:2]} chosen on all folds: {100 * mean:.1f} / {100 * cls:.1f} / "
          f"{100 * draw:.1f}")
    nested = []
    for i in range(n):
        b = max(grid, key=lambda b, i=i: summary(shifted(b, skip=i))[1])
        nested.append(logp[i] + b)
    _, mean, cls, draw = summary(lambda i: nested[i])
    print(f"offset chosen on the other folds (nested): {100 * mean:.1f} / {100 * cls:.1f} / "
          f"{100 * draw:.1f}")


if __name__ == "__main__":
    main()
