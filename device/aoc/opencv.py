"""OpenCV, where it is optional: the desktop extra installs it for the webcam and video
sources, and the fast resize and YUV paths use it when present. The device runs without it
(Pillow and numpy paths give the same pixels within a level or two)."""

from __future__ import annotations

from types import ModuleType


def optional_cv2() -> ModuleType | None:
    """``cv2`` when it can be imported, else ``None``. Imported on first use only."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2
