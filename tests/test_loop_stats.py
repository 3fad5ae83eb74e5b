"""Tests for aoc.app.loop_stats: the stage-timing ring buffer and LoopStats' summary."""

from __future__ import annotations

import pytest

from aoc.app.loop_stats import STAGES, LoopStats, StageTimings


def test_stage_timings_summary():
    t = StageTimings(("a", "b"), capacity=100)
    assert t.summary()["a"].median_ms == 0.0
    for i in range(1, 101):
        t.put(0, i / 1000)
        t.put(1, 0.002)
        t.commit()
    s = t.summary()
    assert s["a"].median_ms == pytest.approx(50.5)
    assert s["a"].p95_ms == pytest.approx(95.05)
    assert s["b"].median_ms == pytest.approx(2.0)


def test_ring_buffer_overwrites_the_oldest_and_discards_partial_frames():
    t = StageTimings(("a",), capacity=3)
    for ms in (1, 2, 3, 4, 5):
        t.put(0, ms / 1000)
        t.commit()
    assert t.count == 3 and t.capacity == 3
    assert sorted(t.samples()[:, 0] * 1000) == pytest.approx([3, 4, 5])
    t.put(0, 9.0)
    t.discard()  # the next row (the oldest, 3 ms) is zeroed, not committed
    assert t.count == 3 and max(t.samples()[:, 0]) == pytest.approx(0.005)
    with pytest.raises(ValueError, match="at least 1"):
        StageTimings(capacity=0)


def test_loop_stats_to_dict_has_every_stage():
    stats = LoopStats(backend="cpu", reason="test", frames=2, seconds=0.5, fps=4.0)
    stats.timings.put(2, 0.010)
    stats.timings.commit()
    d = stats.to_dict()
    assert list(d["stages_ms"]) == list(STAGES)
    assert d["stages_ms"]["invoke"] == {"median": 10.0, "p95": 10.0}
    assert d["faults"] == {"camera": 0, "inference": 0, "hook": 0}
    assert d["frames"] == 2 and d["backend"] == "cpu"
