"""A logging filter that keeps the journal free of floods.

A fault that repeats every frame is logged a few times, then summarised once per interval
(:class:`RepeatFilter`); :func:`aoc.log_setup.setup_logging` puts it on the log handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

Clock = Callable[[], float]


class RepeatFilter(logging.Filter):
    """Let a repeated message through ``burst`` times per ``interval_s``, then hold it.

    Repeats are keyed by logger, level and the unformatted message, so "camera lost: %s"
    with changing arguments still counts as one message. When a held message shows up again
    after its window, it passes with "(N similar messages suppressed)" appended. Memory is
    bounded: at most ``max_keys`` keys are tracked, the oldest dropped first.
    """

    def __init__(
        self,
        *,
        burst: int = 5,
        interval_s: float = 60.0,
        max_keys: int = 256,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.interval_s = interval_s
        self.max_keys = max_keys
        self._clock = clock
        # key -> [window start, count in window, suppressed]
        self._seen: dict[tuple[str, int, str], list[float | int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is logged: not when the same message was logged too often
        within the window (the count suppressed is said when it next passes)."""
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        entry = self._seen.get(key)
        if entry is None or now - float(entry[0]) >= self.interval_s:
            suppressed = int(entry[2]) if entry is not None else 0
            self._seen.pop(key, None)
            self._seen[key] = [now, 1, 0]
            if len(self._seen) > self.max_keys:
                del self._seen[next(iter(self._seen))]
            if suppressed:
                record.msg = f"{record.msg} ({suppressed} similar messages suppressed)"
            return True
        entry[1] = int(entry[1]) + 1
        if int(entry[1]) <= self.burst:
            return True
        entry[2] = int(entry[2]) + 1
        return False
