"""Keep the TPU busy: capture and fit frame N+1 while frame N is being invoked.

:class:`PrefetchSource` wraps any frame source. A worker thread reads the source and fits
each frame to the model size (:class:`aoc.inference.resize.FrameFitter`, the device's
``area_linear`` filter, straight into one of three preallocated buffers) while the loop
thread runs ``invoke()``; ``read()`` then hands over the newest fitted frame, and the
classifier's own preprocessing is the exact copy / XOR / table path of a model-size
frame. The numbers are the same as without the pipeline (fitting and then quantizing is
what :class:`~aoc.inference.preprocess.Preprocessor` does itself).

Newest frame only, never a queue: a frame finished while an older one still waits
replaces it, ``read()`` never returns the same frame twice nor one older than the last
(``seq`` only grows), and the frame it returns stays valid until the next ``read()``.
With a live source (a camera, which paces itself) the worker reads continuously; with
a file or demo source it reads exactly one frame ahead of the loop, so it never spins.

A source stuck inside ``read()`` for ``stuck_after_s`` stops the loop as it would without
the thread: ``read()`` then waits for it (logged once), so systemd's watchdog, fed by the
loop, restarts the service instead of the loop idling on "no frame" for good. ``close()``
never closes the source under a worker still inside its ``read()``: the worker closes it
when the read returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from aoc.errors import CameraError
from aoc.inference.preprocess import check_frame
from aoc.inference.resize import FrameFitter
from aoc.resource import Opening, WorkerRelease

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 2.0
STUCK_AFTER_S = 20.0  # longer than any source's own timeout (picamera2 5 s, OpenCV 5 s)


class PrefetchSource(Opening):
    """A frame source whose frames are captured and fitted in a thread of their own.

    ``size`` = (width, height) and ``policy`` are the model's (``Classifier.input_size``
    and the bundle's ``input.resize``). ``read()`` waits at most ``read_timeout_s`` for a
    new frame, then returns ``None`` (the loop treats it like a camera that is down).
    ``fit_seconds`` and ``capture_seconds`` keep the worker's last timings; ``dropped``
    counts frames fitted but replaced by a newer one before the loop took them.
    ``stuck_after_s``: see the module's description.
    """

    def __init__(
        self,
        source: Any,
        *,
        size: tuple[int, int],
        policy: str = "stretch",
        read_timeout_s: float = READ_TIMEOUT_S,
        stuck_after_s: float = STUCK_AFTER_S,
        idle_wait_s: float = 0.05,
        use_cv2: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.source = source
        self.name = f"prefetch:{getattr(source, 'name', type(source).__name__)}"
        self.size = size
        self._fitter = FrameFitter(size, policy, use_cv2=use_cv2)
        self._buffers = [np.empty((size[1], size[0], 3), np.uint8) for _ in range(3)]
        self._read_timeout = read_timeout_s
        self._stuck_after = stuck_after_s
        self._reading_since: float | None = None  # the worker is inside source.read()
        self._stuck_logged = False
        self._release: WorkerRelease | None = None  # the worker's, while it may run
        self._source_closed = False  # closed, or its closing left to the worker
        self._fit_error = ""  # the last fitting error logged
        self._idle_wait = idle_wait_s
        self._clock = clock
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ready: tuple[int, int, Any] | None = None  # (buffer index, seq, error/None)
        self._in_use: int | None = None
        self._wanted = True  # one-ahead mode: the loop took the last frame
        self._seq = 0
        self.last_seq = 0
        self.dropped = 0
        self.fit_seconds: list[float] = []
        self.capture_seconds: list[float] = []
        self._thread: threading.Thread | None = None

    # -- FrameSource -------------------------------------------------------------------
    @property
    def is_live(self) -> bool:
        """The wrapped source's (a resilient source learns it when its camera opens)."""
        return bool(getattr(self.source, "is_live", False))

    @property
    def fault(self) -> str | None:
        """The wrapped source's fault line, if it has one."""
        return getattr(self.source, "fault", None)

    @property
    def description(self) -> Any:
        """The wrapped source's description (for the status line)."""
        return getattr(self.source, "description", [])

    def open(self) -> None:
        """Open the wrapped source and start the worker; safe twice."""
        if self._thread is not None:
            return
        opener = getattr(self.source, "open", None)
        if opener is not None:
            opener()
        self._stop.clear()
        self._source_closed = False
        self._release = WorkerRelease()
        self._thread = threading.Thread(target=self._run, args=(self._release,),
                                        name="aoc-prefetch", daemon=True)
        self._thread.start()

    def read(self) -> np.ndarray | None:
        """The newest fitted frame (valid until the next ``read``), or ``None``."""
        if self._thread is None:
            self.open()
        deadline = self._clock() + self._read_timeout
        with self._cond:
            self._in_use = None  # the loop is done with the frame it had
            self._cond.notify_all()
            while self._ready is None and not self._stop.is_set():
                left = deadline - self._clock()
                if left <= 0:
                    if not self._stuck():
                        return None
                    left = self._read_timeout  # stop the loop, as the read itself would
                self._cond.wait(left)
            if self._ready is None:
                return None
            index, seq, error = self._ready
            self._ready = None
            self._wanted = True  # one-ahead mode: fetch the next one now
            self._cond.notify_all()
            if error is not None:
                raise error if isinstance(error, CameraError) else CameraError(str(error))
            if index < 0:
                return None  # the source had no frame (camera down)
            self._in_use = index
            self.last_seq = seq
        return self._buffers[index]

    def close(self) -> None:
        """Stop the worker and close the wrapped source; safe twice."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(READ_TIMEOUT_S + 1.0)
            self._thread = None
        release, self._release = self._release, None
        if release is not None:
            # still inside source.read()? closing the camera under it could crash or leave
            # it half-open: the worker closes it when the read returns
            if not release.release_or_leave(self._close_source):
                log.warning("prefetch thread did not stop (source blocked in read?); it "
                            "closes the source when the read returns")
        elif not self._source_closed:  # never opened here: the source is closed all the same
            self._close_source()
        # once handed over or closed, a second close (SIGTERM during the first) leaves the
        # source alone: it may still be inside the worker's read
        self._source_closed = True

    def _close_source(self) -> None:
        closer = getattr(self.source, "close", None)
        if closer is not None:
            closer()

    def _read_source(self, t0: float) -> Any:
        """``source.read()``, marked as under way for :meth:`_stuck`."""
        self._reading_since = t0
        try:
            return self.source.read()
        finally:
            self._reading_since = None
            self._stuck_logged = False

    def _stuck(self) -> bool:
        """True (logged once per read) while the worker's read has lasted too long."""
        since = self._reading_since
        if since is None or self._clock() - since < self._stuck_after:
            return False
        if not self._stuck_logged:
            self._stuck_logged = True
            log.error("frame source %s stuck in read() for %.0f s: the loop waits for it "
                      "(under systemd the watchdog restarts the service)",
                      getattr(self.source, "name", self.source), self._clock() - since)
        return True

    # -- worker ------------------------------------------------------------------------
    def _free_buffer(self) -> int:
        busy = {self._in_use, self._ready[0] if self._ready is not None else None}
        return next(i for i in range(len(self._buffers)) if i not in busy)

    def _publish(self, item: tuple[int, int, Any]) -> None:
        with self._cond:
            if self._ready is not None and self._ready[0] >= 0:
                self.dropped += 1
            self._ready = item
            self._cond.notify_all()

    def _run(self, release: WorkerRelease) -> None:
        try:
            self._work()
        finally:
            release.finished()

    def _work(self) -> None:
        while not self._stop.is_set():
            if not self.is_live:
                with self._cond:  # one frame ahead of the loop, never more
                    while not self._wanted and not self._stop.is_set():
                        self._cond.wait()
                    self._wanted = False
                if self._stop.is_set():
                    break
            t0 = self._clock()
            try:
                frame = self._read_source(t0)
            except CameraError as exc:
                self._seq += 1
                self._publish((-1, self._seq, exc))
                self._stop.wait(self._idle_wait)
                continue
            except Exception as exc:  # a source bug must reach the loop, not vanish here
                log.exception("prefetch: source %s failed", self.source)
                self._seq += 1
                self._publish((-1, self._seq, CameraError(f"frame source failed: {exc}")))
                self._stop.wait(self._idle_wait)
                continue
            t1 = self._clock()
            if frame is None:
                self._seq += 1
                self._publish((-1, self._seq, None))
                self._stop.wait(self._idle_wait)
                continue
            with self._cond:
                index = self._free_buffer()
            try:
                self._fitter(check_frame(frame), self._buffers[index])
            except Exception as exc:  # a bad frame is reported like a camera fault
                if str(exc) != self._fit_error:  # the traceback once, not at 30 fps
                    self._fit_error = str(exc)
                    log.exception("prefetch: cannot fit a frame of %s", self.source)
                self._seq += 1
                self._publish((-1, self._seq, CameraError(str(exc))))
                continue
            t2 = self._clock()
            self._seq += 1
            self._publish((index, self._seq, None))
            if len(self.fit_seconds) < 4096:
                self.capture_seconds.append(t1 - t0)
                self.fit_seconds.append(t2 - t1)
