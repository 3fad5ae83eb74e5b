"""Tests for aoc.app.notice: when a notice takes the screen and when the reading shows."""

from __future__ import annotations

import math

import pytest

from aoc.app.notice import NoticeTimer, notice_visible


@pytest.mark.parametrize(("age", "shown"), [
    (0.0, True), (4.9, True), (5.0, False), (59.9, False),
    (60.0, True), (64.9, True), (65.0, False), (120.5, True),
])
def test_a_notice_shows_first_then_every_period(age, shown):
    assert notice_visible(age, show_s=5.0, every_s=60.0) is shown


def test_an_infinite_period_shows_the_notice_once():
    assert notice_visible(1.0, show_s=5.0, every_s=math.inf)
    assert not notice_visible(1e6, show_s=5.0, every_s=math.inf)


def test_the_timer_restarts_for_a_new_notice_and_forgets_a_cleared_one():
    timer = NoticeTimer(show_s=5.0, every_s=60.0)
    assert timer("no TPU - on CPU", 100.0) == "no TPU - on CPU"
    assert timer("no TPU - on CPU", 106.0) is None  # the reading shows
    assert timer("TPU lost - on CPU", 107.0) == "TPU lost - on CPU"  # a new notice: at once
    assert timer(None, 108.0) is None
    assert timer("TPU lost - on CPU", 200.0) == "TPU lost - on CPU"  # it came back: afresh
    assert timer("TPU lost - on CPU", 205.0) is None


@pytest.mark.parametrize(("show_s", "always"), [(0.0, False), (60.0, True), (90.0, True)])
def test_show_times_of_zero_and_of_a_whole_period(show_s, always):
    timer = NoticeTimer(show_s=show_s, every_s=60.0)
    seen = [timer("demo", float(t)) for t in range(0, 200, 7)]
    assert all(s == ("demo" if always else None) for s in seen)


@pytest.mark.parametrize("kwargs", [{"every_s": 0.0}, {"every_s": -1.0},
                                    {"show_s": math.nan}, {"every_s": math.nan}])
def test_a_bad_period_is_refused(kwargs):
    with pytest.raises(ValueError, match="every_s"):
        NoticeTimer(**kwargs)
