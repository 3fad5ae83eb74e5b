"""aoc.app.fd_guard: a run that leaks file descriptors ends itself before every open fails."""

from __future__ import annotations

import os
import threading

from aoc.app.fd_guard import FdGuard, fd_limit, open_fds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_past_the_share_of_the_limit_the_run_is_stopped_and_says_why() -> None:
    stop, clock, counts = threading.Event(), Clock(), iter([100, 790, 801])
    guard = FdGuard(stop, share=0.8, every_s=60, count=lambda: next(counts),
                    limit=lambda: 1000, clock=clock)
    guard.on_tick(None)
    clock.now = 60
    guard.on_tick(None)
    assert not stop.is_set() and guard.tripped is None
    clock.now = 120
    guard.on_tick(None)
    assert stop.is_set()
    assert guard.tripped.startswith("801 file descriptors open of a limit of 1000")


def test_counts_at_most_once_a_period_and_never_without_proc_or_a_limit() -> None:
    stop, clock, calls = threading.Event(), Clock(), []

    def count() -> int | None:
        calls.append(clock.now)
        return None  # no /proc: nothing to count

    guard = FdGuard(stop, every_s=60, count=count, limit=lambda: 1000, clock=clock)
    for t in (0, 1, 59, 60, 61, 130):
        clock.now = t
        guard.on_tick(None)
    assert calls == [0, 60, 130] and not stop.is_set()
    unlimited = FdGuard(stop, count=lambda: 10**6, limit=lambda: None, clock=clock)
    unlimited.on_tick(None)
    assert not stop.is_set()


def test_the_real_count_and_limit(tmp_path) -> None:
    before = open_fds()
    if before is None:  # no /proc here
        assert fd_limit() is None or fd_limit() > 0
        return
    fd = os.open(tmp_path / "f", os.O_CREAT | os.O_WRONLY)
    try:
        assert open_fds() == before + 1
    finally:
        os.close(fd)
    limit = fd_limit()
    assert limit is None or limit >= before
