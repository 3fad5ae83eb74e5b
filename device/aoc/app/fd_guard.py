"""A guard against file descriptors leaking over months of unattended running.

A library that leaks a descriptor per failed attempt (picamera2 leaves a pipe behind each
time ``Picamera2()`` cannot acquire a camera another program holds, and the camera is
retried every 30 s) runs the process out of descriptors in hours: every open then fails
with EMFILE, the OLED and the camera included, and nothing recovers. :class:`FdGuard`
counts this process's open descriptors once a minute; past a share of the soft limit it
logs an error and ends the run, and ``aoc run`` exits with 75 (``EX_TEMPFAIL``) so that
systemd starts the appliance afresh (``Restart=always``).
"""

from __future__ import annotations

import logging
import os
import resource
import threading
import time
from collections.abc import Callable

from aoc.app.restart_check import RestartCheck

log = logging.getLogger(__name__)

LIMIT_SHARE = 0.8
CHECK_EVERY_S = 60.0


def open_fds(folder: str = "/proc/self/fd") -> int | None:
    """How many file descriptors this process has open (``None`` where /proc is not)."""
    try:
        return len(os.listdir(folder))
    except OSError:
        return None


def fd_limit() -> int | None:
    """The soft limit on open file descriptors (``None`` when unlimited or unknown)."""
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY or soft <= 0 else int(soft)


class FdGuard(RestartCheck):
    """LoopHook: ends the run (sets ``stop``) once open descriptors pass ``share`` of the
    limit; ``tripped`` then says why. Checks at most every ``every_s`` seconds of
    ``clock``, on any tick (also while the camera is down, when leaks happen)."""

    def __init__(self, stop: threading.Event, *, share: float = LIMIT_SHARE,
                 every_s: float = CHECK_EVERY_S,
                 count: Callable[[], int | None] = open_fds,
                 limit: Callable[[], int | None] = fd_limit,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(stop, every_s=every_s, clock=clock)
        self._share = share
        self._count = count
        self._limit = limit

    def check(self) -> str | None:
        """Count the descriptors: a reason when they pass ``share`` of the limit."""
        count, limit = self._count(), self._limit()
        if count is None or limit is None or count < self._share * limit:
            return None
        return (f"{count} file descriptors open of a limit of {limit}: something leaks "
                "them; restarting the appliance before every open fails")
