"""Explanation grids of a compiled-backbone build: the held-out images the
leave-one-source-out heads got most wrong, clean and through a TV, drawn with the shipped
model (:mod:`aoc.explain`). Part of :mod:`aoc_train.head_build`."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import head_report
from .data import read_rgb
from .embed import TV, image_seed, make_views

if TYPE_CHECKING:
    from .head_build import Prepared


class _TvFrames(Sequence[np.ndarray]):
    """The first camera-at-TV frame of each record, made again on demand (same seeds)."""

    def __init__(self, root: Path, records: list, seed: int) -> None:
        self.root, self.records, self.seed = root, records, seed

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):  # type: ignore[override]
        r = self.records[i]
        image = np.asarray(read_rgb(self.root / r.file))
        return np.ascontiguousarray(make_views(image, np.random.default_rng(
            image_seed(self.seed, r)))[TV[0]])


def _grids_tag(clf: Any, pre: Prepared, seed: int) -> str:
    """Names what the grids depend on: the held-out scores, the images, the backbone, the
    head the device runs and the seed."""
    # v3: tiles show the held-out verdict beside the shipped model's
    h = hashlib.sha256(f"grids-v3|{pre.backbone.name}|{seed}".encode())
    for a in (pre.held.clean, pre.held.tv, pre.labels):
        h.update(np.ascontiguousarray(a).tobytes())
    for r in pre.dataset.records:
        h.update(r.sha256.encode())
    head = getattr(clf, "head", None)
    for name, a in sorted((head.arrays() if head is not None else {}).items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def mistake_grids(clf: Any, pre: Prepared, work: Path, seed: int) -> dict[str, Path]:
    """Explanation grids (``aoc.explain``) of the held-out images the leave-one-source-out
    heads got most wrong, clean and through a TV, drawn with the shipped model ``clf``.
    Cached in ``work`` (they take a minute or two; a resumed build reuses them) and copied
    to ``mistakes_folder(work)``: they show training images, so never into the bundle."""
    from aoc.explain.png import mistakes_grid

    records = list(pre.dataset.records)
    tag = _grids_tag(clf, pre, seed)
    out = {}
    for name, pictures, scores in (
        ("clean", [pre.dataset.root / r.file for r in records], pre.held.clean),
        ("tv", _TvFrames(pre.dataset.root, records, seed), pre.held.tv[:, 0]),
    ):
        path = work / f"mistakes_{name}-{tag}.png"
        if not path.is_file():
            tmp = work / f"mistakes_{name}-{tag}.partial.png"
            mistakes_grid(clf, pictures, list(pre.labels), scores, tmp, seed=seed,
                          held_out=True,
                          title=f"Most confident held-out mistakes ({name})")
            tmp.replace(path)
        shown = head_report.mistakes_folder(work) / f"mistakes_{name}.png"
        shown.parent.mkdir(exist_ok=True)
        shutil.copyfile(path, shown)
        out[name] = shown
    return out
