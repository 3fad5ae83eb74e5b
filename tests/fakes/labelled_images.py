"""A tiny labelled image folder (class folders + manifest.csv with sources) for training tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image


def picture(seed: int, size: int = 48) -> Image.Image:
    """A distinct smooth picture per seed (smooth so that rescaled copies stay similar)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def make_tree(root: Path, per_source: int = 6) -> Path:
    """Classes a, b, c from sources a1, a2, b1, b2, c1, ``per_source`` JPEGs each."""
    sources = {"a": ["a1", "a2"], "b": ["b1", "b2"], "c": ["c1"]}
    rows = []
    seed = 0
    for label, srcs in sources.items():
        (root / label).mkdir(parents=True)
        for src in srcs:
            for i in range(per_source):
                seed += 1
                name = f"{label}/{src}_{i}.jpg"
                picture(seed).save(root / name, quality=95)
                rows.append({"file": name, "label": label, "source": src})
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "label", "source"])
        writer.writeheader()
        writer.writerows(rows)
    return root
