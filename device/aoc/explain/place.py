"""Where the original picture lands in the model input, and back: the geometry of
:mod:`aoc.explain.rise` (the device's resize policies: stretch, center_crop, letterbox).

Pure numpy and Pillow; the arithmetic is the same as
:func:`aoc.inference.resize.resize_frame`'s.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

from aoc.errors import AocError
from aoc.inference.resize import check_policy, crop_box


class PlacementError(AocError, ValueError):
    """A map does not fit the model input it claims to come from."""


class Placement(NamedTuple):
    """Where the original picture lands in the model input (the device's resize policy).

    ``src_box``: the region of the original (left, top, right, bottom, original pixels) the
    model sees; ``dst_box``: where that region lies in the model input (input pixels).
    """

    policy: str
    image_size: tuple[int, int]
    input_size: tuple[int, int]
    src_box: tuple[int, int, int, int]
    dst_box: tuple[int, int, int, int]


def placement(image_size: tuple[int, int], input_size: tuple[int, int], policy: str) -> Placement:
    """The :class:`Placement` of ``resize_frame(frame, input_size, policy)`` for a frame of
    ``image_size`` = (width, height)."""
    check_policy(policy)
    (sw, sh), (w, h) = image_size, input_size
    full_src, full_dst = (0, 0, sw, sh), (0, 0, w, h)
    if (sw, sh) == (w, h) or policy == "stretch":
        return Placement(policy, (sw, sh), (w, h), full_src, full_dst)
    if policy == "center_crop":
        return Placement(policy, (sw, sh), (w, h), crop_box((sw, sh), (w, h)), full_dst)
    factor = min(w / sw, h / sh)  # letterbox: same arithmetic as resize_frame
    fw, fh = max(1, round(sw * factor)), max(1, round(sh * factor))
    left, top = (w - fw) // 2, (h - fh) // 2
    return Placement(policy, (sw, sh), (w, h), full_src, (left, top, left + fw, top + fh))


def map_to_image(
    values: np.ndarray, where: Placement, out_size: tuple[int, int] | None = None
) -> np.ndarray:
    """A model-input map ``(h, w)`` put back onto the original picture, float32 ``(H, W)``.

    ``out_size`` = (width, height) draws onto the original scaled to that size (default:
    the original size). Pixels the model did not see are NaN; letterbox padding is dropped.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.shape != (where.input_size[1], where.input_size[0]):
        raise PlacementError(
            f"map of shape {values.shape} does not match the model input "
            f"{where.input_size[0]}x{where.input_size[1]}"
        )
    ow, oh = out_size or where.image_size
    sx, sy = ow / where.image_size[0], oh / where.image_size[1]
    dl, dt, dr, db = where.dst_box
    sl, st, sr, sb = where.src_box
    left, top = round(sl * sx), round(st * sy)
    right, bottom = max(left + 1, round(sr * sx)), max(top + 1, round(sb * sy))
    seen = Image.fromarray(np.ascontiguousarray(values[dt:db, dl:dr]), mode="F")
    seen = seen.resize((right - left, bottom - top), Image.Resampling.BILINEAR)
    out = np.full((oh, ow), np.nan, dtype=np.float32)
    out[top:bottom, left:right] = np.asarray(seen)[: oh - top, : ow - left]
    return out


def input_box_to_image(
    box: tuple[int, int, int, int], where: Placement
) -> tuple[int, int, int, int] | None:
    """A box of the model input in original-picture pixels (``None`` if none of it is seen)."""
    dl, dt, dr, db = where.dst_box
    sl, st, sr, sb = where.src_box
    left, top = max(box[0], dl), max(box[1], dt)
    right, bottom = min(box[2], dr), min(box[3], db)
    if right <= left or bottom <= top:
        return None
    fx, fy = (sr - sl) / (dr - dl), (sb - st) / (db - dt)
    return (round(sl + (left - dl) * fx), round(st + (top - dt) * fy),
            round(sl + (right - dl) * fx), round(st + (bottom - dt) * fy))
