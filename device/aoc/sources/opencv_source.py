"""Webcams, video files and network streams through OpenCV.

Live sources (a webcam index or a stream URL) get a grabber thread that keeps ONLY the
newest frame: OpenCV's capture buffers frames, and a classifier slower than the camera
would otherwise fall ever further behind. :meth:`OpenCVSource.read` waits for a frame newer
than the last one it returned. Video files play in real time at their own frame rate
(:mod:`aoc.sources.playback`: waiting when the loop is ahead, dropping frames when it is
behind), optionally looping. Frames are converted BGR -> RGB and resized with the
device's ``area_linear``: to the model's ``size`` for a ``stretch`` model, else keeping the
camera's aspect ratio (:func:`aoc.sources.base.camera_frame_size`) so the classifier crops
or pads it as in training.

OpenCV is imported lazily (``pip install opencv-python-headless``); ``cv2_module=`` injects
it (or a fake) for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from aoc.errors import CameraError, ConfigError
from aoc.inference.resize import area_linear_resize
from aoc.resource import WorkerRelease
from aoc.sources.base import (
    BaseSource,
    Size,
    camera_frame_size,
    check_resize_mode,
    check_size,
)
from aoc.sources.opencv_capture import import_cv2, open_capture
from aoc.sources.playback import RealTimePlayback

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://", "rtmp://")

#: Consecutive failed grabs after which a live source is declared lost.
MAX_GRAB_FAILURES = 25


def is_stream_url(target: object) -> bool:
    """True for network stream URLs (``rtsp://``, ``http://`` ...)."""
    return isinstance(target, str) and target.lower().startswith(STREAM_SCHEMES)


class OpenCVSource(BaseSource):
    """A webcam (int index), video file (path) or stream URL read through ``cv2.VideoCapture``.

    ``timeout_s`` bounds how long :meth:`read` waits for a live frame before raising
    ``CameraError``, and how long a stream may take to open or to deliver a packet;
    ``max_grab_failures`` consecutive failed grabs declare a live source lost. ``loop``
    restarts a video file at its end instead of raising. A video file plays
    in real time at its own frame rate (:mod:`aoc.sources.playback`, ``clock`` and
    ``sleep``) unless ``real_time`` is false, which reads it frame after frame.
    ``webcam`` says a str target is a webcam's device node (``/dev/video0``, a
    ``/dev/v4l/by-id/`` link): live, like an int index. ``capture_size`` (width, height)
    is the mode asked of a webcam (it picks its nearest; files and streams keep theirs).
    """

    def __init__(
        self,
        target: int | str,
        *,
        size: Size | None = None,
        resize: str = "stretch",
        capture_size: Size | None = None,
        webcam: bool = False,
        loop: bool = False,
        cv2_module: Any = None,
        timeout_s: float = 5.0,
        max_grab_failures: int = MAX_GRAB_FAILURES,
        real_time: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(target, bool) or not isinstance(target, int | str) or target == "":
            raise ConfigError(
                f"camera.source must be a webcam index, file or URL, got {target!r}",
                key="camera.source",
            )
        self.target = target
        self.size = check_size(size)
        self.resize = check_resize_mode(resize)
        self._out_size: tuple[tuple[int, ...], Size | None] = ((), None)  # (shape, size)
        self.capture_size = check_size(capture_size, key="camera.width")
        self.loop = loop
        self.timeout_s = float(timeout_s)
        self.max_grab_failures = int(max_grab_failures)
        self._cv2 = cv2_module
        self.webcam = webcam or isinstance(target, int)
        self.is_live = self.webcam or is_stream_url(target)
        if self.webcam:
            self.name = f"webcam:{target}"
        elif self.is_live:
            self.name = f"stream:{target}"
        else:
            self.name = f"video:{target}"
        self._cap: Any = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._latest: np.ndarray | None = None
        self._seq = 0
        self._read_seq = 0
        self._error: str | None = None
        self._stopping = False
        self._release: WorkerRelease | None = None  # the grabber's, while it may run
        self.real_time = real_time
        self._clock, self._sleep = clock, sleep
        self._playback = RealTimePlayback(None)
        self.frames_grabbed = 0
        self.frames_dropped = 0

    # -- lifecycle -----------------------------------------------------------------

    def open(self) -> None:
        """Open the capture (and start the grabber thread for live sources)."""
        if self._cap is not None:
            return
        cv2 = self._cv2 if self._cv2 is not None else import_cv2()
        self._cv2 = cv2
        cap = open_capture(cv2, self.target, name=self.name, webcam=self.webcam,
                           is_live=self.is_live, timeout_s=self.timeout_s,
                           capture_size=self.capture_size)
        self._cap = cap
        if not self.is_live:
            fps = float(cap.get(cv2.CAP_PROP_FPS)) if self.real_time else None
            self._playback = RealTimePlayback(fps, clock=self._clock, sleep=self._sleep)
            if self.real_time and self._playback.fps is None:
                log.info("%s states no usable frame rate (%s): read frame after frame",
                         self.name, fps)
        if self.is_live:
            with self._cond:
                self._stopping = False
                self._error = None
                self._latest = None
                self._seq = self._read_seq = 0
            self._release = WorkerRelease()
            self._thread = threading.Thread(
                target=self._grab_loop, args=(cap, self._release), name=f"grab-{self.name}",
                daemon=True,
            )
            self._thread.start()
        log.info("%s opened", self.name)

    def read(self) -> np.ndarray:
        """Return the newest frame as RGB at ``size``; raises ``CameraError``."""
        if self._cap is None:
            raise CameraError(f"{self.name} is not open: call open() first")
        bgr = self._next_live() if self.is_live else self._next_file()
        return self._convert(bgr)

    def close(self) -> None:
        """Stop the grabber thread and release the capture; safe twice."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=max(self.timeout_s, 1.0))
            if thread.is_alive():
                log.warning("%s grabber thread did not stop within %.1f s", self.name,
                            max(self.timeout_s, 1.0))
        cap, self._cap = self._cap, None
        release, self._release = self._release, None
        if cap is None:
            return
        if release is None:  # a file: no grabber
            cap.release()
        # still inside cap.read() (a V4L2 select or a stream can block for many seconds,
        # with the GIL released)? then the grabber releases it when the read returns
        elif not release.release_or_leave(lambda: cap.release()):  # looked up when run
            log.warning("%s: the capture is released when its read returns", self.name)

    # -- internals -----------------------------------------------------------------

    def _grab_loop(self, cap: Any, release: WorkerRelease) -> None:
        try:
            self._grab(cap)
        finally:
            release.finished()

    def _grab(self, cap: Any) -> None:
        failures = 0
        while True:
            with self._cond:
                if self._stopping:
                    return
            ok, frame = cap.read()
            with self._cond:
                if self._stopping:
                    return
                if ok and frame is not None:
                    failures = 0
                    if self._seq > self._read_seq:
                        self.frames_dropped += 1  # replaced before anyone read it
                    self._latest = frame
                    self._seq += 1
                    self.frames_grabbed += 1
                    self._cond.notify_all()
                    continue
                failures += 1
                if failures >= self.max_grab_failures:
                    self._error = (
                        f"{self.name} stopped delivering frames ({failures} failed grabs): "
                        "check the cable or the stream; the app retries"
                    )
                    self._cond.notify_all()
                    return

    def _next_live(self) -> np.ndarray:
        with self._cond:
            arrived = self._cond.wait_for(
                lambda: self._seq > self._read_seq or self._error is not None or self._stopping,
                timeout=self.timeout_s,
            )
            if self._error is not None:
                raise CameraError(self._error)
            if self._stopping:
                raise CameraError(f"{self.name} was closed while reading")
            if not arrived or self._latest is None:
                raise CameraError(
                    f"{self.name} delivered no frame in {self.timeout_s:g} s: check it is "
                    "connected and not used by another program"
                )
            self._read_seq = self._seq
            return self._latest

    def _next_file(self) -> np.ndarray:
        playback = self._playback
        for _ in range(playback.frames_to_skip()):  # behind the film: as a TV, move on
            if not self._cap.grab():
                break
            playback.advanced()
            self.frames_dropped += 1
        ok, frame = self._cap.read()
        if not ok or frame is None:
            if not self.loop:
                raise CameraError(
                    f"{self.name} has ended: use loop=true to replay it, or another source"
                )
            self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
            playback.restart()
            ok, frame = self._cap.read()
            if not ok or frame is None:
                raise CameraError(f"{self.name} has no readable frame: check the file")
        playback.advanced()
        return frame

    def _convert(self, bgr: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        if bgr.ndim == 2:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        else:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        shape, size = self._out_size
        if rgb.shape != shape:  # once per frame size, not per frame
            size = camera_frame_size((rgb.shape[1], rgb.shape[0]), self.size, self.resize)
            self._out_size = (rgb.shape, size)
        if size is not None and (rgb.shape[1], rgb.shape[0]) != size:
            rgb = area_linear_resize(rgb, size, cv2=cv2)  # the device's filter
        return np.ascontiguousarray(rgb, dtype=np.uint8)
