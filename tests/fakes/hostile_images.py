"""Hostile image files for the hardening tests, made cheaply (no huge decode needed).

``png_header_only`` writes a valid PNG signature and IHDR claiming any size, with an empty
compressed body: Pillow reads the size from the header, so a "20000x20000" image costs a
few bytes to make and is refused before any pixel is decoded.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(path: Path, width: int, height: int, *, bit_depth: int = 8,
                    colour_type: int = 2) -> Path:
    """A PNG that claims ``width`` x ``height`` (colour type 2 = RGB) but has no pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
                     + _chunk(b"IEND", b""))
    return path


def rotated_jpeg(path: Path) -> Path:
    """A 60x20 picture, left half red, stored turned a quarter (20x60) with EXIF orientation
    6, as a phone stores a photo taken upright."""
    upright = np.zeros((20, 60, 3), np.uint8)
    upright[:, :30] = (220, 20, 20)
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    stored.save(path, quality=95, exif=exif)
    return path
