"""Tests for aoc.app.process_age: the start-up clock of ``aoc run``."""

from __future__ import annotations

import sys
import time

import pytest

from aoc.app.process_age import start_ticks, timed_process_age

# a /proc/PID/stat line whose command name holds spaces and parentheses
STAT = ("4242 (aoc (run) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 120 30 0 0 20 0 3 0 "
        "123456 600000000 20000 18446744073709551615 1 1 0 0 0 0 0 16781312 16386 0 0 0 17 1 "
        "0 0 0 0 0")


def test_start_ticks_counts_fields_after_the_command_name():
    assert start_ticks(STAT) == 123456


def test_age_is_the_boot_clock_minus_the_process_start(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(STAT)
    now = [1300.0]
    age = timed_process_age(stat_path=stat, boot_clock=lambda: now[0], ticks_per_s=100)
    assert age() == pytest.approx(1300.0 - 1234.56)
    now[0] += 2.5
    assert age() == pytest.approx(1300.0 - 1234.56 + 2.5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/stat is Linux's")
def test_a_wall_clock_step_does_not_change_the_age(monkeypatch):
    """A Pi has no RTC: its wall clock steps when it syncs after boot. The age must not."""
    age = timed_process_age()
    before = age()
    assert 0.0 < before < time.clock_gettime(time.CLOCK_BOOTTIME)
    monkeypatch.setattr(time, "time", lambda: 4e9)  # the wall clock jumps by decades
    after = age()
    assert 0.0 <= after - before < 5.0


def test_without_proc_the_age_counts_from_start(tmp_path):
    age = timed_process_age(time.perf_counter() - 3.0, stat_path=tmp_path / "missing")
    assert 3.0 <= age() < 8.0
