"""A frame source that survives a missing or failing camera.

:class:`ResilientSource` wraps a factory of real sources. When opening fails (no camera at
start) or a read fails mid-run (cable pulled, USB reset), it closes what it had, and retries
opening on a back-off schedule. While the camera is down :meth:`ResilientSource.read` returns
``None`` instead of raising, so the loop can keep the last result on screen and show
:attr:`ResilientSource.fault`. It logs once per state change, not once per retry, so a
camera that stays unplugged for a day does not flood the journal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

from aoc.errors import CameraError, ConfigError
from aoc.resource import Opening
from aoc.sources.base import FrameSource

log = logging.getLogger(__name__)

DEFAULT_BACKOFF_S: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30)


class ResilientSource(Opening):
    """Wrap ``factory`` (which returns a source, opened or not) with retry and back-off.

    ``backoff`` lists the waits (seconds) before the 1st, 2nd, ... retry; the last one
    repeats. ``clock`` is a monotonic clock in seconds and ``sleep`` a sleep function: while
    the camera is down and no retry is due, ``read()`` sleeps at most ``idle_s`` (so a loop
    calling it does not spin) and returns ``None``.
    """

    is_live = True

    def __init__(
        self,
        factory: Callable[[], FrameSource],
        *,
        backoff: Sequence[float] = DEFAULT_BACKOFF_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        idle_s: float = 0.1,
        name: str = "camera",
    ) -> None:
        if not backoff or any(float(b) < 0 for b in backoff):
            raise ConfigError(
                f"camera.backoff must be a non-empty list of seconds >= 0, got {backoff!r}",
                key="camera.backoff",
            )
        self._factory = factory
        self._backoff = tuple(float(b) for b in backoff)
        self._clock = clock
        self._sleep = sleep
        self._idle_s = float(idle_s)
        self.name = name
        self._source: FrameSource | None = None
        self._retry_at: float | None = None  # None: not down
        self._attempt = 0  # consecutive failures since the last good state
        self._opened = False
        self._delivered = False  # a frame came since the start: a failure is "lost" from then
        self.fault: str | None = None
        """Human sentence while the camera is down (``"camera lost - retrying in 5 s"``)."""
        self.failures = 0
        """How many times opening or reading failed."""
        self.recoveries = 0
        """How many times a source came up after a failure."""
        self.last_error: BaseException | None = None

    @property
    def source(self) -> FrameSource | None:
        """The wrapped source while it is up, else ``None``."""
        return self._source

    @property
    def is_down(self) -> bool:
        """True while no working source is held (after a failure, before recovery)."""
        return self._source is None and self._opened

    def open(self) -> None:
        """Try to open a source now; a failure is not raised but starts the retry schedule."""
        if self._opened:
            return
        self._opened = True
        self._try_open(first=True)

    def read(self) -> np.ndarray | None:
        """Return the newest frame, or ``None`` while the camera is down (see :attr:`fault`)."""
        if not self._opened:
            self.open()
        if self._source is None:
            due = self._retry_at is not None and self._clock() >= self._retry_at
            if not due or not self._try_open(first=False):
                self._idle()
                return None
        source = self._source
        if source is None:  # pragma: no cover - _try_open succeeded means a source is held
            return None
        try:
            frame = source.read()
        except (CameraError, OSError) as exc:
            self._lost(exc, during="read")
            return None
        if frame is not None:
            self._delivered = True
            if self._attempt:
                self._back()
        return frame

    def close(self) -> None:
        """Close the wrapped source, if any; safe twice."""
        self._opened = False
        self._retry_at = None
        self._drop_source()

    # -- internals -------------------------------------------------------------------

    def _try_open(self, *, first: bool) -> bool:
        try:
            source = self._factory()
            source.open()
        except (CameraError, OSError) as exc:
            self._lost(exc, during="open")
            return False
        self._source = source
        self.name = getattr(source, "name", self.name)
        self.is_live = bool(getattr(source, "is_live", True))
        if first and not self._attempt:
            log.debug("%s opened", self.name)
        # the back-off and the fault stay until a frame arrives (_back): a camera that
        # opens and then delivers nothing must not be reopened every 0.5 s for good
        self._retry_at = None
        return True

    def _back(self) -> None:
        """The first frame after failures: the source is back."""
        self.recoveries += 1
        log.info("%s is back after %d failed attempt(s)", self.name, self._attempt)
        self._attempt = 0
        self.fault = None
        self.last_error = None

    def _lost(self, exc: BaseException, *, during: str) -> None:
        self._drop_source()
        self.failures += 1
        delay = self._backoff[min(self._attempt, len(self._backoff) - 1)]
        self._attempt += 1
        self._retry_at = self._clock() + delay
        was_up = self.fault is None
        # "lost" once the camera has worked, on every retry after it too (the reopen that
        # fails is not news); "unavailable" while it never has
        verb = "lost" if during == "read" or self._delivered else "unavailable"
        what = getattr(exc, "screen", None) or f"camera {verb}"
        self.fault = f"{what} - retrying in {delay:g} s"
        self.last_error = exc
        if was_up:
            # Once per state change: the first failure is a warning, repeats are debug.
            log.warning("%s %s (%s); retrying with back-off", self.name, verb, exc)
        else:
            log.debug("%s still down (%s); next retry in %g s", self.name, exc, delay)

    def _drop_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            try:
                source.close()
            except (CameraError, OSError) as exc:
                log.debug("closing failed %s: %s", getattr(source, "name", source), exc)

    def _idle(self) -> None:
        if self._retry_at is None or self._idle_s <= 0:
            return
        remaining = self._retry_at - self._clock()
        if remaining > 0:
            self._sleep(min(remaining, self._idle_s))
