"""A one-line text rendering of the state, for desktops and logs.

On a terminal it redraws one line in place (``\\r``); into a pipe or file it writes
plain lines, at most one per ``min_interval_s`` unless the verdict or message changes.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from aoc.display.base import BaseDisplay
from aoc.display.render import VERDICT_TEXT, fps_text, percent
from aoc.display.state import DisplayState

log = logging.getLogger(__name__)

_BADGE = {"edgetpu": "TPU", "cpu": "CPU", "": "---"}
_BOLD, _RESET, _ERASE = "\x1b[1m", "\x1b[0m", "\x1b[K"


def _bar(value: float, cells: int) -> str:
    filled = round(value * cells)
    return "#" * filled + "-" * (cells - filled)


def verdict_word(state: DisplayState) -> str:
    """The verdict as shown: ``-`` under a message when the reading is not live (a fault's
    last verdict, or a bare model's, whose label line is the message), as the OLED does."""
    if state.message is not None and not state.live:
        return "-"
    return VERDICT_TEXT[state.verdict]


def format_line(state: DisplayState, width: int = 80, *, ansi: bool = False) -> str:
    """The state as one line of at most ``width`` visible characters."""
    if state.blank:
        return "(display blanked: scene idle)"
    # the bars give way to a message (a fault, a bare model's label): at 80 columns the
    # message was always the part cut off
    room = width - 52 - (len(state.message) + 4 if state.message else 0)
    bar = max(0, min(20, room // 2))
    word = verdict_word(state)
    verdict = f"{word:<7}"
    if ansi:
        verdict = _BOLD + verdict + _RESET
    parts = [
        f"anime {percent(state.anime):>4}" + (f" {_bar(state.anime, bar)}" if bar else ""),
        f"cartoon {percent(state.cartoon):>4}" + (f" {_bar(state.cartoon, bar)}" if bar else ""),
        verdict,
        f"{_BADGE[state.backend]} {fps_text(state.fps):>4} fps",
    ]
    if state.frozen:
        parts.append("[frozen]")
    line = "  ".join(parts)
    if state.message:
        line += f"  ! {state.message}"
        if len(line) - (len(_BOLD) + len(_RESET) if ansi else 0) > width:
            # the compact form of the facts, as on a 128x32 panel's status row
            compact = [f"A {percent(state.anime)}", f"C {percent(state.cartoon)}",
                       _BOLD + word + _RESET if ansi else word, _BADGE[state.backend]]
            line = " ".join(compact) + f"  ! {state.message}"
    visible = len(line) - (len(_BOLD) + len(_RESET) if ansi else 0)
    if visible > width:
        line = line[: len(line) - (visible - width) - 1] + "~"
    return line


class TerminalDisplay(BaseDisplay):
    """Writes the state to ``stream`` (never ``print``); ``close`` ends the line, never the stream.

    ``ansi=None`` means: use ANSI bold and erase-to-end-of-line when ``stream`` is a TTY.
    ``width=None`` asks the TTY for its width (80 otherwise).
    ``on_output_closed`` is called once when the reader of a pipe goes away (``aoc run
    --display terminal | head``): the app stops the run, as Unix tools do; without it the
    ``BrokenPipeError`` propagates (the drawer then reports "display lost").
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        width: int | None = None,
        ansi: bool | None = None,
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_output_closed: Callable[[], None] | None = None,
    ) -> None:
        self._stream = sys.stdout if stream is None else stream
        self._on_output_closed = on_output_closed
        isatty = getattr(self._stream, "isatty", None)
        self._tty = bool(isatty and isatty())
        self._ansi = self._tty if ansi is None else ansi
        if width is None:
            width = 80
            if self._tty:
                try:
                    columns = os.get_terminal_size(self._stream.fileno()).columns
                except (OSError, ValueError, AttributeError):
                    columns = 0
                # A pseudo-terminal that never had its size set reports 0 columns.
                if columns > 1:
                    width = columns - 1
        self.width = max(20, width)
        self.size: tuple[int, int] = (self.width, 1)
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._last_line: str | None = None
        self._last_key: tuple[str, str | None] | None = None
        self._last_write = float("-inf")
        self._open_line = False
        self._closed = False

    def frame_key(self, state: DisplayState) -> str:
        """The line ``state`` would write: ThreadedDisplay draws only when it changes."""
        return format_line(state, self.width, ansi=self._ansi)

    def show(self, state: DisplayState) -> None:
        """Write the state's line if it differs from the last one (and, for pipes, rate-capped)."""
        if self._closed:
            return
        try:
            self._show(state)
        except BrokenPipeError:
            self._pipe_closed()

    def _pipe_closed(self) -> None:
        if self._on_output_closed is None:
            raise BrokenPipeError("the terminal display's output was closed")
        self._closed = True
        log.info("terminal display: the output pipe was closed; stopping")
        self._on_output_closed()

    def _show(self, state: DisplayState) -> None:
        line = self.frame_key(state)
        if line == self._last_line:
            return
        if self._tty:
            pad = _ERASE if self._ansi else " " * max(0, len(self._last_line or "") - len(line))
            self._stream.write("\r" + line + pad)
            self._open_line = True
        else:
            key = (state.verdict, state.message)
            now = self._clock()
            if key == self._last_key and now - self._last_write < self._min_interval_s:
                return
            self._stream.write(line + "\n")
            self._last_key, self._last_write = key, now
        self._stream.flush()
        self._last_line = line

    def clear(self) -> None:
        """Erase the in-place line on a TTY; nothing to do for pipes."""
        if self._tty and self._open_line and not self._closed:
            blank = _ERASE if self._ansi else " " * len(self._last_line or "")
            try:
                self._stream.write("\r" + blank + "\r")
                self._stream.flush()
            except BrokenPipeError:
                self._pipe_closed()
        self._last_line = None

    def close(self) -> None:
        """Finish the in-place line so later output starts on a new line; safe twice."""
        if self._closed:
            return
        self._closed = True
        if self._tty and self._open_line:
            try:
                self._stream.write("\n")
                self._stream.flush()
            except BrokenPipeError:
                log.debug("terminal display: output closed before the last line ended")
