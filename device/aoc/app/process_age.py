"""How long this process has been running, for the start-up figure of ``aoc run``.

The age is read on the boot clock, never the wall clock: a Raspberry Pi has no real-time
clock, so its wall clock steps (often by hours) when it syncs the time after boot, just
when the service starts. The process's start comes from ``/proc/self/stat`` (field 22,
clock ticks since boot, the same clock as ``CLOCK_BOOTTIME``); elsewhere the age counts
from when :func:`timed_process_age` was called.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["start_ticks", "timed_process_age"]

log = logging.getLogger(__name__)

STAT_PATH = Path("/proc/self/stat")


def start_ticks(stat: str) -> int:
    """The start time field (22) of a ``/proc/PID/stat`` line, in clock ticks since boot.

    The command name (field 2) is in parentheses and may itself hold spaces and
    parentheses, so fields are counted after its last ``)``.
    """
    fields = stat[stat.rindex(")") + 1:].split()
    return int(fields[22 - 3])


def timed_process_age(
    start: float | None = None,
    *,
    stat_path: Path = STAT_PATH,
    boot_clock: Callable[[], float] | None = None,
    ticks_per_s: int | None = None,
) -> Callable[[], float]:
    """A function giving the seconds since this process started (see the module).

    Without a readable ``stat_path`` (not Linux), the seconds since ``start`` (a
    ``time.perf_counter()`` value), by default since this call.
    """
    clock = boot_clock or _boottime
    try:
        ticks = start_ticks(stat_path.read_text())
        hz = ticks_per_s or os.sysconf("SC_CLK_TCK")
        started = ticks / hz
        clock()  # the boot clock exists here
    except (OSError, ValueError, IndexError, AttributeError) as exc:
        log.debug("process start not readable from %s (%s): counting from now", stat_path, exc)
        t0 = start if start is not None else time.perf_counter()
        return lambda: time.perf_counter() - t0
    return lambda: clock() - started


def _boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)
