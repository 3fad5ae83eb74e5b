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


def test_sockets_are_listed_with_a_psutil_older_than_6(monkeypatch) -> None:
    """psutil 6 renamed Process.connections to net_connections; Bookworm's apt psutil
    (5.9), which the Pi's venv sees, has only the old name: the soak crashed on it."""
    import socket

    import psutil

    real = psutil.Process

    class OldProcess:
        """psutil 5.9's Process: connections(), no net_connections()."""

        def __init__(self) -> None:
            self._real = real()

        def connections(self, kind: str = "inet"):
            return self._real.net_connections(kind=kind)

    monkeypatch.setattr(psutil, "Process", OldProcess)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        listed = listening_sockets()
    assert any("AF_INET SOCK_STREAM" in s and "LISTEN" in s for s in listed), listed
