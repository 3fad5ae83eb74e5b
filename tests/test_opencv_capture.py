"""Tests for aoc.sources.opencv_capture: what a capture that does not open says, and the
limits set when one does (through a fake that follows cv2.VideoCapture's API)."""

from __future__ import annotations

import builtins
from types import SimpleNamespace

import pytest

from aoc.errors import CameraError
from aoc.sources.opencv_capture import import_cv2, open_capture


class Capture:
    def __init__(self, opened: bool, size: tuple[int, int] = (640, 480)) -> None:
        self.opened, self.size, self.props, self.released = opened, size, {}, False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened

    def get(self, prop: int) -> float:
        return {3: self.size[0], 4: self.size[1]}.get(prop, 0.0)

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def release(self) -> None:
        self.released = True


def cv2_opening(capture: Capture) -> SimpleNamespace:
    return SimpleNamespace(VideoCapture=lambda *args: capture, CAP_PROP_FRAME_WIDTH=3,
                           CAP_PROP_FRAME_HEIGHT=4, CAP_PROP_BUFFERSIZE=38)


@pytest.mark.parametrize("target,webcam,live,says,screen", [
    (0, True, True, "no webcam at index 0: check it is plugged in (`ls /dev/video*`)", None),
    ("rtsp://cam/live", False, True, "stream rtsp://cam/live could not be opened: check the "
     "URL and the network", None),
    ("clip.mp4", False, False, "video file clip.mp4 could not be opened: check the path",
     "video unreadable"),
])
def test_what_fails_to_open_says_what_to_check(target, webcam, live, says, screen):
    capture = Capture(opened=False)
    with pytest.raises(CameraError) as info:
        open_capture(cv2_opening(capture), target, name="x", webcam=webcam, is_live=live,
                     timeout_s=1.0)
    assert says in str(info.value) and info.value.screen == screen
    assert capture.released


def test_a_live_source_gets_a_one_frame_buffer_and_a_file_keeps_its_own():
    for live in (True, False):
        capture = Capture(opened=True)
        assert open_capture(cv2_opening(capture), "x", name="x", webcam=False, is_live=live,
                            timeout_s=1.0) is capture
        assert capture.props == ({38: 1} if live else {})


def test_missing_opencv_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_cv2(name, *args, **kwargs):
        if name == "cv2":
            raise ImportError("No module named 'cv2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cv2)
    with pytest.raises(CameraError, match="pip install opencv-python-headless"):
        import_cv2()
