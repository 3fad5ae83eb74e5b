"""Frame sources: picamera2, OpenCV (webcam, video, stream), image folder, built-in demo.

Every source is a :class:`FrameSource` delivering RGB ``uint8`` (H, W, 3) frames, optionally
at the model's input ``size``. :func:`open_source` turns a config string into one, and
:class:`ResilientSource` keeps the app alive while a camera is missing.
Hardware libraries (picamera2, cv2) are imported only when a source is opened.
"""

from aoc.sources.base import BaseSource, FrameSource, Size, fit_image
from aoc.sources.demo_source import DemoSource, demo_asset_paths, expected_label
from aoc.sources.factory import open_source
from aoc.sources.folder_source import ImageFolderSource, list_images
from aoc.sources.opencv_source import OpenCVSource
from aoc.sources.picamera2_source import Picamera2Source
from aoc.sources.resilient import ResilientSource
from aoc.sources.yuv import yuv420_to_rgb

__all__ = [
    "BaseSource",
    "DemoSource",
    "FrameSource",
    "ImageFolderSource",
    "OpenCVSource",
    "Picamera2Source",
    "ResilientSource",
    "Size",
    "demo_asset_paths",
    "expected_label",
    "fit_image",
    "list_images",
    "open_source",
    "yuv420_to_rgb",
]
