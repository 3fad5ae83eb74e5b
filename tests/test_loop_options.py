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


def test_options_are_frozen_and_default_to_running_until_stopped():
    opt = LoopOptions()
    assert (opt.max_frames, opt.duration_s, opt.stop, opt.max_fps) == (None, None, None, None)
    assert opt.display_interval_s is None  # the display's own frame interval
    with pytest.raises(dataclasses.FrozenInstanceError):
        opt.max_frames = 3  # type: ignore[misc]
    assert dataclasses.replace(opt, max_frames=3).max_frames == 3
