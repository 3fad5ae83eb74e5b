"""The JSON summary of an explanation: grid cells of the original picture with the largest
effect, and the pick of the items the report shows (:func:`most_wrong`).

Pure numpy over :class:`aoc.explain.rise.Explanation`; see ``device/docs/explain.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from aoc.explain.masks import cell_edges
from aoc.explain.place import input_box_to_image
from aoc.explain.rise import Explanation


class Region(NamedTuple):
    """One grid cell of the original picture and the mean effect of showing it, per class."""

    row: int
    col: int
    box: tuple[int, int, int, int]  # left, top, right, bottom in original pixels
    effects: dict[str, float]


@dataclass(frozen=True)
class Summary:
    """What ``aoc explain --json`` writes for one picture."""

    method: str
    budget: int
    seed: int
    invocations: int
    seconds: float
    policy: str
    image_size: tuple[int, int]
    input_size: tuple[int, int]
    seen_box: tuple[int, int, int, int]
    grid: tuple[int, int]
    top: str
    scores: dict[str, float]
    regions: tuple[Region, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (plain lists, floats rounded to 6 digits)."""
        return {
            "method": self.method, "budget": self.budget, "seed": self.seed,
            "invocations": self.invocations, "seconds": round(self.seconds, 3),
            "policy": self.policy, "image_size": list(self.image_size),
            "input_size": list(self.input_size), "seen_box": list(self.seen_box),
            "grid": list(self.grid), "top": self.top,
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
            "regions": [
                {"row": r.row, "col": r.col, "box": list(r.box),
                 "effect": {k: round(v, 6) for k, v in r.effects.items()}}
                for r in self.regions
            ],
        }


def class_names(expl: Explanation) -> dict[int, str]:
    """JSON key of each mapped class: its label, or ``label #id`` where mapped classes share
    a label (ImageNet lists 'crane' twice)."""
    labels = [expl.labels[c] for c in expl.classes]
    return {c: (expl.labels[c] if labels.count(expl.labels[c]) == 1 else f"{expl.labels[c]} #{c}")
            for c in expl.classes}


def summarize(expl: Explanation, *, top: int = 5) -> Summary:
    """The ``top`` cells with the largest effect on the top class (by absolute value), each
    with its box in original-picture pixels and its effect on every mapped class. Cells the
    model saw none of the picture in (letterbox padding) are left out."""
    where = expl.placement
    grid = expl.grid
    names = class_names(expl)
    xs, ys = cell_edges(where.input_size[0], grid), cell_edges(where.input_size[1], grid)
    regions = []
    for r in range(grid):
        for c in range(grid):
            box = input_box_to_image((int(xs[c]), int(ys[r]), int(xs[c + 1]), int(ys[r + 1])),
                                     where)
            if box is None:
                continue
            effects = {names[k]: float(expl.maps[i, r, c])
                       for i, k in enumerate(expl.classes)}
            regions.append(Region(r, c, box, effects))
    best = names[expl.top]
    regions.sort(key=lambda reg: -abs(reg.effects[best]))
    return Summary(
        method=expl.method, budget=expl.budget, seed=expl.seed, invocations=expl.invocations,
        seconds=expl.seconds, policy=where.policy, image_size=where.image_size,
        input_size=where.input_size, seen_box=where.src_box, grid=(grid, grid), top=best,
        scores={names[c]: float(expl.scores[c]) for c in expl.classes},
        regions=tuple(regions[:top]),
    )


def most_wrong(truth: Sequence[int], scores: np.ndarray, *, per_class: int = 3) -> list[int]:
    """Indices of the misclassified items the model was most sure about, ``per_class`` per
    true class (most confident first, classes in label order): for the report's grid."""
    scores = np.asarray(scores)
    truth = np.asarray(truth)
    said = scores.argmax(axis=1)
    picked: list[int] = []
    for cls in sorted(set(truth.tolist())):
        wrong = np.flatnonzero((truth == cls) & (said != cls))
        order = wrong[np.argsort(-scores[wrong, said[wrong]], kind="stable")]
        picked += [int(i) for i in order[:per_class]]
    return picked

