"""Logging for the ``aoc`` command: stderr, journald priorities under systemd, and repeats
held back so a failing camera cannot flood the journal."""

from __future__ import annotations

import logging
import sys

from aoc.app.repeat_filter import RepeatFilter


def setup_logging(level: str, *, journald: bool) -> None:
    """Log to stderr; without timestamps under systemd (journald adds its own).

    Repeats are held back by :class:`aoc.app.repeat_filter.RepeatFilter` so the journal is not
    flooded.
    """
    fmt = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PriorityFormatter(fmt) if journald else logging.Formatter(fmt))
    # A message repeating more than 5 times a minute is held, then counted once.
    handler.addFilter(RepeatFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())


class _PriorityFormatter(logging.Formatter):
    """sd-daemon(3) ``<N>`` priority prefix, so journald files each line at its level."""

    _PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
                 logging.CRITICAL: 2}

    def format(self, record: logging.LogRecord) -> str:
        priority = self._PRIORITY.get(record.levelno, 6)
        text = f"<{priority}>{record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text
