"""What follows the capture loop: the :class:`LoopHook` protocol and :class:`HookCaller`,
which calls every hook and never lets one stop the loop."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from aoc.app.loop_stats import LoopInfo, LoopStats

__all__ = ["HookCaller", "LoopHook"]

log = logging.getLogger(__name__)


class LoopHook(Protocol):
    """Something that follows the loop (sd_notify, stats recorders, tests).

    ``on_result(stats, first)`` runs after each classified frame (``first`` is True once,
    the moment to say READY); ``on_tick`` on every iteration, including while the camera
    is down or the reading is frozen. A hook that raises is logged and counted, never
    allowed to stop the loop.
    """

    def on_start(self, info: LoopInfo) -> None:
        """Once, before the first frame: what runs (model, source, display)."""

    def on_result(self, stats: LoopStats, first: bool) -> None:
        """After each classified frame; ``first`` is True once."""

    def on_tick(self, stats: LoopStats) -> None:
        """On every iteration of the loop, classified or not."""

    def on_stop(self, stats: LoopStats) -> None:
        """Once, when the loop ends, with its final figures."""


class HookCaller:
    """Calls every hook, logging (once per hook and method) and counting failures in
    ``stats.faults["hook"]``."""

    def __init__(self, hooks: Sequence[LoopHook], stats: LoopStats) -> None:
        # Bound methods looked up once, not on every frame.
        self._fns = {
            method: tuple((i, hook, fn) for i, hook in enumerate(hooks)
                          if (fn := getattr(hook, method, None)) is not None)
            for method in ("on_start", "on_result", "on_tick", "on_stop")
        }
        self._stats = stats
        self._failed: set[tuple[int, str]] = set()

    def call(self, method: str, *args: Any) -> None:
        """Call ``method`` (``"on_start"`` ...) of every hook that has it, in order."""
        for i, hook, fn in self._fns[method]:
            try:
                fn(*args)
            except Exception:  # a hook must never stop the appliance
                self._stats.faults["hook"] += 1
                if (i, method) not in self._failed:
                    self._failed.add((i, method))
                    log.exception("loop hook %r failed in %s; continuing", hook, method)
