"""Stand-ins the soak benchmark and the fault tests run the loop with.

:class:`SyntheticSource` cycles preallocated frames (so RSS growth measured in a soak is
the appliance's, not the source's); :class:`RecordingDisplay` records the states shown
(the last ``keep``; all by default) and lets a test wait on one instead of sleeping. It is
the one recording display of the tests too.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import numpy as np


class SyntheticSource:
    """Preallocated frames of the model's size, cycled: no allocation per read."""

    name = "synthetic"
    is_live = True

    def __init__(self, size: tuple[int, int], *, count: int = 8, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        width, height = size
        self._frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                        for _ in range(count)]
        self._i = 0

    def open(self) -> None:
        """Nothing to acquire."""

    def read(self) -> np.ndarray:
        """The next frame of the cycle."""
        self._i = (self._i + 1) % len(self._frames)
        return self._frames[self._i]

    def close(self) -> None:
        """Nothing to release; safe twice."""

    def __enter__(self) -> SyntheticSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RecordingDisplay:
    """A display that records the states shown and signals each one.

    ``states`` holds the last ``keep`` states (all when ``None``; the soak keeps one so
    its RSS stays flat); ``fault`` is the slot a threaded display fills; ``closed`` counts
    ``close()`` calls.
    """

    def __init__(self, size: tuple[int, int] = (128, 64), *, keep: int | None = None) -> None:
        self.size = size
        self.last: Any = None
        self.shown = 0
        self.states: collections.deque[Any] = collections.deque(maxlen=keep)
        self.fault: str | None = None
        self.closed = 0
        self.changed = threading.Condition()

    def frame_key(self, state: Any) -> Any:
        """The state itself: every distinct state counts (and ThreadedDisplay need not
        render to compare)."""
        return state

    def show(self, state: Any) -> None:
        """Remember ``state``."""
        with self.changed:
            self.last = state
            self.shown += 1
            self.states.append(state)
            self.changed.notify_all()

    def clear(self) -> None:
        """Nothing drawn, nothing to clear."""

    def close(self) -> None:
        """Nothing to release; safe twice (counted)."""
        self.closed += 1

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        """Wait until ``predicate(last state)`` holds."""
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self.last), timeout)

