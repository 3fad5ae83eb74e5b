"""Which parts of the picture made the model say "anime" or "cartoon": signed RISE maps.

Model-agnostic: the only thing used is ``classifier.classify(frame) -> scores`` (plus its
``labels``, ``input_size`` and, when it has one, ``preprocess_spec``), so every bundle the
device runs is covered: int8 models, bare Coral classifiers, backbone + head bundles, on the
CPU or the Edge TPU.

Method (randomized input sampling, RISE, Petsiuk et al. 2018, read out by least squares
over a grid of cells, as LIME and KernelSHAP do with superpixels):

1. the picture is fitted to the model exactly as the device does (``resize_frame`` with the
   bundle's resize policy and resampling), so the map is about what the model sees;
2. ``budget`` soft masks are drawn, seeded: a ``mask_cells`` x ``mask_cells`` grid kept with
   probability ``keep``, upsampled bilinearly and shifted by a random sub-cell offset, each
   followed by its complement (paired sampling); letterbox padding is never masked;
3. each masked copy (hidden parts blended to grey ``fill``) is classified once, so the cost
   is ``budget + 1`` invocations per image (one for the unmasked picture);
4. the model input is split into ``grid`` x ``grid`` cells; per class, a ridge regression of
   the class probability on how visible each cell was gives each cell's effect: how much
   showing that cell rather than grey raises (+) or lowers (-) the probability. The effects
   add up to roughly score(picture) - score(all grey).

For a given seed the masks of a smaller budget are the first masks of a larger one, and the
result does not depend on ``chunk``. :func:`map_to_image` puts a map back onto the original
picture (NaN where the model did not see it: a centre crop's trimmed sides, letterbox
padding dropped); :mod:`aoc.explain_summary` lists the cells with the largest effects in
original-picture coordinates. ``python -m aoc.explain_bench`` measures speed and stability;
see ``device/docs/explain.md``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from aoc.errors import AocError
from aoc.preprocess import check_frame, check_policy, crop_box, resize_frame

log = logging.getLogger(__name__)

METHOD = "rise"
DEFAULT_BUDGET = 384
DEFAULT_GRID = 8
DEFAULT_MASK_CELLS = 7
DEFAULT_RIDGE = 0.3
DEFAULT_KEEP = 0.5
DEFAULT_FILL = 128
MAX_CLASSES = 5  # classes mapped by default when a bundle has more than 8 (ImageNet)


class ExplainError(AocError, ValueError):
    """An explanation was asked for with impossible settings."""


class Placement(NamedTuple):
    """Where the original picture lands in the model input (the device's resize policy).

    ``src_box``: the region of the original (left, top, right, bottom, original pixels) the
    model sees; ``dst_box``: where that region lies in the model input (input pixels).
    """

    policy: str
    image_size: tuple[int, int]
    input_size: tuple[int, int]
    src_box: tuple[int, int, int, int]
    dst_box: tuple[int, int, int, int]


def placement(image_size: tuple[int, int], input_size: tuple[int, int], policy: str) -> Placement:
    """The :class:`Placement` of ``resize_frame(frame, input_size, policy)`` for a frame of
    ``image_size`` = (width, height)."""
    check_policy(policy)
    (sw, sh), (w, h) = image_size, input_size
    full_src, full_dst = (0, 0, sw, sh), (0, 0, w, h)
    if (sw, sh) == (w, h) or policy == "stretch":
        return Placement(policy, (sw, sh), (w, h), full_src, full_dst)
    if policy == "center_crop":
        return Placement(policy, (sw, sh), (w, h), crop_box((sw, sh), (w, h)), full_dst)
    factor = min(w / sw, h / sh)  # letterbox: same arithmetic as resize_frame
    fw, fh = max(1, round(sw * factor)), max(1, round(sh * factor))
    left, top = (w - fw) // 2, (h - fh) // 2
    return Placement(policy, (sw, sh), (w, h), full_src, (left, top, left + fw, top + fh))


def map_to_image(
    values: np.ndarray, where: Placement, out_size: tuple[int, int] | None = None
) -> np.ndarray:
    """A model-input map ``(h, w)`` put back onto the original picture, float32 ``(H, W)``.

    ``out_size`` = (width, height) draws onto the original scaled to that size (default:
    the original size). Pixels the model did not see are NaN; letterbox padding is dropped.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.shape != (where.input_size[1], where.input_size[0]):
        raise ExplainError(
            f"map of shape {values.shape} does not match the model input "
            f"{where.input_size[0]}x{where.input_size[1]}"
        )
    ow, oh = out_size or where.image_size
    sx, sy = ow / where.image_size[0], oh / where.image_size[1]
    dl, dt, dr, db = where.dst_box
    sl, st, sr, sb = where.src_box
    left, top = round(sl * sx), round(st * sy)
    right, bottom = max(left + 1, round(sr * sx)), max(top + 1, round(sb * sy))
    seen = Image.fromarray(np.ascontiguousarray(values[dt:db, dl:dr]), mode="F")
    seen = seen.resize((right - left, bottom - top), Image.Resampling.BILINEAR)
    out = np.full((oh, ow), np.nan, dtype=np.float32)
    out[top:bottom, left:right] = np.asarray(seen)[: oh - top, : ow - left]
    return out


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


def input_box_to_image(
    box: tuple[int, int, int, int], where: Placement
) -> tuple[int, int, int, int] | None:
    """A box of the model input in original-picture pixels (``None`` if none of it is seen)."""
    dl, dt, dr, db = where.dst_box
    sl, st, sr, sb = where.src_box
    left, top = max(box[0], dl), max(box[1], dt)
    right, bottom = min(box[2], dr), min(box[3], db)
    if right <= left or bottom <= top:
        return None
    fx, fy = (sr - sl) / (dr - dl), (sb - st) / (db - dt)
    return (round(sl + (left - dl) * fx), round(st + (top - dt) * fy),
            round(sl + (right - dl) * fx), round(st + (bottom - dt) * fy))


@dataclass(frozen=True)
class Explanation:
    """Signed cell effects of some classes for one picture.

    ``maps[i]`` (``(grid, grid)`` over the model input, rows top to bottom) holds, for
    ``labels[classes[i]]``, how much showing each cell rather than grey raises (+) or lowers
    (-) that class's probability. ``scores`` are the unmasked picture's scores;
    ``invocations`` = ``budget + 1``; ``seconds`` the time taken.
    """

    labels: tuple[str, ...]
    scores: np.ndarray
    classes: tuple[int, ...]
    maps: np.ndarray
    placement: Placement
    method: str = METHOD
    budget: int = DEFAULT_BUDGET
    seed: int = 0
    mask_cells: int = DEFAULT_MASK_CELLS
    keep: float = DEFAULT_KEEP
    fill: int = DEFAULT_FILL
    ridge: float = DEFAULT_RIDGE
    paired: bool = True
    seconds: float = 0.0
    invocations: int = field(default=0)

    @property
    def grid(self) -> int:
        """Cells per side of the maps."""
        return int(self.maps.shape[-1])

    @property
    def top(self) -> int:
        """Index of the top class of the unmasked picture."""
        return int(np.argmax(self.scores))

    def map_of(self, label: int | str | None = None) -> np.ndarray:
        """The ``(grid, grid)`` map of ``label`` (name or index; default the top class)."""
        index = self.top if label is None else label
        if isinstance(index, str):
            index = self.labels.index(index)
        if index not in self.classes:
            raise ExplainError(
                f"class {self.labels[index]!r} was not mapped; pass it in classes= to explain()"
            )
        return self.maps[self.classes.index(index)]

    def on_image(
        self, label: int | str | None = None, out_size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """The map of ``label`` on the original picture (see :func:`map_to_image`)."""
        blocks = cells_to_input(self.map_of(label), self.placement.input_size)
        return map_to_image(blocks, self.placement, out_size)

    def describe(self) -> str:
        """Method and budget in one line, e.g. for a caption."""
        return (f"RISE {self.budget} masks, seed {self.seed}, {self.grid}x{self.grid} cells, "
                f"{self.placement.policy}")


def default_classes(scores: np.ndarray, max_classes: int = MAX_CLASSES) -> tuple[int, ...]:
    """Every class of a small label set (up to 8), else the ``max_classes`` best."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    if len(order) <= 8:
        return tuple(range(len(order)))
    return tuple(sorted(int(i) for i in order[:max_classes]))


def explain(
    classifier: Any,
    frame: np.ndarray,
    *,
    budget: int = DEFAULT_BUDGET,
    seed: int = 0,
    grid: int = DEFAULT_GRID,
    mask_cells: int = DEFAULT_MASK_CELLS,
    keep: float = DEFAULT_KEEP,
    fill: int = DEFAULT_FILL,
    ridge: float = DEFAULT_RIDGE,
    paired: bool = True,
    classes: Sequence[int] | None = None,
    policy: str | None = None,
    chunk: int = 32,
    clock: Callable[[], float] = time.perf_counter,
) -> Explanation:
    """Signed cell effects of ``frame`` through ``classifier.classify`` (see the module doc).

    ``policy`` and resampling default to the classifier's own ``preprocess_spec`` (stretch
    and lanczos when it has none). ``classes`` default to :func:`default_classes`.
    ``paired`` follows each mask with its complement (what one hides the other shows),
    which cancels much of the sampling noise. Costs ``budget + 1`` calls of ``classify``.
    """
    check_frame(frame)
    if budget < 2 or grid < 1 or mask_cells < 1 or not 0.0 < keep < 1.0 or ridge < 0:
        raise ExplainError(
            f"explain needs budget >= 2, grid and mask_cells >= 1, 0 < keep < 1 and "
            f"ridge >= 0 (got {budget}, {grid}, {mask_cells}, {keep}, {ridge}); "
            f"the default budget is {DEFAULT_BUDGET}"
        )
    start = clock()
    spec = getattr(classifier, "preprocess_spec", None)
    policy = policy or getattr(spec, "resize", "stretch")
    input_size = (int(classifier.input_size[0]), int(classifier.input_size[1]))
    where = placement((frame.shape[1], frame.shape[0]), input_size, policy)
    fitted = resize_frame(frame, input_size, policy, resample=getattr(spec, "resample", "lanczos"))
    base = np.array(classifier.classify(fitted), dtype=np.float64)
    picked = tuple(default_classes(base) if classes is None else (int(c) for c in classes))
    rng = np.random.default_rng(seed)
    fitted_f = fitted.astype(np.float32)
    outside = np.ones((input_size[1], input_size[0]), dtype=bool)  # letterbox padding:
    dl, dt, dr, db = where.dst_box  # always shown as it is, so it gets no effect
    outside[dt:db, dl:dr] = False
    features = np.empty((budget, grid * grid))
    scores = np.empty((budget, len(picked)))
    chunk += chunk % 2  # whole pairs per chunk, so chunking never changes the masks
    for first in range(0, budget, chunk):
        n = min(chunk, budget - first)
        masks = rise_masks((n + 1) // 2 if paired else n, input_size, rng=rng,
                           cells=mask_cells, keep=keep)
        if paired:
            masks = np.stack([masks, 1.0 - masks], axis=1).reshape(-1, *masks.shape[1:])[:n]
        masks[:, outside] = 1.0
        for i, mask in enumerate(masks):
            out = np.asarray(classifier.classify(masked(fitted_f, mask, fill)))
            scores[first + i] = out[list(picked)]
        features[first : first + len(masks)] = cell_means(masks, grid)
    effects = ridge_effects(features, scores, ridge).reshape(len(picked), grid, grid)
    seconds = clock() - start
    log.debug("explained %dx%d in %.2f s (%d invocations)", frame.shape[1], frame.shape[0],
              seconds, budget + 1)
    return Explanation(
        labels=tuple(classifier.labels), scores=base.astype(np.float32), classes=picked,
        maps=effects.astype(np.float32), placement=where, budget=budget, seed=seed,
        mask_cells=mask_cells, keep=keep, fill=fill, ridge=ridge, paired=paired, seconds=seconds,
        invocations=budget + 1,
    )
