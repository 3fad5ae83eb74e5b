"""A stand-in (the demo) for a camera that was not there at start-up, which keeps looking.

With ``camera.source = "auto"`` and no camera found, the appliance runs its demo pictures
and says so. A camera that comes up later -- a USB webcam that enumerates after the
service started, libcamera slow at boot -- must still be used: :class:`StandInSource`
shows the stand-in and, every ``recheck_s`` seconds, asks ``find_camera`` for one. Once a
camera answers, the stand-in is closed and the camera's frames follow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from aoc.sources.base import BaseSource

log = logging.getLogger(__name__)

RECHECK_S = 30.0


class StandInSource(BaseSource):
    """Frames of ``stand_in`` until ``find_camera()`` returns an opened camera source.

    ``find_camera`` returns ``None`` while there is no camera (it is called on the reading
    thread, so it must be quick: a look at the camera list, not a long wait).
    """

    def __init__(self, stand_in: Any, find_camera: Callable[[], Any | None], *,
                 recheck_s: float = RECHECK_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._current = stand_in
        self._find = find_camera
        self._recheck_s = recheck_s
        self._clock = clock
        self._next = clock() + recheck_s
        self.found = False
        self.name = getattr(stand_in, "name", "demo")

    @property
    def is_live(self) -> bool:  # type: ignore[override]
        """Whether the current source is a live camera (the demo is not)."""
        return bool(getattr(self._current, "is_live", False))

    def open(self) -> None:
        """Open the stand-in (the camera search starts with the first read)."""
        opener = getattr(self._current, "open", None)
        if opener is not None:
            opener()

    def read(self) -> np.ndarray | None:
        """The stand-in's frame, or the camera's once one was found."""
        if not self.found and self._clock() >= self._next:
            self._next = self._clock() + self._recheck_s
            camera = self._find()
            if camera is not None:
                log.warning("a camera came up after the start: %s replaces the demo",
                            getattr(camera, "name", camera))
                stand_in, self._current = self._current, camera
                self.found = True
                self.name = getattr(camera, "name", self.name)
                stand_in.close()
        return self._current.read()

    def close(self) -> None:
        """Close whichever source is current; safe twice."""
        self._current.close()
