"""Still images from a folder or a glob pattern, looped, with bounded memory.

Images are decoded by :func:`aoc.images.load_image` (pixel limit, JPEG draft scaling, every
mode to RGB) and scaled to ``size``. The scaled frames are kept read-only in an LRU cache
of at most ``cache_bytes`` (64 MiB by default): a folder that fits is decoded once, so a
loop over it costs almost nothing per frame (the benchmark measures the classifier, not
JPEG decoding); a bigger folder is decoded on demand and memory stays bounded whatever
its size. :meth:`ImageFolderSource.open` decodes the first picture and checks the header of
the rest; every other picture is decoded when it is first shown. Decoding a whole folder at
open took 112 s for 445 pictures of 12 MP here, before the service's first frame and out of
reach of its watchdog and stop request. Unreadable or oversize files are skipped with a
warning naming them, at open or when met later. Files are taken in natural order (``img2``
before ``img10``). Each
time the loop comes round, the folder is listed again: pictures added, replaced (a new
modification time or size) or repaired are shown, removed ones dropped, and an emptied or
deleted folder is a :class:`~aoc.errors.CameraError` (the camera-lost path, retried).
"""

from __future__ import annotations

import glob
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aoc.errors import CameraError, ImageReadError
from aoc.filecheck import files_under
from aoc.images import MAX_IMAGE_PIXELS, load_image, probe_image
from aoc.sources.base import (
    BaseSource,
    Size,
    check_resize_mode,
    check_size,
    fit_frame,
    frozen,
    image_frame,
)

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
GLOB_CHARS = frozenset("*?[")
CACHE_BYTES = 64 * 1024 * 1024
"""Default budget of decoded frames kept in memory by :class:`ImageFolderSource`."""


def natural_key(path: Path) -> tuple[object, ...]:
    """Sort key treating digit runs as numbers: ``a2.png`` < ``a10.png``."""
    parts = re.split(r"(\d+)", str(path).lower())
    return tuple((0, int(p), p) if p.isdigit() else (1, 0, p) for p in parts)


def list_images(pattern_or_dir: str | Path) -> list[Path]:
    """Image files in a folder and its sub-folders (hidden ones left out), matched by a glob,
    or the one file named; natural order."""
    text = str(pattern_or_dir)
    path = Path(text).expanduser()
    if path.is_dir():  # sub-folders too, linked ones as well, as training reads a class folder
        found = [p for p in files_under(path)
                 if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
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
        cache_bytes: int = CACHE_BYTES,
        max_pixels: int = MAX_IMAGE_PIXELS,
    ) -> None:
        self.pattern = str(pattern_or_dir)
        self.size = check_size(size)
        self.loop = loop
        self.resize = check_resize_mode(resize)
        self.hold_s = hold_s
        self._clock = clock
        self.cache_bytes = max(0, int(cache_bytes))
        self.max_pixels = max_pixels
        self.name = f"folder:{self.pattern}"
        self.paths: list[Path] = []
        """The images shown, in order (files found unreadable are dropped from it)."""
        self.skipped: list[Path] = []
        """Files that could not be decoded or are over the pixel limit."""
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._stamps: dict[Path, tuple[int, int] | None] = {}  # of the cached frames' files
        self._bad: dict[Path, tuple[int, int] | None] = {}  # files that failed, as they were
        self._cached_bytes = 0
        self._cycle = 0
        self._open = False
        self._index = 0
        self._t0 = 0.0

    def open(self) -> None:
        """List the images, decode the first that decodes, check the rest's headers.

        ``CameraError`` if no image is usable.
        """
        if self._open:
            return
        candidates = list_images(self.pattern)
        if not candidates:
            raise CameraError(
                f"no image files (png, jpg, ...) at {self.pattern}: check the folder or glob",
                screen="no images",
            )
        self._cache.clear()
        self._stamps.clear()
        self._bad.clear()
        self._cached_bytes = 0
        self._cycle = 0
        paths, skipped = [], []
        for path in candidates:
            stamp = _stamp(path)  # before reading: a file rewritten meanwhile is read again
            try:
                if paths:
                    self._probe(path)
                else:  # one real decode, so that a folder of broken pictures fails here
                    self._remember(path, self._decode(path), stamp)
            except ImageReadError as exc:
                log.warning("skipping image: %s", exc)
                skipped.append(path)
                self._bad[path] = stamp
                continue
            paths.append(path)
        if not paths:
            self._cache.clear()
            raise CameraError(
                f"none of the {len(candidates)} image file(s) at {self.pattern} could be "
                f"decoded (first: {candidates[0]}): check they are valid images",
                screen="no image decodes",
            )
        self.paths, self.skipped = paths, skipped
        self._open = True
        self._index = 0
        self._t0 = self._clock()
        log.info("%s: %d image(s), %d cached, %d skipped", self.name, len(paths),
                 len(self._cache), len(skipped))

    def _decode(self, path: Path) -> np.ndarray:
        image = load_image(path, size=self.size, max_pixels=self.max_pixels)
        try:
            frame = image_frame(image)
        finally:
            image.close()  # freed before scaling: a 24 MP PNG held twice passed MemoryHigh
        return frozen(fit_frame(frame, self.size, self.resize))

    def _probe(self, path: Path) -> None:
        probe_image(path, size=self.size, max_pixels=self.max_pixels)

    def _remember(self, path: Path, frame: np.ndarray,
                  stamp: tuple[int, int] | None) -> None:
        self._cache[path] = frame
        self._stamps[path] = stamp
        self._cached_bytes += frame.nbytes
        while self._cached_bytes > self.cache_bytes and self._cache:
            evicted, old = self._cache.popitem(last=False)
            self._stamps.pop(evicted, None)
            self._cached_bytes -= old.nbytes

    def _frame(self, index: int) -> np.ndarray:
        """The frame of ``self.paths[index]``, from the cache or decoded now; a file that
        has become unreadable is dropped (warning) and the next one is used."""
        while self.paths:
            index %= len(self.paths)
            path = self.paths[index]
            cached = self._cache.get(path)
            if cached is not None:
                self._cache.move_to_end(path)
                return cached
            stamp = _stamp(path)  # before decoding: see open()
            try:
                frame = self._decode(path)
            except ImageReadError as exc:
                log.warning("skipping image: %s", exc)
                self.paths.pop(index)
                self.skipped.append(path)
                self._bad[path] = stamp
                continue
            self._remember(path, frame, stamp)
            return frame
        raise CameraError(f"{self.name}: no readable image is left (all {len(self.skipped)} "
                          "failed to decode): check the files", screen="no image decodes")

    def read(self) -> np.ndarray:
        """Return the next (or, with ``hold_s``, the current) frame; read-only."""
        if not self._open:
            raise CameraError(f"{self.name} is not open: call open() first")
        count = len(self.paths)
        if self.hold_s is not None and self.hold_s > 0:
            index = int((self._clock() - self._t0) // self.hold_s)
        else:
            index, self._index = self._index, self._index + 1
        if index >= count:
            if not self.loop:
                raise CameraError(
                    f"{self.name}: all {count} image(s) shown; use loop=true to repeat them"
                )
            held = self.hold_s is not None and self.hold_s > 0
            cycle = index // count if held else self._cycle + 1
            if cycle != self._cycle:  # round again: what changed in the folder meanwhile
                self._cycle = cycle
                self._relist()
                count = len(self.paths)
            index %= count
            if not held:
                self._index = index + 1
        return self._frame(index)

    def _relist(self) -> None:
        """List the folder again: new, replaced and repaired pictures are taken, removed
        ones dropped; a file that failed is tried again only once it has changed."""
        found = list_images(self.pattern)
        for path in [p for p in self._stamps if _stamp(p) != self._stamps[p]]:
            del self._stamps[path]  # replaced or removed: decoded again when shown
            self._cached_bytes -= self._cache.pop(path).nbytes
        self._bad = {p: st for p, st in self._bad.items() if p in found and _stamp(p) == st}
        paths = [p for p in found if p not in self._bad]
        if not paths:
            raise CameraError(f"no readable image files at {self.pattern} any more: check "
                              "the folder; the app retries", screen="no images")
        if paths != self.paths:
            log.info("%s: now %d image(s) (was %d)", self.name, len(paths), len(self.paths))
        self.paths, self.skipped = paths, sorted(self._bad, key=natural_key)

    def close(self) -> None:
        """Drop the cached frames; safe twice."""
        self._cache.clear()
        self._stamps.clear()
        self._bad.clear()
        self._cached_bytes = 0
        self._open = False
        self._index = 0


def _stamp(path: Path) -> tuple[int, int] | None:
    """(modification time in ns, size) of ``path``, ``None`` when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
