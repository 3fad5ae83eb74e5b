"""aoc.app.restart_check: the shared rule of the hooks that end the run for a fresh start."""

from __future__ import annotations

import logging
import threading

import pytest

from aoc.app.restart_check import RestartCheck


class Scripted(RestartCheck):
    """Answers from a list; records when it was asked."""

    def __init__(self, stop, answers, clock, **kwargs) -> None:
        super().__init__(stop, every_s=60, clock=clock, **kwargs)
        self.answers, self.asked = list(answers), []

    def check(self):
        self.asked.append(self._clock())
        return self.answers.pop(0) if self.answers else None


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_asked_at_the_first_tick_then_once_a_period_and_never_after_tripping(caplog):
    stop, clock = threading.Event(), Clock()
    hook = Scripted(stop, [None, None, "leaking"], clock)
    caplog.set_level(logging.INFO)
    for _ in range(12):
        hook.on_tick(None)
        clock.t += 15
    assert hook.asked == [0.0, 60.0, 120.0]  # not on every frame; not once tripped
    assert stop.is_set() and hook.tripped == "leaking"
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.ERROR, "leaking")]


def test_no_reason_never_stops_the_run():
    stop, clock = threading.Event(), Clock()
    hook = Scripted(stop, [], clock)
    for _ in range(5):
        hook.on_tick(None)
        clock.t += 60
    assert len(hook.asked) == 5 and not stop.is_set() and hook.tripped is None


def test_the_base_has_no_check_of_its_own():
    with pytest.raises(NotImplementedError):
        RestartCheck(threading.Event(), every_s=1).on_tick(None)
