"""Tests for aoc.testing.soak_doubles: the synthetic source and the recording display."""

from __future__ import annotations

import numpy as np

from aoc.testing.soak_doubles import RecordingDisplay, SyntheticSource


def test_synthetic_source_reuses_its_frames() -> None:
    source = SyntheticSource((32, 24), count=3)
    frames = [source.read() for _ in range(6)]
    assert frames[0].shape == (24, 32, 3) and frames[0].dtype == np.uint8
    assert frames[0] is frames[3] and frames[0] is not frames[1]


def test_recording_display_waits_for_a_state() -> None:
    screen = RecordingDisplay()
    screen.show("a")
    assert screen.wait_for(lambda s: s == "a", timeout=1.0)
    assert not screen.wait_for(lambda s: s == "b", timeout=0.01)
