"""The frozen frame's map on the device (``display.freeze_map = true``).

While the reading is frozen the loop has nothing to classify, so :class:`FrozenMap` uses
that idle time: a few masked copies of the last classified frame per loop tick
(:class:`aoc.explain.rise.MapBuilder`), so the watchdog and the buttons stay served, and once
all ``budget`` are done the screen's state carries the 8x8 map of the class the model said
(drawn by :mod:`aoc.display.explain_view`). Nothing runs when the option is off: the loop
gets no ``frozen_view`` at all. With it on, the only cost to the live loop is one copy of
each classified frame (kept because a camera may reuse its buffers).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from aoc.errors import AocError
from aoc.explain.rise import MapBuilder

log = logging.getLogger(__name__)

DEFAULT_BUDGET = 128
DEFAULT_PER_TICK = 4


class FrozenMap:
    """Builds the map of the last classified frame while frozen; see the module doc.

    The loop calls :meth:`on_frame` after each classified frame and :meth:`on_frozen` on
    each tick while frozen; the latter returns the state to show.
    """

    def __init__(self, *, budget: int = DEFAULT_BUDGET, per_tick: int = DEFAULT_PER_TICK,
                 seed: int = 0) -> None:
        self.budget, self.per_tick, self.seed = budget, max(1, per_tick), seed
        self._frame: np.ndarray | None = None
        self._builder: MapBuilder | None = None
        self._cells: tuple[tuple[float, ...], ...] | None = None
        self._label = ""
        self._failed = False

    def on_frame(self, frame: np.ndarray) -> None:
        """Keep a copy of the newest classified frame; forget the previous map."""
        if self._frame is None or self._frame.shape != frame.shape:
            self._frame = np.empty_like(frame)
        np.copyto(self._frame, frame)
        self._builder, self._cells, self._failed = None, None, False

    def on_frozen(self, state: Any, classifier: Any) -> Any:
        """Do a few invocations of the map; ``state`` with the map once it is complete."""
        if self._cells is not None:
            return self._with_map(state)
        if self._frame is None or self._failed:
            return state
        try:
            if self._builder is None:
                self._builder = MapBuilder(classifier, self._frame, budget=self.budget,
                                           seed=self.seed, chunk=self.per_tick * 4)
            if not self._builder.step(self.per_tick):
                return state
            expl = self._builder.result()
        except AocError as exc:  # e.g. the TPU went away: the loop reports it when live
            self._failed = True
            log.warning("frozen-frame map not made: %s", exc)
            return state
        cells = expl.map_of(None)
        self._cells = tuple(tuple(round(float(v), 5) for v in row) for row in cells)
        self._label = expl.labels[expl.top]
        self._builder = None
        log.info("frozen-frame map of %r ready (%d invocations, %.1f s)", self._label,
                 expl.invocations, expl.seconds)
        return self._with_map(state)

    def _with_map(self, state: Any) -> Any:
        if state.map_cells == self._cells and state.map_label == self._label:
            return state
        return state.replace(map_cells=self._cells, map_label=self._label)
