"""Tests for aoc.app.loop_options: the button controls and the loop's options."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from aoc.app.loop_options import LoopControls, LoopOptions


def test_view_cycles_modulo():
    controls = LoopControls(views=2)
    controls.next_view()
    assert controls.view == 1
    controls.next_view()
    assert controls.view == 0
    with pytest.raises(ValueError, match="at least one view"):
        LoopControls(views=0)


def test_freeze_toggles_and_is_logged(caplog):
    controls = LoopControls()
    with caplog.at_level(logging.INFO, logger="aoc.app.loop_options"):
        controls.toggle_freeze()
        assert controls.frozen
        controls.toggle_freeze()
    assert not controls.frozen
    assert [r.getMessage() for r in caplog.records] == ["reading frozen", "reading live"]


def test_a_reading_left_frozen_goes_live_after_the_timeout(caplog):
    """An exhibit frozen by one visitor stayed frozen (then dimmed and blanked) for the next."""
    now = [100.0]
    controls = LoopControls(freeze_timeout_s=120.0, clock=lambda: now[0])
    assert controls.thaw_if_due() is False  # not frozen: nothing to do
    controls.toggle_freeze()
    now[0] += 119.0
    assert controls.thaw_if_due() is False and controls.frozen
    now[0] += 1.0
    with caplog.at_level(logging.INFO, logger="aoc.app.loop_options"):
        assert controls.thaw_if_due() is True
    assert not controls.frozen and "live again after 120 s" in caplog.text
    controls.toggle_freeze()  # frozen anew: the timeout counts from this press
    now[0] += 60.0
    assert controls.thaw_if_due() is False and controls.frozen


def test_a_zero_timeout_keeps_the_reading_frozen_until_pressed():
    now = [0.0]
    controls = LoopControls(freeze_timeout_s=0.0, clock=lambda: now[0])
    controls.toggle_freeze()
    now[0] += 1e6
    assert controls.thaw_if_due() is False and controls.frozen


def test_options_are_frozen_and_default_to_running_until_stopped():
    opt = LoopOptions()
    assert (opt.max_frames, opt.duration_s, opt.stop, opt.max_fps) == (None, None, None, None)
    assert opt.display_interval_s is None  # the display's own frame interval
    with pytest.raises(dataclasses.FrozenInstanceError):
        opt.max_frames = 3  # type: ignore[misc]
    assert dataclasses.replace(opt, max_frames=3).max_frames == 3
