"""SIGTERM/SIGINT handling for the appliance loop: a signal sets a stop event."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Any

log = logging.getLogger(__name__)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Any:
    """SIGTERM/SIGINT set ``stop`` (main thread only); previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)

