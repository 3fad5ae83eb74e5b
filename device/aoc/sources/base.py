"""The frame-source contract and the helpers every source shares.

A *frame* is an RGB ``uint8`` array of shape ``(H, W, 3)``, C-contiguous. Sources convert
whatever their device delivers (BGR, YUV420) before handing a frame out, and scale to the
``size`` they were asked for when they can do so cheaply, so the classifier only copies.
"""

from __future__ import annotations

import logging
import math
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from aoc.errors import CameraError, ConfigError
from aoc.inference.bundle_spec import RESIZE_POLICIES
from aoc.resource import Opening

log = logging.getLogger(__name__)

Size = tuple[int, int]
"""(width, height) in pixels: PIL's order, not numpy's."""

RESIZE_ALIASES: dict[str, str] = {"crop": "center_crop", "pad": "letterbox"}
"""Older names still accepted, mapped to the manifest's."""


@runtime_checkable
class FrameSource(Protocol):
    """What the capture loop reads frames from."""

    name: str
    is_live: bool

    def open(self) -> None:
        """Acquire the device; raises :class:`~aoc.errors.CameraError` naming it and the fix."""

    def read(self) -> np.ndarray:
        """Return the newest frame (never a queued old one); raises ``CameraError``."""

    def close(self) -> None:
        """Release the device; safe to call twice."""

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc: object) -> None: ...


class BaseSource(Opening):
    """Context-manager plumbing shared by the concrete sources.

    ``open()`` on an already open source does nothing, so a source handed out opened (as
    :func:`aoc.sources.open_source` does) can still be used in a ``with`` block.
    """

    name: str = "source"
    is_live: bool = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def check_size(size: object, *, key: str = "camera.size") -> Size | None:
    """Validate a ``(width, height)`` pair (or ``None``) and return it as a tuple of ints."""
    if size is None:
        return None
    if (
        not isinstance(size, tuple | list)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
        or min(size) <= 0
    ):
        raise ConfigError(
            f"{key} must be (width, height) as two positive integers, got {size!r}", key=key
        )
    return int(size[0]), int(size[1])


def check_resize_mode(mode: str, *, key: str = "camera.resize") -> str:
    """Validate a resize policy name; returns the manifest's name (aliases mapped)."""
    canonical = RESIZE_ALIASES.get(mode, mode)
    if canonical not in RESIZE_POLICIES:
        raise ConfigError(
            f"{key} must be one of {', '.join(RESIZE_POLICIES)}, got {mode!r}", key=key
        )
    return canonical


def camera_frame_size(camera_size: Size, model_size: Size | None, mode: str) -> Size | None:
    """The size a camera source should deliver for a model of ``model_size`` fitted by
    ``mode``: the model's size for ``stretch``; else the camera's aspect ratio, just
    covering the model's size (640x480 for 224x224 -> 299x224), so the classifier's own
    fitting (``center_crop``, ``letterbox``) sees the picture undistorted, as in training.
    ``None`` (no model size) stays ``None``."""
    if model_size is None or check_resize_mode(mode) == "stretch":
        return model_size
    (cw, ch), (mw, mh) = camera_size, model_size
    scale = max(mw / cw, mh / ch)
    # the tolerance keeps an exact fit (1280x720 for 1280x720) from growing a pixel
    return max(mw, math.ceil(cw * scale - 1e-6)), max(mh, math.ceil(ch * scale - 1e-6))


def fit_image(image: Image.Image, size: Size | None, mode: str = "stretch") -> np.ndarray:
    """Convert a PIL image to a frame, scaled to ``size`` by the ``mode`` policy.

    ``stretch`` scales to exactly ``size`` ignoring aspect; ``center_crop`` scales to cover
    ``size`` and cuts the centre; ``letterbox`` scales to fit inside ``size`` and pads with
    black (the bundle manifest's names; ``crop`` and ``pad`` are accepted as aliases). The
    filter is the device's own (:data:`aoc.inference.resize.DEVICE_RESAMPLE`), so a picture
    from a folder reaches the model as ``aoc classify`` and training fit it.
    """
    return fit_frame(image_frame(image), size, mode)


def image_frame(image: Image.Image) -> np.ndarray:
    """A PIL image's pixels as a C-contiguous ``uint8`` (H, W, 3) RGB frame (one copy; an RGB
    image is not converted first, which for 24 MP cost another 72 MB)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def fit_frame(frame: np.ndarray, size: Size | None, mode: str = "stretch") -> np.ndarray:
    """``frame`` scaled to ``size`` by the ``mode`` policy with the device's filter, as
    :func:`fit_image` does (``size`` None: ``frame`` itself)."""
    from aoc.inference.resize import DEVICE_RESAMPLE, resize_frame

    if size is None:
        return frame
    fitted = resize_frame(frame, tuple(size), check_resize_mode(mode), resample=DEVICE_RESAMPLE)
    return np.ascontiguousarray(fitted)


def as_frame(array: np.ndarray, *, device: str) -> np.ndarray:
    """Return ``array`` as a C-contiguous ``uint8`` (H, W, 3) frame (copying only if needed).

    ``device`` names the source in the error raised for an array of the wrong shape.
    """
    if array.ndim != 3 or array.shape[2] != 3:
        raise CameraError(
            f"{device} delivered an array of shape {array.shape}, not (H, W, 3) colour: "
            "check the device's pixel format"
        )
    return np.ascontiguousarray(array, dtype=np.uint8)


def frozen(frame: np.ndarray) -> np.ndarray:
    """Mark a cached frame read-only so a consumer cannot scribble on the cache."""
    frame.flags.writeable = False
    return frame
