"""Context-manager plumbing shared by sources, displays and controls, and the hand-off of a
release to a worker thread that may still be using what its owner closes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self


class Closing:
    """``with thing:`` hands back ``thing`` and calls its ``close()`` on the way out."""

    def close(self) -> None:  # pragma: no cover - every subclass overrides
        """Release what the object holds; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Opening(Closing):
    """Like :class:`Closing`, but ``with thing:`` first calls ``thing.open()``."""

    def open(self) -> None:  # pragma: no cover - every subclass overrides
        """Acquire what the object needs (a device, a thread)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self


class WorkerRelease:
    """Who releases a resource a worker thread may still be inside (a camera read that
    blocks for seconds with the GIL released) when its owner closes it.

    One per worker run: the owner makes it before starting the worker, the worker calls
    :meth:`finished` on its way out (in a ``finally``), and the owner's ``close`` calls
    :meth:`release_or_leave` after waiting for the worker a while. Releasing under a worker
    still inside the resource could crash the process; so the release runs now when the
    worker is done, else when it finishes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = True
        self._left: Callable[[], None] | None = None

    def finished(self) -> None:
        """The worker is done with the resource: run a release left to it, if any."""
        with self._lock:
            self._running = False
            left, self._left = self._left, None
        if left is not None:
            left()

    def release_or_leave(self, release: Callable[[], None]) -> bool:
        """Run ``release`` now (True) or, while the worker runs, leave it to it (False)."""
        with self._lock:
            if self._running:
                self._left = release
                return False
        release()
        return True
