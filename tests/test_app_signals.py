"""Tests for aoc.app.signals: SIGTERM sets the stop event; handlers come back after."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from aoc.app.signals import stop_on_signals


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_signal_sets_stop_and_handlers_are_restored(signum):
    """SIGTERM stops the loop; SIGHUP is handled like it."""
    stop = threading.Event()
    before = signal.getsignal(signum)
    with stop_on_signals(stop):
        os.kill(os.getpid(), signum)
        assert stop.wait(5)
    assert signal.getsignal(signum) is before
