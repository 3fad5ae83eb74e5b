"""A tiny labelled image folder (class folders + manifest.csv with sources) for training tests."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def picture(seed: int, size: int = 48) -> Image.Image:
    """A distinct smooth picture per seed (smooth so that rescaled copies stay similar)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def write_tree(root: Path, sources: dict[str, list[str]],
               draw: Callable[[str, int], Image.Image], *, per_source: int = 6,
               ext: str = "jpg") -> Path:
    """Class folders with ``per_source`` pictures per source, ``draw(label, seed)`` each
    (seeds 1, 2, ... in order), and a manifest.csv naming each file's label and source."""
    rows = []
    seed = 0
    for label, srcs in sources.items():
        (root / label).mkdir(parents=True)
        for src in srcs:
            for i in range(per_source):
                seed += 1
                name = f"{label}/{src}_{i}.{ext}"
                image = draw(label, seed)
                if ext == "jpg":
                    image.save(root / name, quality=95)
                else:
                    image.save(root / name)
                rows.append({"file": name, "label": label, "source": src})
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "label", "source"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def make_tree(root: Path, per_source: int = 6) -> Path:
    """Classes a, b, c from sources a1, a2, b1, b2, c1, ``per_source`` JPEGs each."""
    sources = {"a": ["a1", "a2"], "b": ["b1", "b2"], "c": ["c1"]}
    return write_tree(root, sources, lambda label, seed: picture(seed), per_source=per_source)
