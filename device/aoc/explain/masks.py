"""The numeric parts of a RISE map (:mod:`aoc.explain.rise`): seeded soft masks, a picture
with its hidden part greyed, how visible each cell of a grid was, and the ridge regression
that turns masked scores into each cell's effect. Pure functions over numpy arrays (and
Pillow's bilinear resize for the masks)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

DEFAULT_MASK_CELLS = 7
DEFAULT_KEEP = 0.5
DEFAULT_FILL = 128


def rise_masks(
    n: int,
    input_size: tuple[int, int],
    *,
    rng: np.random.Generator,
    cells: int = DEFAULT_MASK_CELLS,
    keep: float = DEFAULT_KEEP,
) -> np.ndarray:
    """``n`` soft RISE masks, float32 ``(n, h, w)`` in [0, 1] (1 = visible).

    Draws from ``rng`` mask by mask, so consecutive calls continue one sequence.
    """
    w, h = input_size
    cw, ch = math.ceil(w / cells), math.ceil(h / cells)
    up = ((cells + 1) * cw, (cells + 1) * ch)
    out = np.empty((n, h, w), dtype=np.float32)
    for i in range(n):
        grid = (rng.random((cells, cells)) < keep).astype(np.float32)
        dx, dy = int(rng.integers(0, cw)), int(rng.integers(0, ch))
        big = np.asarray(Image.fromarray(grid, mode="F").resize(up, Image.Resampling.BILINEAR))
        out[i] = big[dy : dy + h, dx : dx + w]
    return out


def masked(fitted: np.ndarray, mask: np.ndarray, fill: int = DEFAULT_FILL) -> np.ndarray:
    """``fitted`` (``(h, w, 3)``) with the hidden part (mask 0) blended to grey ``fill``."""
    m = mask[..., None]
    return np.rint(fitted * m + float(fill) * (1.0 - m)).astype(np.uint8)


def cell_edges(length: int, cells: int) -> np.ndarray:
    """Pixel edges of ``cells`` near-equal cells along ``length`` pixels (``cells + 1`` ints)."""
    return np.rint(np.linspace(0, length, cells + 1)).astype(int)


def cell_means(masks: np.ndarray, grid: int) -> np.ndarray:
    """Mean of each mask over each cell of a ``grid`` x ``grid`` split: ``(n, grid * grid)``."""
    n, h, w = masks.shape
    ys, xs = cell_edges(h, grid), cell_edges(w, grid)
    sums = np.add.reduceat(np.add.reduceat(masks, ys[:-1], axis=1), xs[:-1], axis=2)
    area = np.outer(np.diff(ys), np.diff(xs))
    return (sums / area).reshape(n, grid * grid)


def ridge_effects(features: np.ndarray, scores: np.ndarray, ridge: float) -> np.ndarray:
    """Least-squares effects ``(k, cells)`` of features ``(n, cells)`` on scores ``(n, k)``.

    Centred, with ``ridge`` times the mean feature variance on the diagonal (cells that
    never change, such as letterbox padding, get 0).
    """
    x = features - features.mean(axis=0)
    y = scores - scores.mean(axis=0)
    gram = x.T @ x
    penalty = ridge * max(float(np.trace(gram)) / gram.shape[0], 1e-12)
    return np.linalg.solve(gram + penalty * np.eye(gram.shape[0]), x.T @ y).T


def cells_to_input(cells: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """A ``(grid, grid)`` cell map spread over the model input: float32 ``(h, w)`` blocks."""
    grid = cells.shape[0]
    w, h = input_size
    rows = np.repeat(np.arange(grid), np.diff(cell_edges(h, grid)))
    cols = np.repeat(np.arange(grid), np.diff(cell_edges(w, grid)))
    return np.asarray(cells, dtype=np.float32)[np.ix_(rows, cols)]
