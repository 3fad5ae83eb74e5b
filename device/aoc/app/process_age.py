"""How long this process has been running, for the start-up figure of ``aoc run``.

The age is read on the boot clock, never the wall clock: a Raspberry Pi has no real-time
clock, so its wall clock steps (often by hours) when it syncs the time after boot, just
when the service starts. The process's start comes from ``/proc/self/stat`` (field 22,
clock ticks since boot, the same clock as ``CLOCK_BOOTTIME``); elsewhere the age counts
from a :class:`StartMark` taken when the CLI was imported.

Field 22 is when the process was forked, which is when ``aoc`` started unless the process
ran other programs first: ``bash -c './install.sh && .venv/bin/aoc run'`` execs ``aoc`` in
place of the shell once ``install.sh`` is done, and the fork time would add the install's
seconds to the start-up. Such a process has already waited for children of its own
before ``aoc`` spawned any (``getrusage(RUSAGE_CHILDREN)`` counts them across the exec),
so then the mark is the start.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["StartMark", "mark_start", "start_ticks", "timed_process_age"]

log = logging.getLogger(__name__)

STAT_PATH = Path("/proc/self/stat")


@dataclass(frozen=True)
class StartMark:
    """The earliest moment ``aoc`` can note itself: ``perf_s`` (``time.perf_counter()``)
    and whether the process had already waited for children (``ran_other_programs``)."""

    perf_s: float
    ran_other_programs: bool = False


def mark_start(*, children_usage: Callable[[], Any] | None = None) -> StartMark:
    """A :class:`StartMark` for now; take it before ``aoc`` runs any program of its own."""
    perf_s = time.perf_counter()
    try:
        usage = children_usage() if children_usage is not None else _children_usage()
    except (ImportError, OSError) as exc:  # no resource module (not Unix)
        log.debug("children's resource usage not readable (%s)", exc)
        return StartMark(perf_s)
    # any reaped child has touched memory, even one that used no measurable CPU time
    return StartMark(perf_s, ran_other_programs=usage.ru_minflt > 0 or usage.ru_maxrss > 0)


def _children_usage() -> Any:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN)


def start_ticks(stat: str) -> int:
    """The start time field (22) of a ``/proc/PID/stat`` line, in clock ticks since boot.

    The command name (field 2) is in parentheses and may itself hold spaces and
    parentheses, so fields are counted after its last ``)``.
    """
    fields = stat[stat.rindex(")") + 1:].split()
    return int(fields[22 - 3])


def timed_process_age(
    start: StartMark | None = None,
    *,
    stat_path: Path = STAT_PATH,
    boot_clock: Callable[[], float] | None = None,
    ticks_per_s: int | None = None,
) -> Callable[[], float]:
    """A function giving the seconds since this process started (see the module).

    Without a readable ``stat_path`` (not Linux), or when the process ran other programs
    before it became ``aoc``, the seconds since ``start`` (by default since this call).
    """
    mark = start if start is not None else mark_start()
    if mark.ran_other_programs:
        log.debug("this process ran other programs before aoc: start-up counts from the mark")
        return lambda: time.perf_counter() - mark.perf_s
    clock = boot_clock or _boottime
    try:
        ticks = start_ticks(stat_path.read_text())
        hz = ticks_per_s or os.sysconf("SC_CLK_TCK")
        started = ticks / hz
        clock()  # the boot clock exists here
    except (OSError, ValueError, IndexError, AttributeError) as exc:
        log.debug("process start not readable from %s (%s): counting from the mark",
                  stat_path, exc)
        return lambda: time.perf_counter() - mark.perf_s
    return lambda: clock() - started


def _boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)
