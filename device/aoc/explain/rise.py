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
   showing that cell rather than grey raises (+) or lowers (-) the probability, with about
   half of the rest of the picture shown. The model is not linear, so the effects do not
   add up to score(picture) - score(all grey), though their signs mostly agree with it.

For a given seed the masks of a smaller budget are the first masks of a larger one, and the
result does not depend on ``chunk``. :func:`map_to_image` puts a map back onto the original
picture (NaN where the model did not see it: a centre crop's trimmed sides, letterbox
padding dropped); :mod:`aoc.explain.summary` lists the cells with the largest effects in
original-picture coordinates. ``python -m aoc.explain.bench`` measures speed and stability;
see ``device/docs/explain.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aoc.errors import AocError
from aoc.explain.masks import (
    DEFAULT_FILL,
    DEFAULT_KEEP,
    DEFAULT_MASK_CELLS,
    cell_means,
    cells_to_input,
    masked,
    ridge_effects,
    rise_masks,
)
from aoc.explain.place import Placement, map_to_image, placement
from aoc.inference.preprocess import check_frame
from aoc.inference.resize import resize_frame

__all__ = [
    "DEFAULT_BUDGET",
    "ExplainError",
    "Explanation",
    "MapBuilder",
    "explain",
    "rise_masks",
]

log = logging.getLogger(__name__)

METHOD = "rise"
DEFAULT_BUDGET = 384
DEFAULT_GRID = 8
DEFAULT_RIDGE = 0.3
MAX_CLASSES = 5  # classes mapped by default when a bundle has more than 8 (ImageNet)


class ExplainError(AocError, ValueError):
    """An explanation was asked for with impossible settings."""


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


class MapBuilder:
    """:func:`explain` in steps, for callers that must stay responsive (the device's
    frozen-frame map works a few invocations per loop tick).

    The constructor classifies the unmasked picture; :meth:`step` classifies up to ``n``
    more masked copies and says whether all ``budget`` are done; :meth:`result` gives the
    :class:`Explanation`. Same settings and seed give the same result however it is stepped.
    """

    def __init__(
        self,
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
    ) -> None:
        check_frame(frame)
        if budget < 2 or grid < 1 or mask_cells < 1 or not 0.0 < keep < 1.0 or ridge < 0:
            raise ExplainError(
                f"explain needs budget >= 2, grid and mask_cells >= 1, 0 < keep < 1 and "
                f"ridge >= 0 (got {budget}, {grid}, {mask_cells}, {keep}, {ridge}); "
                f"the default budget is {DEFAULT_BUDGET}"
            )
        self.classifier, self.clock, self._start = classifier, clock, clock()
        self.settings = dict(budget=budget, seed=seed, mask_cells=mask_cells, keep=keep,
                             fill=fill, ridge=ridge, paired=paired)
        self.grid, self.chunk = grid, chunk + chunk % 2  # whole pairs per chunk
        spec = getattr(classifier, "preprocess_spec", None)
        policy = policy or getattr(spec, "resize", "stretch")
        self.input_size = (int(classifier.input_size[0]), int(classifier.input_size[1]))
        self.placement = placement((frame.shape[1], frame.shape[0]), self.input_size, policy)
        fitted = resize_frame(frame, self.input_size, policy,
                              resample=getattr(spec, "resample", "lanczos"))
        self.base = np.array(classifier.classify(fitted), dtype=np.float64)
        self.classes = tuple(default_classes(self.base) if classes is None
                             else (int(c) for c in classes))
        self._fitted = fitted.astype(np.float32)
        self._rng = np.random.default_rng(seed)
        self._outside = np.ones((self.input_size[1], self.input_size[0]), dtype=bool)
        dl, dt, dr, db = self.placement.dst_box  # letterbox padding is always shown as it is,
        self._outside[dt:db, dl:dr] = False  # so it gets no effect
        self._features = np.empty((budget, grid * grid))
        self._scores = np.empty((budget, len(self.classes)))
        self._queue = np.empty((0, self.input_size[1], self.input_size[0]), np.float32)
        self.generated = self.classified = 0

    @property
    def done(self) -> bool:
        """True when every masked copy has been classified."""
        return self.classified >= self.settings["budget"]

    def _refill(self) -> None:
        n = min(self.chunk, self.settings["budget"] - self.generated)
        paired = self.settings["paired"]
        masks = rise_masks((n + 1) // 2 if paired else n, self.input_size, rng=self._rng,
                           cells=self.settings["mask_cells"], keep=self.settings["keep"])
        if paired:
            masks = np.stack([masks, 1.0 - masks], axis=1).reshape(-1, *masks.shape[1:])[:n]
        masks[:, self._outside] = 1.0
        self._features[self.generated : self.generated + n] = cell_means(masks, self.grid)
        self.generated += n
        self._queue = masks

    def step(self, n: int) -> bool:
        """Classify up to ``n`` more masked copies; return :attr:`done`."""
        picked = list(self.classes)
        while n > 0 and not self.done:
            if not len(self._queue):
                self._refill()
            mask, self._queue = self._queue[0], self._queue[1:]
            out = np.asarray(self.classifier.classify(
                masked(self._fitted, mask, self.settings["fill"])))
            self._scores[self.classified] = out[picked]
            self.classified += 1
            n -= 1
        return self.done

    def result(self) -> Explanation:
        """The :class:`Explanation` (finishes the remaining steps first)."""
        self.step(self.settings["budget"])
        effects = ridge_effects(self._features, self._scores, self.settings["ridge"])
        seconds = self.clock() - self._start
        log.debug("explained in %.2f s (%d invocations)", seconds, self.classified + 1)
        return Explanation(
            labels=tuple(self.classifier.labels), scores=self.base.astype(np.float32),
            classes=self.classes,
            maps=effects.reshape(len(self.classes), self.grid, self.grid).astype(np.float32),
            placement=self.placement, seconds=seconds, invocations=self.classified + 1,
            **self.settings,
        )


def explain(classifier: Any, frame: np.ndarray, **settings: Any) -> Explanation:
    """Signed cell effects of ``frame`` through ``classifier.classify`` (see the module doc).

    Keywords (all optional) are those of :class:`MapBuilder`: ``budget`` (default
    :data:`DEFAULT_BUDGET`), ``seed``, ``grid``, ``mask_cells``, ``keep``, ``fill``,
    ``ridge``, ``paired``, ``classes``, ``policy``, ``chunk``, ``clock``. ``policy`` and
    resampling default to the classifier's own ``preprocess_spec`` (stretch and lanczos
    when it has none); ``classes`` to :func:`default_classes`. ``paired`` follows each mask
    with its complement (what one hides the other shows), which cancels much of the
    sampling noise. Costs ``budget + 1`` calls of ``classify``.
    """
    return MapBuilder(classifier, frame, **settings).result()
