"""luma.emulator's ``capture`` (PNG) and ``gifanim`` (GIF) devices: the screen as files.

Used for the README screenshots and tests; runs headless (pygame only scales images).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aoc.display.base import BaseDisplay
from aoc.display.render import render
from aoc.display.state import DisplayState
from aoc.errors import ConfigError, DisplayError

log = logging.getLogger(__name__)

FORMATS = ("png", "gif")
MAX_GIF_FRAMES = 1500  # luma's gifanim keeps every frame in memory until close
DIM_CONTRAST = 0x40  # the emulator shows contrast as brightness; real panels dim less


GIF_MAX_FRAME_MS = 655_350
"""A GIF keeps a frame's duration in 16 bits of hundredths of a second: a picture shown
longer (a blanked screen, a lasting fault) is held this long (Pillow refuses more)."""


def gif_durations_ms(shown_at: Sequence[float], end: float) -> list[int]:
    """Each GIF frame's duration in milliseconds: until the next frame went up, the last
    one until ``end``; to the nearest 10 ms (a GIF's unit: Pillow drops the rest), at least
    20 ms (browsers show shorter GIF frames for 100 ms), at most :data:`GIF_MAX_FRAME_MS`."""
    ends = [*shown_at[1:], end]
    return [min(GIF_MAX_FRAME_MS, max(20, 10 * round((b - a) * 100)))
            for a, b in zip(shown_at, ends, strict=True)]


def merge_repeats(images: Sequence[Any], durations: Sequence[int]) -> tuple[list, list[int]]:
    """Identical consecutive GIF frames as one, their durations added and held to
    :data:`GIF_MAX_FRAME_MS` (Pillow adds them itself, past what a GIF can say)."""
    merged: list = []
    total: list[int] = []
    last: bytes | None = None
    for image, ms in zip(images, durations, strict=True):
        pixels = image.tobytes()
        if merged and pixels == last:
            total[-1] = min(GIF_MAX_FRAME_MS, total[-1] + ms)
            continue
        merged.append(image)
        total.append(ms)
        last = pixels
    return merged, total


def _quiet_stdout() -> contextlib.AbstractContextManager[Any]:
    """luma.emulator's devices import pygame, which greets on stdout when first imported:
    the greeting would corrupt CLI output. Hidden here rather than by setting
    PYGAME_HIDE_SUPPORT_PROMPT in the process's environment."""
    return contextlib.redirect_stdout(io.StringIO())


def _check_picture(path: Path) -> None:
    """Raise OSError unless ``path`` is a whole picture: on a full disk pygame may write an
    empty or torn file and say nothing."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            picture.verify()
    except (OSError, SyntaxError, ValueError) as exc:
        raise OSError(f"{path.name} came out unreadable ({exc}); is the disk full?") from exc


class EmulatedDisplay(BaseDisplay):
    """Draws states into PNG files or one animated GIF at ``scale`` x the panel size.

    ``fmt="png"``: ``path`` is a file template (``"shot_{0:04}.png"``, numbered from 1),
    a folder (frames go to ``frame_000001.png`` ...), or a plain ``.png`` file that each
    frame overwrites. ``fmt="gif"``: ``path`` is the GIF written at ``close()``.
    ``transform="identity"`` keeps hard square pixels (the OLED look); luma's
    ``"scale2x"`` / ``"led_matrix"`` also work. A frame is drawn only when it changed.
    A GIF frame lasts ``frame_duration_s``, or with ``None`` as long as it was on screen
    (by ``clock``), so the GIF of a run plays in real time.

    A PNG is written to a hidden ``.<name>.partial.png`` beside it, read back, and then
    renamed into place, so a reader (a web page showing the screen) never sees half a file,
    and a full disk keeps the last whole picture instead of leaving an empty one.
    ``folder=True`` says ``path`` must be a folder (it was one at start-up): when it is gone,
    drawing fails (``display lost``, retried) instead of writing a file in its place;
    ``None`` decides by what ``path`` is now.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fmt: str = "png",
        width: int = 128,
        height: int = 64,
        scale: int = 2,
        transform: str = "identity",
        frame_duration_s: float | None = 0.1,
        folder: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if fmt not in FORMATS:
            raise ConfigError(f"display.format {fmt!r} is not 'png' or 'gif'", key="display.format")
        try:
            import luma.emulator.device as emu
        except ImportError as exc:
            raise DisplayError(
                f"emulated display: luma.emulator is not installed ({exc}); "
                "install it with `pip install luma.emulator` (it brings pygame)"
            ) from exc
        path = Path(path)
        self.size: tuple[int, int] = (width, height)
        self.path = path
        self.fmt = fmt
        common: dict[str, Any] = dict(
            width=width, height=height, mode="1", transform=transform, scale=scale
        )
        try:
            if fmt == "png":
                template = str(path)
                if folder and not path.is_dir():
                    raise DisplayError(f"emulated display: folder {path} is gone; make it "
                                       "again (or set display.path)")
                if path.is_dir():
                    template = str(path / "frame_{0:06}.png")
                self._template = template
                first = Path(template.format(1))
                self._partial = first.with_name(f".{first.stem}.partial.png")
                # luma formats its template with a frame number: escape any braces in ours
                partial = str(self._partial).replace("{", "{{").replace("}", "}}")
                with _quiet_stdout():
                    self._device = emu.capture(file_template=partial, **common)
            else:
                with _quiet_stdout():
                    self._device = emu.gifanim(
                        filename=str(path), duration=frame_duration_s or 0.1, **common
                    )
                # We write the GIF in close(); don't let luma write it again at exit.
                atexit.unregister(self._device.write_animation)
        except (RuntimeError, ValueError, AttributeError) as exc:
            raise DisplayError(
                f"emulated display for {path}: luma.emulator failed ({exc}); "
                "check that pygame is installed and the transform name is valid"
            ) from exc
        self._real_time = frame_duration_s is None and self.fmt == "gif"  # GIF frames timed
        self._clock = clock
        self._shown_at: list[float] = []  # when each GIF frame went up (real-time GIFs)
        self._last_frame: bytes | None = None
        self._dimmed = False
        self._closed = False
        self.frames = 0
        self.gif_full = False  # the GIF reached MAX_GIF_FRAMES

    def show(self, state: DisplayState) -> None:
        """Render ``state`` and write it as a frame if the picture or brightness changed."""
        if self._closed:
            raise DisplayError(f"emulated display for {self.path} is closed; open a new one")
        image = render(state, self.size)
        dim = state.dim and not state.blank
        frame = image.tobytes()
        if frame == self._last_frame and dim == self._dimmed:
            return
        if self.fmt == "gif" and self.frames >= MAX_GIF_FRAMES:
            # about 100 kB a frame held in memory: a long run would grow without bound
            if not self.gif_full:
                self.gif_full = True
                log.warning("emulated display: %s holds %d frames, the most kept in memory; "
                            "later pictures are not recorded (give display.path a folder "
                            "for long runs)", self.path, MAX_GIF_FRAMES)
            return
        try:
            # contrast() re-displays the last image, so set it before drawing the new one.
            self._device._contrast = (DIM_CONTRAST if dim else 0xFF) / 255.0
            self._device.display(image)
            if self.fmt == "png":
                _check_picture(self._partial)
                os.replace(self._partial, self._template.format(self.frames + 1))
        except Exception as exc:
            # luma.emulator writes through pygame, whose pygame.error is no OSError: a path
            # that became a folder, or a full disk, must be "display lost" (retried), not a
            # rendering bug logged five times a minute
            if not isinstance(exc, OSError) and type(exc).__module__.split(".")[0] != "pygame":
                raise
            if self.fmt == "png":  # a torn partial file is no use to anyone
                with contextlib.suppress(OSError):
                    self._partial.unlink(missing_ok=True)
            raise DisplayError(f"emulated display: cannot write {self.path} ({exc})") from exc
        self._last_frame, self._dimmed = frame, dim
        self.frames += 1
        if self._real_time:
            self._shown_at.append(self._clock())

    def clear(self) -> None:
        """Forget the last frame, so the next ``show`` draws even an identical picture."""
        self._last_frame = None

    def close(self) -> None:
        """Write the GIF (gif format); safe twice."""
        if self._closed:
            return
        self._closed = True
        if self.fmt == "gif":
            if self._real_time and self._shown_at:
                # luma's gifanim hands its duration to Pillow, which takes one per frame
                self._device._images, self._device._duration = merge_repeats(
                    self._device._images, gif_durations_ms(self._shown_at, self._clock()))
            try:
                self._device.write_animation()
            except (OSError, ValueError, OverflowError) as exc:
                raise DisplayError(f"emulated display: cannot write {self.path} ({exc})") from exc
