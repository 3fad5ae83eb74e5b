"""aoc.app.pipeline.PrefetchSource: frames captured and fitted ahead, newest only, in order.

Every wait is on an event or a queue with a timeout, never a sleep.
"""

from __future__ import annotations

import queue
import threading

import numpy as np
import pytest

from aoc.app.loop import run_loop
from aoc.app.pipeline import PrefetchSource
from aoc.app.smoothing import Smoother
from aoc.display.null import NullDisplay
from aoc.errors import CameraError
from aoc.inference.preprocess import Preprocessor, PreprocessSpec

WAIT = 5.0


def numbered(i: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """A flat frame whose every pixel is ``i``: it survives any resize as ``i``."""
    return np.full((size[1], size[0], 3), i % 256, np.uint8)


class HandFedCamera:
    """A live source whose ``read`` returns what the test puts in ``frames``.

    ``entered`` counts calls to ``read``: entering it again means the previous frame has
    been fitted and published.
    """

    name = "hand-fed"
    is_live = True

    def __init__(self) -> None:
        self.frames: queue.Queue = queue.Queue()
        self.calls = 0
        self.called = threading.Condition()

    def read(self):
        with self.called:
            self.calls += 1
            self.called.notify_all()
        item = self.frames.get(timeout=WAIT)
        if isinstance(item, Exception):
            raise item
        return item

    def wait_calls(self, n: int) -> None:
        with self.called:
            assert self.called.wait_for(lambda: self.calls >= n, WAIT), self.calls

    def close(self) -> None:
        pass


def test_newest_frame_wins_and_no_frame_is_returned_twice():
    camera = HandFedCamera()
    with PrefetchSource(camera, size=(16, 16), read_timeout_s=0.2) as source:
        camera.frames.put(numbered(1))
        assert source.read()[0, 0, 0] == 1 and source.last_seq == 1
        camera.frames.put(numbered(2))
        camera.frames.put(numbered(3))
        camera.wait_calls(4)  # 2 and 3 fitted and published; 2 replaced by 3
        frame = source.read()
        assert frame.shape == (16, 16, 3) and frame[0, 0, 0] == 3
        assert source.dropped == 1
        assert source.read() is None  # nothing newer: never the same (stale) frame again
        camera.frames.put(None)  # let the worker out of read() for close()


def test_none_and_camera_errors_reach_the_loop():
    camera = HandFedCamera()
    with PrefetchSource(camera, size=(16, 16), idle_wait_s=0) as source:
        camera.frames.put(None)
        assert source.read() is None
        camera.frames.put(CameraError("camera unplugged"))
        with pytest.raises(CameraError, match="unplugged"):
            source.read()
        camera.frames.put(numbered(7))
        assert source.read()[0, 0, 0] == 7
        camera.frames.put(None)  # let the worker out of read() for close()


def test_only_fitted_frames_count_as_dropped():
    """``dropped`` counts frames fitted and then replaced before the loop took them: a
    camera that is down (no frame, again and again) replaces no frame, and counting its
    gaps reported a pipeline losing frames when there were none to lose."""
    camera = HandFedCamera()
    with PrefetchSource(camera, size=(16, 16), idle_wait_s=0) as source:
        for _ in range(3):
            camera.frames.put(None)
        camera.wait_calls(4)  # three "no frame" published, each replacing the one before
        assert source.dropped == 0
        camera.frames.put(numbered(5))
        camera.frames.put(numbered(6))
        camera.wait_calls(6)  # 5 replaced the last "no frame", then 6 replaced 5
        assert source.dropped == 1 and source.read()[0, 0, 0] == 6
        camera.frames.put(None)  # let the worker out of read() for close()


def test_a_frame_that_cannot_be_fitted_is_a_camera_fault_logged_once(caplog):
    camera = HandFedCamera()
    grey = np.zeros((8, 8), np.uint8)  # a source bug: no colour axis
    with PrefetchSource(camera, size=(16, 16), idle_wait_s=0) as source:
        for _ in range(2):
            camera.frames.put(grey)
            with pytest.raises(CameraError, match=r"uint8 \(H, W, 3\)"):
                source.read()
        camera.frames.put(numbered(7))
        assert source.read()[0, 0, 0] == 7
        camera.frames.put(None)  # let the worker out of read() for close()
    logged = [r for r in caplog.records if "cannot fit a frame" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_the_frame_the_loop_holds_is_not_overwritten_while_the_worker_runs_ahead():
    """read() promises the frame stays valid until the next read(): a worker that fitted
    newer frames into the buffer the loop was still preprocessing would hand the TPU half
    of one frame and half of the next (a verdict on a picture that never was)."""
    camera = HandFedCamera()
    with PrefetchSource(camera, size=(16, 16), read_timeout_s=0.2) as source:
        camera.frames.put(numbered(1))
        held = source.read()  # the loop now has frame 1 "in use"
        assert held[0, 0, 0] == 1
        for i, value in enumerate((2, 3, 4), start=3):
            camera.frames.put(numbered(value))
            camera.wait_calls(i)  # frame `value` fitted and published, worker reading on
            assert (held == 1).all(), f"held frame overwritten by frame {value}"
        newest = source.read()  # released: the newest frame, in a buffer of its own
        assert newest[0, 0, 0] == 4
        camera.frames.put(None)  # let the worker out of read() for close()


class CountingFolder:
    """A non-live source (files, demo) counting its reads."""

    name = "folder"
    is_live = False

    def __init__(self) -> None:
        self.reads = 0

    def read(self):
        self.reads += 1
        return numbered(self.reads)


def test_a_non_live_source_is_read_one_frame_ahead_only():
    folder = CountingFolder()
    with PrefetchSource(folder, size=(16, 16)) as source:
        values = [int(source.read()[0, 0, 0]) for _ in range(5)]
    assert values == [1, 2, 3, 4, 5]  # every frame, in order, none skipped
    assert folder.reads <= 6


class RecordingClassifier:
    """Records the value of each frame it classifies; ``invoke`` waits on a gate."""

    backend = "edgetpu"
    reason = "fake"
    labels = ("anime", "cartoon", "neither")
    input_size = (16, 16)

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.tensor = np.zeros((16, 16, 3), np.uint8)
        self._pre = Preprocessor(PreprocessSpec(16, 16))

    def preprocess(self, frame):
        self._pre(frame, self.tensor)

    def invoke(self):
        self.seen.append(int(self.tensor[0, 0, 0]))

    def postprocess(self):
        return np.array([0.5, 0.3, 0.2], np.float32)


class FreeRunningCamera:
    """A live source numbering its frames 1, 2, 3, ... as fast as it is read."""

    name = "free"
    is_live = True

    def __init__(self) -> None:
        self.n = 0

    def read(self):
        self.n += 1
        return numbered(self.n)


def test_the_loop_gets_results_in_frame_order_and_never_a_stale_frame():
    clf = RecordingClassifier()
    with PrefetchSource(FreeRunningCamera(), size=(16, 16)) as source:
        stats = run_loop(source, clf, Smoother(clf.labels), NullDisplay(), max_frames=200)
    assert stats.frames == 200
    seen = np.array(clf.seen) + 256 * np.cumsum(np.r_[0, np.diff(clf.seen) < 0])  # unwrap
    assert (np.diff(seen) > 0).all()  # strictly increasing: in order, no frame twice


def test_pipeline_numbers_equal_preprocessing_the_camera_frame_directly():
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    spec = PreprocessSpec(224, 224, "int8", 1.0, -128, (0, 255))
    direct = np.empty((224, 224, 3), np.int8)
    Preprocessor(spec)(frame, direct)

    class Once:
        name, is_live = "once", False

        def read(self):
            return frame

    piped = np.empty((224, 224, 3), np.int8)
    with PrefetchSource(Once(), size=(224, 224)) as source:
        Preprocessor(spec)(source.read(), piped)
    np.testing.assert_array_equal(piped, direct)


class BlockedCamera:
    """A live source whose ``read`` blocks until ``release`` is set (a hung driver)."""

    name, is_live = "blocked", True

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self.closed = threading.Event()
        self.read_returned = threading.Event()
        self.closes = 0

    def read(self):
        self.inside.set()
        self.release.wait(WAIT)
        self.read_returned.set()
        return None

    def close(self) -> None:
        assert self.read_returned.is_set(), "closed while a read was under way"
        self.closes += 1
        self.closed.set()


def test_close_leaves_a_source_still_reading_to_the_worker():
    camera = BlockedCamera()
    source = PrefetchSource(camera, size=(16, 16), read_timeout_s=0.05)
    source.open()
    assert camera.inside.wait(WAIT)
    source.close()  # gives up waiting for the worker (3 s), does not close under the read
    assert not camera.closed.is_set()
    source.close()  # a second close (SIGTERM during the first) must not close it either
    assert not camera.closed.is_set()
    camera.release.set()
    assert camera.closed.wait(WAIT)  # the worker closed it on its way out
    source.close()  # safe twice
    assert camera.closes == 1


def test_close_twice_closes_the_source_once():
    class FileLike:  # not live: after one frame the worker waits for the loop, not in read
        name, is_live = "file", False

        def __init__(self) -> None:
            self.closes = 0
            self.read_once = threading.Event()

        def read(self):
            self.read_once.set()
            return numbered(1)

        def close(self) -> None:
            self.closes += 1

    camera = FileLike()
    source = PrefetchSource(camera, size=(16, 16))
    source.open()
    assert camera.read_once.wait(WAIT)
    source.close()
    source.close()
    assert camera.closes == 1


class ManualClock:
    """Moves on by a millisecond each time it is read (so waits end), and on demand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def test_a_source_stuck_in_read_stops_the_loop_instead_of_idling(caplog):
    """Without the thread a hung read stops the loop and systemd's watchdog, fed by the
    loop, restarts the service; with it, read() must not keep returning "no frame"."""
    camera, clock = BlockedCamera(), ManualClock()
    source = PrefetchSource(camera, size=(16, 16), read_timeout_s=0.01, stuck_after_s=20.0,
                            clock=clock)
    source.open()
    assert camera.inside.wait(WAIT)
    assert source.read() is None  # a slow read: the loop idles as for a camera that is down
    clock.now = 25.0  # the read has now lasted longer than any source's own timeout
    returned = threading.Event()
    reader = threading.Thread(target=lambda: (source.read(), returned.set()))
    reader.start()
    assert not returned.wait(0.5)  # the loop waits in read(), as on the hung camera itself
    assert "stuck in read() for 25 s" in caplog.text
    camera.release.set()  # the read comes back (with no frame): the loop goes on
    assert returned.wait(WAIT)
    reader.join(WAIT)
    source.close()
