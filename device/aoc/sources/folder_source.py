"""Still images from a folder or a glob pattern, looped, decoded once.

Every image is decoded and scaled to ``size`` once, in :meth:`ImageFolderSource.open`, and
the frames are cached (read-only), so a loop over them costs almost nothing per frame:
the benchmark measures the classifier, not JPEG decoding. Unreadable files are skipped with
a warning naming them. Files are taken in natural order (``img2`` before ``img10``).
"""

from __future__ import annotations

import glob
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from aoc.errors import CameraError
from aoc.sources.base import BaseSource, Size, check_resize_mode, check_size, fit_image, frozen

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
GLOB_CHARS = frozenset("*?[")


def natural_key(path: Path) -> tuple[object, ...]:
    """Sort key treating digit runs as numbers: ``a2.png`` < ``a10.png``."""
    parts = re.split(r"(\d+)", str(path).lower())
    return tuple((0, int(p), p) if p.isdigit() else (1, 0, p) for p in parts)


def list_images(pattern_or_dir: str | Path) -> list[Path]:
    """Image files in a folder, matched by a glob, or the one file named; natural order."""
    text = str(pattern_or_dir)
    path = Path(text).expanduser()
    if path.is_dir():
        found = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    elif path.is_file():
        found = [path]
    elif GLOB_CHARS & set(text):
        found = [Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file()]
    else:
        found = []
    return sorted(found, key=natural_key)


class ImageFolderSource(BaseSource):
    """Frames from still images, in natural order, looping by default.

    ``resize`` is the policy used to reach ``size``, in the bundle manifest's names:
    ``stretch``, ``center_crop`` or ``letterbox`` (``crop``/``pad`` are aliases).
    ``hold_s`` shows each image for that many seconds of ``clock``
    (a slideshow); ``None`` advances one image per :meth:`read` (for benchmarks and tests).
    """

    is_live = False

    def __init__(
        self,
        pattern_or_dir: str | Path,
        *,
        size: Size | None = None,
        loop: bool = True,
        resize: str = "stretch",
        hold_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pattern = str(pattern_or_dir)
        self.size = check_size(size)
        self.loop = loop
        self.resize = check_resize_mode(resize)
        self.hold_s = hold_s
        self._clock = clock
        self.name = f"folder:{self.pattern}"
        self.paths: list[Path] = []
        """The images actually decoded, in the order they are shown."""
        self.skipped: list[Path] = []
        """Files that could not be decoded."""
        self._frames: list[np.ndarray] = []
        self._index = 0
        self._t0 = 0.0

    def open(self) -> None:
        """Decode and cache every readable image; ``CameraError`` if there is none."""
        if self._frames:
            return
        candidates = list_images(self.pattern)
        if not candidates:
            raise CameraError(
                f"no image files (png, jpg, ...) at {self.pattern}: check the folder or glob"
            )
        frames, paths, skipped = [], [], []
        for path in candidates:
            try:
                with Image.open(path) as image:
                    frames.append(frozen(fit_image(image, self.size, self.resize)))
                paths.append(path)
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                log.warning("skipping unreadable image %s: %s", path, exc)
                skipped.append(path)
        if not frames:
            raise CameraError(
                f"none of the {len(candidates)} image file(s) at {self.pattern} could be "
                f"decoded (first: {candidates[0]}): check they are valid images"
            )
        self._frames, self.paths, self.skipped = frames, paths, skipped
        self._index = 0
        self._t0 = self._clock()
        log.info("%s: %d image(s) cached, %d skipped", self.name, len(frames), len(skipped))

    def read(self) -> np.ndarray:
        """Return the next (or, with ``hold_s``, the current) cached frame; read-only."""
        if not self._frames:
            raise CameraError(f"{self.name} is not open: call open() first")
        count = len(self._frames)
        if self.hold_s is not None and self.hold_s > 0:
            index = int((self._clock() - self._t0) // self.hold_s)
        else:
            index, self._index = self._index, self._index + 1
        if index >= count:
            if not self.loop:
                raise CameraError(
                    f"{self.name}: all {count} image(s) shown; use loop=true to repeat them"
                )
            index %= count
            if self.hold_s is None or self.hold_s <= 0:
                self._index = index + 1
        return self._frames[index]

    def close(self) -> None:
        """Drop the cached frames; safe twice."""
        self._frames = []
        self._index = 0
