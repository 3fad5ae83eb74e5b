"""Decode an image file into an RGB picture, safely: the one decoder of ``aoc classify``
and the image-folder source.

An unattended box meets every kind of file, so each is refused *per image* with an
:class:`~aoc.errors.ImageReadError` naming the file, never a crash or a blown memory cap:

* only regular files are opened (a FIFO or device node would block forever);
* one pixel limit for the device, :data:`MAX_IMAGE_PIXELS`, checked from the header
  before any pixel is decoded (Pillow's own decompression-bomb error is mapped to the same
  refusal). The service runs with ``MemoryMax=500M``: a 24 MP PNG shown by the image-folder
  source took the whole run to a peak of 307 MB RSS (2026-12-08; 399 MB before the
  folder source freed the decoded picture before scaling it);
* large JPEGs are decoded with :meth:`PIL.Image.Image.draft` (DCT scaling) at the smallest
  size still at least ``size``, so a 48-megapixel photo costs the memory of a small one;
* every mode Pillow opens becomes 8-bit RGB with correct scaling (:func:`to_rgb`):
  16-bit greyscale (``I;16*``) is scaled 65535 -> 255 instead of clipped to white,
  ``I`` and ``F`` are scaled from their range;
* every exception a corrupt file makes Pillow raise becomes an ``ImageReadError``.
"""

from __future__ import annotations

import logging
import os
import struct
import warnings
import zlib
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from aoc.errors import ImageReadError
from aoc.filecheck import require_regular_file

T = TypeVar("T")

log = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 24_000_000
"""The device's one pixel limit (width x height after JPEG draft scaling): 24 MP, e.g.
6000x4000. Larger images are refused with a message naming the file."""

_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError,
    TypeError, ZeroDivisionError, OverflowError, MemoryError, zlib.error,
    Image.DecompressionBombError, Image.DecompressionBombWarning,
)
"""What Pillow's decoders raise on corrupt, truncated or hostile data (seen by fuzzing)."""

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I;16BS", "I;16LS")


def _checked(path: str | os.PathLike[str], size: tuple[int, int] | None, max_pixels: int,
             read: Callable[[Image.Image], T]) -> T:
    """Open ``path`` (a regular file), draft a JPEG near ``size``, check its pixel count,
    then ``read`` it; every decoder error becomes an :class:`ImageReadError`."""
    path = require_regular_file(path, what="image", error=ImageReadError,
                                fix="give an image file (png, jpg, ...)")
    try:
        with warnings.catch_warnings():
            # Pillow warns over 89 MP (our own, lower limit follows) and errors over 179 MP.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if size is not None and image.format == "JPEG":
                    image.draft("RGB", (max(1, size[0]), max(1, size[1])))
                check_pixels(image.size, path=path, max_pixels=max_pixels)
                return read(image)
    except ImageReadError:
        raise
    except _DECODE_ERRORS as exc:
        raise _refusal(path, exc, max_pixels) from exc


def load_image(path: str | os.PathLike[str], *, size: tuple[int, int] | None = None,
               max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open, check and decode ``path`` into an RGB PIL image (first frame).

    ``size`` (width, height) is the size the picture will be scaled to: a JPEG is then
    decoded at the smallest DCT scale still at least that big. Raises
    :class:`ImageReadError` for anything that is not a readable image within ``max_pixels``.
    """

    def decode(image: Image.Image) -> Image.Image:
        image.load()
        return to_rgb(upright(image))

    return _checked(path, size, max_pixels, decode)


def _refusal(path: object, exc: BaseException, max_pixels: int) -> ImageReadError:
    if isinstance(exc, UnidentifiedImageError):
        return ImageReadError(
            f"image {path} is not an image format Pillow knows (png, jpg, bmp, gif, webp, "
            f"tiff): {_short(exc)}; skip it or convert it")
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return ImageReadError(
            f"image {path} is too large ({_short(exc)}); the limit is {max_pixels:,} pixels: "
            "scale it down")
    return ImageReadError(
        f"image {path} cannot be decoded ({type(exc).__name__}: {_short(exc)}); it is "
        "corrupt or truncated: replace it")


def probe_image(path: str | os.PathLike[str], *, size: tuple[int, int] | None = None,
                max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """Check ``path`` as :func:`load_image` would, reading the header only; its decoded
    (width, height). Cheap: for files decoded later, on demand. A PNG whose EXIF block
    comes after its pixels counts as upright here (finding it means decoding), so its
    width and height may come out swapped; the pixel count, which is what is checked, is
    the same either way."""
    def size_of(image: Image.Image) -> tuple[int, int]:
        width, height = image.size
        turned = _orientation(image, decode=False) in _QUARTER_TURNS
        return (height, width) if turned else (width, height)

    return _checked(path, size, max_pixels, size_of)


def load_frame(path: str | os.PathLike[str], *, size: tuple[int, int] | None = None,
               max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """:func:`load_image` as a frame: ``uint8`` (H, W, 3), C-contiguous."""
    return np.ascontiguousarray(np.asarray(load_image(path, size=size, max_pixels=max_pixels),
                                           dtype=np.uint8))


def check_pixels(image_size: tuple[int, int], *, path: object,
                 max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuse an image whose width x height exceeds ``max_pixels`` (or is empty)."""
    width, height = image_size
    if width <= 0 or height <= 0:
        raise ImageReadError(f"image {path} has no pixels ({width}x{height}): replace it")
    if width * height > max_pixels:
        raise ImageReadError(
            f"image {path} is {width}x{height} = {width * height:,} pixels, over the "
            f"limit of {max_pixels:,}: scale it down (e.g. to 4000x3000 or less)")


_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})  # orientations that swap width and height


def _orientation(image: Image.Image, *, decode: bool = True) -> int:
    """The EXIF orientation (1 = upright). Without ``decode`` a PNG whose EXIF chunk was not
    met in its header counts as upright: Pillow finds a later one only by decoding the whole
    picture (0.2 s for 12 MP), which made a header check cost a full decode."""
    if not decode and image.format == "PNG" and "exif" not in image.info:
        return 1
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except (ValueError, TypeError, OSError, SyntaxError):  # a damaged EXIF block
        return 1


def upright(image: Image.Image) -> Image.Image:
    """``image`` turned as its EXIF orientation says (a phone photo taken upright is stored
    on its side with a tag); itself when there is none. Training reads images through this
    too, so both see the same picture."""
    if _orientation(image) == 1:
        return image
    try:
        return ImageOps.exif_transpose(image)
    except (ValueError, TypeError, OSError, SyntaxError):
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB, with the value range scaled, not clipped.

    ``I;16*`` (16-bit greyscale PNG/TIFF): value / 257. ``I`` (32-bit int; Pillow also opens
    16-bit PNGs so): 0..255 kept, 0..65535 / 257, anything else stretched min..max. ``F``
    (float): 0..1 x 255, 0..255 kept, else stretched min..max. Alpha is dropped, other modes
    go through Pillow's own conversion (via RGBA, or the first band, for the few it cannot
    convert directly).
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        values = np.asarray(image)
        grey = _scaled_grey(values, mode)
        return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2), "RGB")
    try:
        return image.convert("RGB")
    except ValueError:  # e.g. premultiplied "La": no direct path in Pillow
        pass
    try:
        return image.convert("RGBA").convert("RGB")
    except ValueError:
        return image.getchannel(0).convert("RGB")


def _scaled_grey(values: np.ndarray, mode: str) -> np.ndarray:
    # Corrupt float images carry NaN/inf (even signalling NaNs): handled below, not warned.
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return _scaled_grey_values(values, mode)


def _scaled_grey_values(values: np.ndarray, mode: str) -> np.ndarray:
    data = values.astype(np.float64, copy=False)
    if mode in _SIXTEEN_BIT:
        data = data / 257.0
    else:
        finite = data[np.isfinite(data)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 0.0
        if mode == "F" and lo >= 0.0 and hi <= 1.0:
            data = data * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            pass
        elif mode == "I" and lo >= 0.0 and hi <= 65535.0:
            data = data / 257.0
        elif hi > lo:
            data = (data - lo) * (255.0 / (hi - lo))
        else:
            data = np.zeros_like(data)
        data = np.nan_to_num(data, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(data), 0, 255).astype(np.uint8)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."

