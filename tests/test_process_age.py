"""Tests for aoc.app.process_age: the start-up clock of ``aoc run``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from aoc.app.process_age import StartMark, mark_start, start_ticks, timed_process_age

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
    # the mark says this process ran nothing before aoc, whatever started the test run
    age = timed_process_age(StartMark(time.perf_counter()), stat_path=stat,
                            boot_clock=lambda: now[0], ticks_per_s=100)
    assert age() == pytest.approx(1300.0 - 1234.56)
    now[0] += 2.5
    assert age() == pytest.approx(1300.0 - 1234.56 + 2.5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/stat is Linux's")
def test_a_wall_clock_step_does_not_change_the_age(monkeypatch):
    """A Pi has no RTC: its wall clock steps when it syncs after boot. The age must not."""
    age = timed_process_age(StartMark(time.perf_counter()))
    before = age()
    assert 0.0 < before < time.clock_gettime(time.CLOCK_BOOTTIME)
    monkeypatch.setattr(time, "time", lambda: 4e9)  # the wall clock jumps by decades
    after = age()
    assert 0.0 <= after - before < 5.0


def test_without_proc_the_age_counts_from_the_mark(tmp_path):
    age = timed_process_age(StartMark(time.perf_counter() - 3.0), stat_path=tmp_path / "missing")
    assert 3.0 <= age() < 8.0


def test_a_process_that_waited_for_children_is_marked():
    def usage(minflt, maxrss):
        return lambda: SimpleNamespace(ru_minflt=minflt, ru_maxrss=maxrss)

    assert not mark_start(children_usage=usage(0, 0)).ran_other_programs
    assert mark_start(children_usage=usage(97, 1644)).ran_other_programs


def test_after_other_programs_the_age_counts_from_the_mark_not_the_fork(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(STAT)  # forked at 1234.56 s, 65 s before this boot clock's now
    mark = StartMark(time.perf_counter() - 1.5, ran_other_programs=True)
    age = timed_process_age(mark, stat_path=stat, boot_clock=lambda: 1300.0, ticks_per_s=100)
    assert 1.5 <= age() < 6.5


@pytest.mark.skipif(shutil.which("bash") is None or not sys.platform.startswith("linux"),
                    reason="needs bash and /proc")
def test_a_shell_that_execs_aoc_after_a_slow_command_does_not_count_it():
    """``bash -c 'slow && aoc'`` execs aoc in the shell's process: its fork time is the
    shell's, before the slow command."""
    code = ("from aoc.app.process_age import mark_start, timed_process_age; "
            "m = mark_start(); print(m.ran_other_programs, timed_process_age(m)())")
    out = subprocess.run(["bash", "-c", f'sleep 1 && exec "$0" -c "{code}"', sys.executable],
                         capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert out[0] == "True" and float(out[1]) < 1.0
