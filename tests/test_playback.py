"""RealTimePlayback: a video file's frames on its own clock (fake clock and sleep)."""

from __future__ import annotations

import pytest
from fakes.clock import FakeClock as Clock

from aoc.sources.playback import RealTimePlayback


def take(playback: RealTimePlayback) -> int:
    """One read as OpenCVSource does it: the frames dropped, then the one read."""
    skipped = playback.frames_to_skip()
    playback.advanced(skipped + 1)
    return skipped


def test_a_fast_reader_waits_for_each_frame_of_the_film():
    clock = Clock()
    playback = RealTimePlayback(10.0, clock=clock, sleep=clock.sleep)
    assert [take(playback) for _ in range(5)] == [0] * 5  # nothing dropped
    assert clock.slept == pytest.approx([0.1] * 4)  # the film's 10 fps, not faster
    assert clock.now == pytest.approx(100.4)


def test_a_slow_reader_drops_the_frames_it_missed():
    clock = Clock()
    playback = RealTimePlayback(30.0, clock=clock, sleep=clock.sleep)
    assert take(playback) == 0
    clock.now += 0.5  # a slow CPU model: half a second per frame
    assert take(playback) == 14  # frame 15 is due: 1..14 went by on the TV
    assert playback.index == 16 and clock.slept == []


def test_restart_starts_the_films_clock_again():
    clock = Clock()
    playback = RealTimePlayback(10.0, clock=clock, sleep=clock.sleep)
    take(playback)
    clock.now += 60.0
    playback.restart()
    assert take(playback) == 0 and playback.index == 1  # not 600 frames behind


@pytest.mark.parametrize("fps", [None, 0.0, float("nan"), 1000.0, -5.0])
def test_no_usable_frame_rate_reads_frame_after_frame(fps):
    clock = Clock()
    playback = RealTimePlayback(fps, clock=clock, sleep=clock.sleep)
    assert playback.fps is None
    assert [take(playback) for _ in range(3)] == [0, 0, 0] and clock.slept == []


def test_far_behind_the_film_waits_instead_of_dropping_a_minute_of_frames():
    """After a 10-minute freeze one read grabbed (decoded) every frame of those minutes,
    blocking the loop; a file decoding slower than it plays dropped more on every read."""
    clock = Clock()
    playback = RealTimePlayback(30.0, clock=clock, sleep=clock.sleep)
    take(playback)
    clock.now += 600.0
    assert take(playback) == 0  # resumes where it was
    assert playback.index == 2
    clock.now += 1 / 30 + 0.3  # a little behind: those frames are dropped, as before
    assert take(playback) == 9
    for _ in range(20):  # decoding and classifying take 1.5 frames' time each read
        clock.now += 0.05
        assert take(playback) <= 15  # bounded by MAX_CATCH_UP_S, never growing
