"""SIGTERM/SIGINT/SIGHUP handling for the appliance loop: a signal sets a stop event.

SIGHUP (the terminal closed, or ``kill -HUP``) is handled like SIGTERM: the loop stops and
everything is closed in reverse order, the summary printed, the display cleared. (The
config is not reloaded on SIGHUP: restart the service to apply a new one.)
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Any:
    """SIGTERM/SIGINT/SIGHUP set ``stop`` (main thread only); previous handlers come back
    after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)

