"""Opening an OpenCV capture for :class:`aoc.sources.opencv_source.OpenCVSource`: the
time limit of a stream, the refusal of frames too large to decode, the mode asked of a
webcam, and the error that says what to check when nothing opens.

OpenCV is imported lazily (``pip install opencv-python-headless``).
"""

from __future__ import annotations

import logging
from typing import Any

from aoc.errors import CameraError
from aoc.images import MAX_IMAGE_PIXELS
from aoc.opencv import quiet_opencv
from aoc.sources.base import Size

log = logging.getLogger(__name__)

NOT_INSTALLED = "OpenCV is not installed: `pip install opencv-python-headless`"


def import_cv2() -> Any:
    """Import OpenCV or raise ``CameraError`` saying how to install it."""
    try:
        import cv2
    except ImportError as exc:
        raise CameraError(NOT_INSTALLED, brief="OpenCV not installed") from exc
    return cv2


def open_capture(cv2: Any, target: int | str, *, name: str, webcam: bool, is_live: bool,
                 timeout_s: float, capture_size: Size | None = None) -> Any:
    """An opened ``cv2.VideoCapture`` of ``target``, or ``CameraError`` saying what to check.

    A stream's opening and reads are bounded by ``timeout_s``: FFmpeg's own limit is about
    30 s, and a camera that takes the connection and never answers would hold the loop that
    long (no watchdog ping, a SIGTERM acted on late) on every retry. A file or stream whose
    frames exceed the images' pixel limit is refused before a frame is decoded. A live
    source gets a one-frame buffer; a webcam is asked for ``capture_size``.
    """
    with quiet_opencv(cv2):
        if is_live and not webcam and hasattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC"):
            ms = max(1, round(timeout_s * 1000))
            cap = cv2.VideoCapture(target, cv2.CAP_ANY, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        else:
            cap = cv2.VideoCapture(target)
    if not cap.isOpened():
        cap.release()
        where = f"at index {target}" if isinstance(target, int) else str(target)
        brief = f"no webcam {where}" if webcam else None
        screen = None if is_live else "video unreadable"
        raise CameraError(_open_failure(target, where, webcam=webcam, is_live=is_live),
                          brief=brief, screen=screen)
    if not webcam:  # a webcam's mode is asked below; a file's or stream's is what it is
        width, height = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if width * height > MAX_IMAGE_PIXELS:  # 8000x8000 took 791 MB
            cap.release()
            raise CameraError(
                f"{name} has {width}x{height} frames, more than the {MAX_IMAGE_PIXELS:,} "
                "pixels the appliance decodes within its memory limit: make it smaller "
                "(`ffmpeg -i IN -vf scale=1280:-2 OUT`)", screen="video too large")
    if is_live:
        # Ask the backend for a 1-frame buffer (not every backend honours it; the source's
        # grabber thread is what guarantees freshness).
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if webcam and capture_size is not None:
            _ask_capture_size(cap, cv2, name, capture_size)
    return cap


def _ask_capture_size(cap: Any, cv2: Any, name: str, size: Size) -> None:
    """Ask the webcam for ``size``; say when it chose another mode."""
    width, height = size
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    if got != (width, height) and min(got) > 0:  # 0 or -1: the backend cannot say
        # Not an error: a webcam has a fixed list of modes and takes the nearest one.
        log.info("%s: asked for %dx%d (camera.width/height), the camera gives %dx%d",
                 name, width, height, *got)


def _open_failure(target: int | str, where: str, *, webcam: bool, is_live: bool) -> str:
    if webcam:
        return (f"no webcam {where}: check it is plugged in (`ls /dev/video*`) and not in "
                "use by another program")
    if is_live:
        return f"stream {target} could not be opened: check the URL and the network"
    return (f"video file {target} could not be opened: check the path exists and is a video "
            "OpenCV can decode")
