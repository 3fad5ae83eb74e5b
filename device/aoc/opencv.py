"""OpenCV, where it is optional: the desktop extra installs it for the webcam and video
sources, and the fast resize and YUV paths use it when present. The device runs without it
(Pillow and numpy paths give the same pixels within a level or two)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any


def optional_cv2() -> ModuleType | None:
    """``cv2`` when it can be imported, else ``None``. Imported on first use only."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


@contextlib.contextmanager
def quiet_opencv(cv2: Any) -> Iterator[None]:
    """OpenCV's own messages held back while a capture opens: a missing webcam is our
    CameraError (logged once), but OpenCV also prints "can't open camera by index" to
    stderr on every try, which under ``auto`` (a camera looked for every 30 s) went to the
    journal twice a minute for months."""
    logging_api = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging_api is None:
        yield
        return
    level = logging_api.getLogLevel()
    # silent, not ERROR: OpenCV 4.x (the Pi's, with numpy 1.24) also logs "Camera index out
    # of range" at ERROR from its obsensor backend; never louder than the user set it
    logging_api.setLogLevel(min(level, logging_api.LOG_LEVEL_SILENT))
    try:
        yield
    finally:
        logging_api.setLogLevel(level)
