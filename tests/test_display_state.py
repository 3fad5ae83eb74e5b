"""DisplayState: validation, clamping, replace."""

from __future__ import annotations

import dataclasses
import math

import pytest

from aoc.display.state import STARTING, VERDICTS, DisplayState, InvalidDisplayState
from aoc.errors import AocError


def test_defaults_and_fields():
    s = DisplayState(anime=0.4, cartoon=0.6, verdict="cartoon")
    assert (s.backend, s.fps, s.frozen, s.view, s.message) == ("", 0.0, False, 0, None)
    assert (s.dim, s.blank, s.offset) == (False, False, (0, 0))
    assert STARTING.message == "starting"


def test_scores_are_clamped_to_unit_range():
    s = DisplayState(anime=1.7, cartoon=-0.2, verdict="anime")
    assert (s.anime, s.cartoon) == (1.0, 0.0)


def test_nan_score_is_an_error_naming_the_field():
    with pytest.raises(InvalidDisplayState, match="anime"):
        DisplayState(anime=math.nan, cartoon=0.0, verdict="anime")


@pytest.mark.parametrize("verdict", VERDICTS)
def test_every_verdict_is_accepted(verdict):
    assert DisplayState(anime=0, cartoon=0, verdict=verdict).verdict == verdict


def test_unknown_verdict_and_backend_are_errors():
    with pytest.raises(InvalidDisplayState, match="'maybe'") as info:
        DisplayState(anime=0, cartoon=0, verdict="maybe")
    assert isinstance(info.value, AocError) and isinstance(info.value, ValueError)
    with pytest.raises(InvalidDisplayState, match="gpu"):
        DisplayState(anime=0, cartoon=0, verdict="anime", backend="gpu")


def test_bad_fps_becomes_zero_and_blank_message_none():
    s = DisplayState(anime=0, cartoon=0, verdict="anime", fps=math.nan, message="  ")
    assert s.fps == 0.0 and s.message is None
    assert DisplayState(anime=0, cartoon=0, verdict="anime", fps=-3).fps == 0.0


def test_frozen_and_replace_validates():
    s = DisplayState(anime=0.2, cartoon=0.3, verdict="neither")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.anime = 0.5  # type: ignore[misc]
    t = s.replace(dim=True, offset=(1.0, -2.0))
    assert t.dim and t.offset == (1, -2) and s.dim is False
    with pytest.raises(InvalidDisplayState):
        s.replace(verdict="nope")
