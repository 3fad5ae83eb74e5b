"""Real-time playback of a video file: the frame due now, as a camera held at a TV sees it.

A file read as fast as the loop runs plays at the loop's rate, not the film's: a 15 fps
clip ran at twice its speed under a 30 fps cap, and the smoothing, whose time constant is
in seconds, saw half the time per picture. :class:`RealTimePlayback` keeps the clock of
the film: ahead of it, the reader waits for the next frame; behind it (a slow CPU model),
frames are dropped, as a TV would have shown them meanwhile, up to
:data:`MAX_CATCH_UP_S` of them. Further behind (the reading was frozen, or the file
decodes slower than it plays) the film's clock is moved instead, as if it had paused:
dropping a minute of frames would decode them all in one read. Pure: time comes from
``clock`` and waiting is ``sleep``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

MIN_FPS, MAX_FPS = 1.0, 240.0
"""A file's stated frame rate outside this range (0 for many streams, 1000 for some
broken headers) is not trusted: such a file is read frame after frame."""
MAX_CATCH_UP_S = 0.5
"""The most of the film dropped in one read; further behind, the film waits instead."""


class RealTimePlayback:
    """Which frame of a file is due, for a file of ``fps`` frames a second (``None``: no
    pacing). Call :meth:`frames_to_skip` before each read and :meth:`advanced` after."""

    def __init__(self, fps: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        ok = fps is not None and math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS
        self.fps = float(fps) if ok else None
        self._clock, self._sleep = clock, sleep
        self._t0: float | None = None
        self.index = 0  # the next frame the file will give

    def restart(self) -> None:
        """The file starts again (looping): its clock starts now."""
        self._t0, self.index = (self._clock() if self.fps is not None else None), 0

    def frames_to_skip(self) -> int:
        """Wait until the next frame is due, or say how many to drop to reach the one due
        now (0 without pacing)."""
        if self.fps is None:
            return 0
        now = self._clock()
        if self._t0 is None:
            self._t0 = now - self.index / self.fps
        elapsed = now - self._t0
        due = int(elapsed * self.fps)
        if due < self.index:
            self._sleep(self.index / self.fps - elapsed)
            return 0
        behind = due - self.index
        if behind > math.ceil(MAX_CATCH_UP_S * self.fps):
            self._t0 = now - self.index / self.fps  # the film paused meanwhile
            return 0
        return behind

    def advanced(self, frames: int = 1) -> None:
        """``frames`` more were taken from the file (read or dropped)."""
        self.index += frames
