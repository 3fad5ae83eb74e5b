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


def stripes(seed: int, size: int = 96) -> Image.Image:
    """Horizontal bands of one colour and black, a period of 4 to 8 rows: a class that
    Coral's embedding tells from :func:`blob` at once."""
    rng = np.random.default_rng(seed)
    period = int(rng.integers(4, 9))
    yy = np.arange(size)[:, None, None]
    colour = rng.integers(0, 256, 3)
    band = ((yy // period) % 2 == 0) * colour
    return Image.fromarray(np.broadcast_to(band, (size, size, 3)).astype(np.uint8))


def blob(seed: int, size: int = 96) -> Image.Image:
    """A smooth blend of nine random colours."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(3, 3, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def blobs_and_stripes(root: Path, per_source: int = 6) -> Path:
    """Classes blobs and stripes (:func:`blob`, :func:`stripes`), two sources each."""
    draw = {"blobs": blob, "stripes": stripes}
    return write_tree(root, {label: [f"{label}1", f"{label}2"] for label in draw},
                      lambda label, seed: draw[label](seed), per_source=per_source, ext="png")
