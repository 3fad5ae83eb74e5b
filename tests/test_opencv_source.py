"""OpenCVSource: newest-frame grabber for live sources, sequential video files."""

from __future__ import annotations

import logging
import queue
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from aoc.errors import CameraError, ConfigError
from aoc.sources.opencv_source import OpenCVSource, is_stream_url

WAIT_S = 5.0  # upper bound for event waits; tests normally finish in milliseconds


WIDTH, HEIGHT = 3, 4  # OpenCV's CAP_PROP_FRAME_WIDTH / _HEIGHT


class FakeCapture:
    """A webcam whose frames the test hands over one by one.

    ``read()`` polls its queue briefly and reports a failed grab when nothing came (as a
    real webcam read times out), so the grabber thread notices a stop promptly.
    """

    def __init__(self, target: object, opened: bool = True,
                 modes: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720))) -> None:
        self.target = target
        self.modes = modes  # what the webcam can deliver; set() picks the nearest
        self.opened = opened
        self.frames: queue.Queue = queue.Queue()
        self.cond = threading.Condition()
        self.calls = 0
        self.served = 0
        self.call_at_last_serve = 0
        self.props: dict[int, float] = {}
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        # like a UVC webcam: the mode nearest the width and height asked for
        want = (self.props.get(WIDTH, 640), self.props.get(HEIGHT, 480))
        mode = min(self.modes, key=lambda m: abs(m[0] - want[0]) + abs(m[1] - want[1]))
        return {WIDTH: mode[0], HEIGHT: mode[1]}.get(prop, 0.0)

    def read(self) -> tuple[bool, np.ndarray | None]:
        with self.cond:
            self.calls += 1
            self.cond.notify_all()
        try:
            item = self.frames.get(timeout=0.01)
        except queue.Empty:
            return False, None
        with self.cond:
            self.served += 1
            self.call_at_last_serve = self.calls
            self.cond.notify_all()
        return item

    def release(self) -> None:
        self.released = True

    # test helpers
    def push(self, bgr: np.ndarray) -> None:
        self.frames.put((True, bgr))

    def wait_stored(self, n: int) -> None:
        """Wait until ``n`` frames were served AND the grabber came back for more."""
        with self.cond:
            assert self.cond.wait_for(
                lambda: self.served >= n and self.calls > self.call_at_last_serve, WAIT_S
            )


def fake_cv2(opened: bool = True) -> SimpleNamespace:
    captures: list[FakeCapture] = []

    def video_capture(target: object) -> FakeCapture:
        cap = FakeCapture(target, opened)
        captures.append(cap)
        return cap

    def resize(img: np.ndarray, dsize: tuple[int, int], interpolation: int = 0) -> np.ndarray:
        ys = np.arange(dsize[1]) * img.shape[0] // dsize[1]
        xs = np.arange(dsize[0]) * img.shape[1] // dsize[0]
        return img[ys][:, xs]

    return SimpleNamespace(
        VideoCapture=video_capture, captures=captures, CAP_PROP_BUFFERSIZE=38,
        CAP_PROP_FRAME_WIDTH=WIDTH, CAP_PROP_FRAME_HEIGHT=HEIGHT, CAP_PROP_POS_FRAMES=1,
        COLOR_BGR2RGB=4, COLOR_GRAY2RGB=8, INTER_AREA=3,
        cvtColor=lambda img, code: img[..., ::-1].copy() if code == 4 else np.dstack([img] * 3),
        resize=resize,
    )


def bgr(value: int) -> np.ndarray:
    frame = np.zeros((6, 8, 3), np.uint8)
    frame[..., 0] = value  # blue channel carries the frame number
    return frame


def test_webcam_read_returns_only_the_newest_frame():
    cv2 = fake_cv2()
    with OpenCVSource(0, cv2_module=cv2, timeout_s=WAIT_S) as src:
        cap = cv2.captures[0]
        assert cap.props[cv2.CAP_PROP_BUFFERSIZE] == 1
        for n in (1, 2, 3):
            cap.push(bgr(n))
        cap.wait_stored(3)
        frame = src.read()
        assert frame[0, 0, 2] == 3 and frame[0, 0, 0] == 0  # newest, converted to RGB
        assert frame.flags.c_contiguous and frame.dtype == np.uint8
        assert src.frames_dropped == 2 and src.frames_grabbed == 3
        # No new frame: read() waits for the NEXT one instead of repeating frame 3.
        src.timeout_s = 0.05
        with pytest.raises(CameraError, match=r"webcam:0 delivered no frame in 0.05 s"):
            src.read()
        src.timeout_s = WAIT_S
        cap.push(bgr(4))
        assert src.read()[0, 0, 2] == 4
    assert cap.released and src.is_live


def test_a_webcam_is_asked_for_the_capture_size_and_the_log_says_what_it_gave(caplog):
    cv2 = fake_cv2()
    with caplog.at_level(logging.INFO, logger="aoc.sources"):
        with OpenCVSource(0, cv2_module=cv2, capture_size=(1280, 720)):
            pass
        with OpenCVSource(1, cv2_module=cv2, capture_size=(800, 600)):
            pass
        with OpenCVSource(2, cv2_module=cv2):  # no size asked: the webcam's own mode
            pass
    asked = [(c.props.get(WIDTH), c.props.get(HEIGHT)) for c in cv2.captures]
    assert asked == [(1280, 720), (800, 600), (None, None)]
    said = [r.getMessage() for r in caplog.records if "asked for" in r.getMessage()]
    assert said == ["webcam:1: asked for 800x600 (camera.width/height), the camera gives 640x480"]


def test_a_stream_is_not_asked_for_a_capture_size():
    cv2 = fake_cv2()
    with OpenCVSource("rtsp://cam/stream", cv2_module=cv2, capture_size=(1280, 720)):
        pass
    assert WIDTH not in cv2.captures[0].props


def test_read_waits_for_the_first_frame_from_another_thread():
    cv2 = fake_cv2()
    with OpenCVSource(0, cv2_module=cv2, size=(4, 3), timeout_s=WAIT_S) as src:
        cap = cv2.captures[0]
        result: list[np.ndarray] = []
        reader = threading.Thread(target=lambda: result.append(src.read()))
        reader.start()
        cap.push(bgr(7))
        reader.join(WAIT_S)
        assert result and result[0].shape == (3, 4, 3) and result[0][0, 0, 2] == 7


def test_close_leaves_a_capture_still_reading_to_its_grabber():
    """A V4L2 read can block for 10 s with the GIL released: close() gives up waiting after
    its timeout, and releasing the capture under the read could crash the process."""
    cv2 = fake_cv2()
    src = OpenCVSource(0, cv2_module=cv2, timeout_s=0.05)
    src.open()
    cap = cv2.captures[0]
    unblock, reading = threading.Event(), threading.Event()

    def stuck_read():
        reading.set()
        unblock.wait(WAIT_S)
        return False, None

    cap.read = stuck_read
    assert reading.wait(WAIT_S)
    src.close()  # waits 1 s for the thread, which is still inside read()
    assert not cap.released
    released = threading.Event()
    cap.release = released.set
    unblock.set()
    assert released.wait(WAIT_S)  # the grabber released it on its way out
    src.close()  # safe twice


def test_lost_webcam_raises_camera_error():
    cv2 = fake_cv2()
    with OpenCVSource(0, cv2_module=cv2, timeout_s=WAIT_S, max_grab_failures=3) as src:
        with pytest.raises(CameraError, match="stopped delivering frames"):
            src.read()  # nothing pushed: three failed grabs


def test_webcam_that_does_not_open():
    with pytest.raises(CameraError, match=r"no webcam at index 2.*/dev/video"):
        OpenCVSource(2, cv2_module=fake_cv2(opened=False)).open()


def test_a_missing_webcam_is_one_camera_error_not_opencvs_warning_too(capfd):
    """With the real OpenCV: it also printed "can't open camera by index" to stderr on every
    try (every 30 s under `auto`, into the journal); its log level is put back after."""
    cv2 = pytest.importorskip("cv2")
    level = cv2.utils.logging.getLogLevel()
    with pytest.raises(CameraError, match="no webcam at index 97"):
        OpenCVSource(97, cv2_module=cv2).open()
    assert "can't open camera" not in capfd.readouterr().err
    assert cv2.utils.logging.getLogLevel() == level


def test_missing_cv2_says_how_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(CameraError, match="pip install opencv-python-headless"):
        OpenCVSource(0).open()


def test_names_kinds_and_bad_targets():
    assert OpenCVSource("rtsp://cam.local/stream").is_live
    assert OpenCVSource("rtsp://cam.local/stream").name.startswith("stream:")
    assert not OpenCVSource("clip.avi").is_live
    assert is_stream_url("HTTP://x") and not is_stream_url("/tmp/x.mp4")
    for bad in ("", True, 1.5):
        with pytest.raises(ConfigError):
            OpenCVSource(bad)  # type: ignore[arg-type]


def test_close_twice_is_safe():
    cv2 = fake_cv2()
    src = OpenCVSource(0, cv2_module=cv2)
    src.open()
    src.close()
    src.close()
    with pytest.raises(CameraError, match="not open"):
        src.read()


# -- real OpenCV with a generated video file --------------------------------------------

COLOURS_RGB = [(220, 30, 30), (30, 220, 30), (30, 30, 220)]


@pytest.fixture
def video(tmp_path: Path) -> Path:
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    assert writer.isOpened()
    for rgb in COLOURS_RGB:
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:] = rgb[::-1]  # OpenCV writes BGR
        writer.write(frame)
    writer.release()
    return path


def test_video_file_reads_sequentially_in_rgb(video: Path):
    with OpenCVSource(str(video), loop=False, real_time=False) as src:
        frames = [src.read() for _ in COLOURS_RGB]
        with pytest.raises(CameraError, match="has ended"):
            src.read()
    for frame, rgb in zip(frames, COLOURS_RGB, strict=True):
        assert frame.shape == (48, 64, 3)
        assert np.abs(frame[24, 32].astype(int) - rgb).max() <= 12  # MJPG is lossy
    assert not src.is_live


def test_video_file_loops_and_resizes(video: Path):
    with OpenCVSource(str(video), loop=True, size=(32, 16), real_time=False) as src:
        frames = [src.read() for _ in range(5)]
    assert all(f.shape == (16, 32, 3) and f.flags.c_contiguous for f in frames)
    assert np.abs(frames[3][8, 16].astype(int) - COLOURS_RGB[0]).max() <= 12


def test_a_video_file_plays_at_its_own_frame_rate(video: Path):
    """It played at the loop's rate (a 15 fps clip at twice its speed under the 30 fps
    cap), so the smoothing, timed in seconds, saw the pictures for half as long."""
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with OpenCVSource(str(video), loop=True, clock=lambda: now[0], sleep=sleep) as src:
        first = [src.read() for _ in COLOURS_RGB]  # a fast reader: waits 0.1 s a frame
        assert slept == pytest.approx([0.1, 0.1])
        now[0] += 0.25  # then slow: frames 3 and 4 (the replay's first two) went by
        src.read()
        assert src.frames_dropped == 0  # the file ended: its replay starts its own clock
        now[0] += 0.25
        late = src.read()
    assert np.abs(first[1][24, 32].astype(int) - COLOURS_RGB[1]).max() <= 12
    # 0.25 s into the replay at 10 fps: frame 2 is due, frame 1 was dropped
    assert src.frames_dropped == 1
    assert np.abs(late[24, 32].astype(int) - COLOURS_RGB[2]).max() <= 12


@pytest.mark.parametrize(("resize", "shape"), [("stretch", (24, 24, 3)),
                                              ("center_crop", (24, 32, 3)),
                                              ("letterbox", (24, 32, 3))])
def test_the_frame_keeps_the_aspect_ratio_unless_the_model_stretches(video: Path, resize,
                                                                     shape):
    """A 64x48 (4:3) video for a 24x24 model: squashed to 24x24 only for a ``stretch``
    model; a ``center_crop`` model, trained on undistorted pictures, gets 32x24 and crops."""
    with OpenCVSource(str(video), size=(24, 24), resize=resize) as src:
        frame = src.read()
    assert frame.shape == shape and frame.flags.c_contiguous
    assert np.abs(frame[12, 12].astype(int) - COLOURS_RGB[0]).max() <= 12


def test_missing_video_file_names_it(tmp_path: Path):
    pytest.importorskip("cv2")
    missing = tmp_path / "nope.avi"
    with pytest.raises(CameraError, match="nope.avi could not be opened"):
        OpenCVSource(str(missing)).open()


def test_a_stream_is_opened_with_a_time_limit_and_a_webcam_or_file_as_before():
    cv2 = fake_cv2()
    asked = []
    plain = cv2.VideoCapture

    def video_capture(target, api=None, params=None):
        asked.append((target, api, params))
        return plain(target)

    cv2.VideoCapture, cv2.CAP_ANY = video_capture, 0
    cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, cv2.CAP_PROP_READ_TIMEOUT_MSEC = 53, 54
    for target in ("rtsp://cam/stream", 0, "clip.mp4"):
        with OpenCVSource(target, cv2_module=cv2, timeout_s=2.5, real_time=False):
            pass
    assert asked == [("rtsp://cam/stream", 0, [53, 2500, 54, 2500]),
                     (0, None, None), ("clip.mp4", None, None)]


def test_real_opencv_gives_up_on_a_stream_that_never_answers():
    """A server that takes the connection and never sends a byte: FFmpeg's own limit is
    about 30 s, longer than the service's watchdog; the source's timeout_s holds."""
    import socket
    import time

    cv2 = pytest.importorskip("cv2")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    url = f"http://127.0.0.1:{server.getsockname()[1]}/live.mjpg"
    try:
        source = OpenCVSource(url, cv2_module=cv2, timeout_s=1.0)
        started = time.monotonic()
        with pytest.raises(CameraError):
            source.open()
        assert time.monotonic() - started < 10
    finally:
        server.close()


def test_a_video_of_huge_frames_is_refused_before_a_frame_is_decoded():
    """8000x8000 frames took 791 MB, past the unit's MemoryMax: the images' 24 MP limit."""
    cv2 = fake_cv2()
    cv2.VideoCapture = lambda target: FakeCapture(target, modes=((8000, 8000),))
    source = OpenCVSource("huge.avi", cv2_module=cv2, real_time=False)
    with pytest.raises(CameraError, match=r"8000x8000 frames, more than the 24,000,000"):
        source.open()
    cv2.VideoCapture = lambda target: FakeCapture(target, modes=((3840, 2160),))
    with OpenCVSource("4k.mp4", cv2_module=cv2, real_time=False):
        pass
