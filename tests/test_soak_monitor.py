"""Tests for aoc.testing.soak_monitor: stall gaps, RSS samples, socket listing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aoc.testing.soak_monitor import SoakMonitor, listening_sockets, rss_bytes


def test_monitor_tracks_the_longest_gap() -> None:
    t = [0.0]
    monitor = SoakMonitor(warmup=10**9, clock=lambda: t[0])
    monitor.on_start(None)
    for step in (0.1, 0.5, 0.2):
        t[0] += step
        monitor.on_tick(None)
    assert monitor.max_gap_s == pytest.approx(0.5)


def test_monitor_samples_rss_after_warmup_and_at_the_end() -> None:
    monitor = SoakMonitor(warmup=2, final=6, sample_every=2)
    for frames in range(1, 7):
        monitor.on_result(SimpleNamespace(frames=frames), frames == 1)
    assert [f for f, _ in monitor.rss_samples] == [2, 4, 6]
    assert monitor.rss_warm == monitor.rss_samples[0][1] > 0
    assert monitor.rss_end == monitor.rss_samples[-1][1]
    assert monitor.listeners == []  # taken at the first result; this process listens on none
    monitor.on_stop(None)
    assert monitor.rss_stop is not None and monitor.rss_stop > 0


def test_rss_and_sockets_read_this_process() -> None:
    assert rss_bytes() > 10 * 2**20
    assert isinstance(listening_sockets(), list)
