"""Loop hooks that end the run so that the appliance starts afresh.

Some faults are mended best by a new process: descriptors leaking (:mod:`aoc.app.fd_guard`),
a configured model that came late (:mod:`aoc.app.bundle_watch`). Each is a
:class:`RestartCheck`: on the loop's ticks, at most every ``every_s`` seconds, it asks its
:meth:`~RestartCheck.check`; the first reason it gives ends the run (``stop`` is set), and
``aoc run`` exits with 75 (``EX_TEMPFAIL``), which systemd restarts (``Restart=always``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class RestartCheck:
    """LoopHook: calls :meth:`check` on the first tick and then at most every ``every_s``
    seconds of ``clock``, on any tick (also while the camera is down); once it returns a
    reason, that is ``tripped``, logged at ``level``, and ``stop`` is set. Subclasses give
    ``check``."""

    level = logging.ERROR

    def __init__(self, stop: threading.Event, *, every_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stop = stop
        self._every_s = every_s
        self._clock = clock
        self._next = float("-inf")
        self.tripped: str | None = None

    def check(self) -> str | None:
        """Why the appliance should start afresh now, or ``None``."""
        raise NotImplementedError

    # only on_tick: the loop calls no hook method a hook does not have
    def on_tick(self, stats: Any) -> None:
        """Run :meth:`check` when it is due; end the run on its first reason."""
        now = self._clock()
        if now < self._next or self.tripped is not None:
            return
        self._next = now + self._every_s
        reason = self.check()
        if reason is None:
            return
        self.tripped = reason
        log.log(self.level, "%s", reason)
        self._stop.set()
