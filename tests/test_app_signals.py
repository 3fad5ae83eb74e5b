"""Tests for aoc.app.signals: SIGTERM sets the stop event; handlers come back after."""

from __future__ import annotations

import os
import signal
import threading

from aoc.app.signals import stop_on_signals


def test_sigterm_sets_stop_and_handlers_are_restored():
    stop = threading.Event()
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before


def test_sighup_is_handled_like_sigterm():
    stop = threading.Event()
    before = signal.getsignal(signal.SIGHUP)
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGHUP)
        assert stop.wait(5)
    assert signal.getsignal(signal.SIGHUP) is before
