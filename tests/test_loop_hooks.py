"""Tests for aoc.app.loop_hooks: every hook is called, a failing one is counted and
logged once per method, and never stops the others."""

from __future__ import annotations

import logging

from aoc.app.loop_hooks import HookCaller
from aoc.app.loop_stats import LoopStats


class Partial:
    """Has only ``on_tick``, like most hooks (the others are optional)."""

    def __init__(self):
        self.ticks = 0

    def on_tick(self, stats):
        self.ticks += 1


class Broken:
    def on_tick(self, stats):
        raise RuntimeError("boom")


def test_calls_each_hook_that_has_the_method():
    stats = LoopStats()
    first, second = Partial(), Partial()
    caller = HookCaller([first, second], stats)
    caller.call("on_tick", stats)
    caller.call("on_result", stats, True)  # neither has it: nothing happens
    assert (first.ticks, second.ticks) == (1, 1) and stats.faults["hook"] == 0


def test_a_failing_hook_is_counted_every_time_and_logged_once(caplog):
    stats = LoopStats()
    after = Partial()
    caller = HookCaller([Broken(), after], stats)
    with caplog.at_level(logging.ERROR, logger="aoc.app.loop_hooks"):
        for _ in range(3):
            caller.call("on_tick", stats)
    assert stats.faults["hook"] == 3 and after.ticks == 3
    logged = [r for r in caplog.records if r.name == "aoc.app.loop_hooks"]
    assert len(logged) == 1 and "on_tick" in logged[0].getMessage()
