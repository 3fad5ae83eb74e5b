"""BurnInGuard: pixel shift over time, dim then blank when idle, wake on change."""

from __future__ import annotations

import pytest

from aoc.display.burnin import BurnInAction, BurnInGuard, shift_path
from aoc.display.state import DisplayState
from aoc.errors import ConfigError

STATE = DisplayState(anime=0.87, cartoon=0.12, verdict="anime", backend="edgetpu", fps=30)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_shift_path_stays_in_bounds_and_moves_a_pixel_at_a_time():
    for m in (1, 2, 3):
        path = shift_path(m)
        assert path[0] == (0, 0) and len(set(path)) == (2 * m + 1) ** 2
        for (x0, y0), (x1, y1) in zip(path, path[1:] + path[:1], strict=True):
            assert abs(x1 - x0) <= 1 and abs(y1 - y0) <= 1
            assert max(abs(x1), abs(y1)) <= m
    assert shift_path(0) == ((0, 0),)


def test_offset_changes_every_shift_interval(clock):
    guard = BurnInGuard(shift_every_s=60, max_shift=2, clock=clock)
    first = guard.update(STATE)
    assert first == BurnInAction(offset=(0, 0), dim=False, blank=False)
    clock.now += 59
    assert guard.update(STATE).offset == (0, 0)
    clock.now += 1
    assert guard.update(STATE).offset == (1, 0)
    clock.now += 60
    assert guard.update(STATE).offset == (2, 0)


def test_dim_then_blank_when_idle_and_wake_on_change(clock):
    guard = BurnInGuard(dim_after_s=300, blank_after_s=1800, clock=clock)
    guard.update(STATE)
    clock.now += 299
    assert not guard.update(STATE).dim
    clock.now += 1
    action = guard.update(STATE.replace(anime=0.88))  # below the threshold: still idle
    assert action.dim and not action.blank
    clock.now += 1500
    assert guard.update(STATE).blank
    action = guard.update(STATE.replace(anime=0.5))  # the scene changed
    assert not action.dim and not action.blank


@pytest.mark.parametrize(
    "change",
    [dict(verdict="both"), dict(view=1), dict(message="camera lost"), dict(frozen=True),
     dict(cartoon=0.2)],
)
def test_any_visible_change_wakes(clock, change):
    guard = BurnInGuard(dim_after_s=10, blank_after_s=20, clock=clock)
    guard.update(STATE)
    clock.now += 30
    assert guard.update(STATE).blank
    assert guard.update(STATE.replace(**change)) == BurnInAction((0, 0), False, False)


def test_slow_drift_adds_up_to_a_change(clock):
    guard = BurnInGuard(dim_after_s=10, blank_after_s=None, change_threshold=0.03, clock=clock)
    guard.update(STATE)
    anime = STATE.anime
    woke = False
    for _ in range(5):
        clock.now += 11
        anime -= 0.01
        action = guard.update(STATE.replace(anime=anime))
        woke = woke or not action.dim
    assert woke  # 0.01 a step is below the threshold, but three steps are not


def test_wake_and_disabled_features(clock):
    guard = BurnInGuard(shift_every_s=None, dim_after_s=None, blank_after_s=None, clock=clock)
    guard.update(STATE)
    clock.now += 100_000
    assert guard.update(STATE) == BurnInAction((0, 0), False, False)
    guard = BurnInGuard(dim_after_s=10, blank_after_s=20, clock=clock)
    guard.update(STATE)
    clock.now += 15
    guard.wake()  # e.g. a button press
    assert not guard.update(STATE).dim


def test_apply_fills_the_state(clock):
    guard = BurnInGuard(shift_every_s=1, dim_after_s=1, blank_after_s=5, clock=clock)
    guard.update(STATE)
    clock.now += 2
    shown = guard.apply(STATE)
    assert shown.offset == (2, 0) and shown.dim and not shown.blank
    assert shown.anime == STATE.anime


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="max_shift"):
        BurnInGuard(max_shift=20)
    with pytest.raises(ConfigError, match="change_threshold"):
        BurnInGuard(change_threshold=2)
    with pytest.raises(ConfigError, match="blank_after_s"):
        BurnInGuard(dim_after_s=100, blank_after_s=50)


def test_a_notice_shown_again_each_minute_lets_the_panel_dim(clock):
    """'no TPU - on CPU' shown 5 s a minute on a Pi without a Coral: every appearance
    counted as a scene change, and the panel never dimmed or blanked."""
    guard = BurnInGuard(dim_after_s=300, blank_after_s=1800, clock=clock)
    guard.update(STATE.replace(message="no TPU - on CPU"))  # new: a change
    actions = []
    for minute in range(40):
        for second, shown in ((0, True), (5, False)):
            clock.now = 1000.0 + 60 * minute + second + (5 if minute == 0 else 0)
            state = (STATE.replace(message="no TPU - on CPU", notice=True) if shown
                     and minute else STATE)
            actions.append((clock.now - 1000.0, guard.update(state)))
    assert any(a.dim for t, a in actions if 310 <= t < 1800)
    assert any(a.blank for t, a in actions if t >= 1810)


def test_numbers_in_a_line_are_no_change_but_its_words_are(clock):
    """A bare model's 'comic book 70%' moving a point, a countdown: not a scene change."""
    guard = BurnInGuard(dim_after_s=10, blank_after_s=20, clock=clock)
    guard.update(STATE.replace(message="comic book 70%"))
    clock.now += 30
    assert guard.update(STATE.replace(message="comic book 71%")).blank
    assert not guard.update(STATE.replace(message="tabby 71%")).blank


def test_a_backend_change_wakes_the_panel(clock):
    """A failover to the CPU (or back to the TPU) changes the screen's backend line: on a
    dimmed or blank panel nobody would see that the appliance has slowed down."""
    guard = BurnInGuard(dim_after_s=10, blank_after_s=20, clock=clock)
    guard.update(STATE)
    clock.now += 30
    assert guard.update(STATE).blank
    assert guard.update(STATE.replace(backend="cpu")) == BurnInAction((0, 0), False, False)
    clock.now += 30
    assert guard.update(STATE.replace(backend="cpu")).blank  # the new backend is the norm
    assert not guard.update(STATE).blank  # and going back to the TPU is a change again
