"""Send an SSD1306-family OLED only the bytes that changed.

luma's ``ssd1306.display()`` sends the whole 1,024-byte frame (about 23 ms over I2C at
400 kHz) for every picture. The panel's memory (GDDRAM) is ``pages`` rows of ``width``
bytes; byte ``(page, x)`` holds pixels ``(x, 8 * page + bit)``. :class:`PartialUpdater`
keeps a copy of what the panel holds, finds the windows (a page range by a column range)
whose bytes differ from the new picture, and for each one sets the panel's column and
page window (``COLUMNADDR``, ``PAGEADDR``: 6 command bytes) and sends that window's bytes
in horizontal addressing mode, which luma's ssd1306 init selects. A full frame is still
sent first, every ``full_refresh_s`` seconds (guards against a corrupted panel memory)
and on :meth:`PartialUpdater.refresh`.

The functions are pure over ``numpy`` arrays; :class:`RecordingSerial` is a luma-style
serial interface that records what would go over the wire (benchmarks and tests), and
:func:`i2c_time_ms` what that costs on an I2C bus.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

COLUMNADDR = 0x21
PAGEADDR = 0x22
WINDOW_COMMAND_BYTES = 6  # COLUMNADDR c0 c1 PAGEADDR p0 p1
# Starting a new window costs its command bytes plus two I2C transactions' address and
# control bytes; a gap of unchanged columns shorter than this is cheaper to resend.
WINDOW_OVERHEAD_BYTES = WINDOW_COMMAND_BYTES + 4
FULL_REFRESH_S = 300.0


class Window(NamedTuple):
    """Pages ``page0 .. page1 - 1`` by columns ``col0 .. col1 - 1`` of panel memory."""

    page0: int
    page1: int
    col0: int
    col1: int

    @property
    def size(self) -> int:
        """Data bytes in the window."""
        return (self.page1 - self.page0) * (self.col1 - self.col0)


def pack_pages(image: Image.Image) -> np.ndarray:
    """A mode "1" image as SSD1306 memory: ``(height // 8, width)`` uint8, bit k = row 8p+k."""
    pixels = np.asarray(image.convert("1"), dtype=bool)
    height, width = pixels.shape
    rows = pixels.reshape(height // 8, 8, width).astype(np.uint8)
    weights = (1 << np.arange(8, dtype=np.uint8)).reshape(1, 8, 1)
    return (rows * weights).sum(axis=1, dtype=np.uint8)


def column_runs(changed: np.ndarray, *, gap: int = WINDOW_OVERHEAD_BYTES) -> list[tuple[int, int]]:
    """``(start, end)`` runs of True in a 1-D mask, joined across gaps shorter than ``gap``."""
    idx = np.flatnonzero(changed)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > gap)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]])) + 1
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def changed_windows(
    old: np.ndarray, new: np.ndarray, *, overhead: int = WINDOW_OVERHEAD_BYTES
) -> list[Window]:
    """The windows covering every byte where ``old`` and ``new`` page memories differ.

    Runs within a page are joined across short gaps; a run is merged with a window from
    the page above when that costs fewer bytes than a window of its own.
    """
    diff = old != new
    windows: list[Window] = []
    open_: list[Window] = []  # windows ending at the previous page, extendable downwards
    for page in range(diff.shape[0]):
        still_open: list[Window] = []
        for col0, col1 in column_runs(diff[page], gap=overhead):
            run = Window(page, page + 1, col0, col1)
            best, best_cost = None, run.size + overhead
            for w in open_:
                union = Window(w.page0, page + 1, min(w.col0, col0), max(w.col1, col1))
                extra = union.size - w.size
                if extra < best_cost:
                    best, best_cost = w, extra
            if best is None:
                still_open.append(run)
                continue
            open_.remove(best)
            still_open.append(Window(best.page0, page + 1, min(best.col0, col0),
                                     max(best.col1, col1)))
        windows.extend(open_)  # not extended to this page: closed
        open_ = still_open
    windows.extend(open_)
    return sorted(windows)


@dataclass
class UpdateReport:
    """What one :meth:`PartialUpdater.display` sent."""

    full: bool
    windows: int
    command_bytes: int
    data_bytes: int

    @property
    def bytes(self) -> int:
        """Command plus data bytes handed to the serial interface."""
        return self.command_bytes + self.data_bytes


class RecordingSerial:
    """A luma serial interface that records ``("command" | "data", bytes)`` transfers."""

    def __init__(self) -> None:
        self.transfers: list[tuple[str, bytes]] = []

    def command(self, *cmd: int) -> None:
        """Record a command transaction."""
        self.transfers.append(("command", bytes(cmd)))

    def data(self, data: Sequence[int]) -> None:
        """Record a data transaction."""
        self.transfers.append(("data", bytes(data)))

    def cleanup(self) -> None:
        """Nothing to release."""

    def take(self) -> list[tuple[str, bytes]]:
        """The transfers recorded since the last ``take``."""
        out, self.transfers = self.transfers, []
        return out


def i2c_time_ms(transfers: Sequence[tuple[str, bytes]], hz: float) -> float:
    """Time on an I2C bus at ``hz``: per transaction START, address and control bytes,
    the payload and STOP, 9 clocks per byte (smbus2's managed luma bus: one
    transaction per ``data()`` call)."""
    clocks = sum(9 * (2 + len(payload)) + 2 for _, payload in transfers)
    return clocks / hz * 1e3


def supports_partial(device: Any) -> bool:
    """True for luma's ssd1306 family (ssd1306, ssd1309, ...) in horizontal addressing mode."""
    try:
        from luma.oled.device import ssd1306
    except ImportError:
        return False
    return isinstance(device, ssd1306) and device.mode == "1"


class PartialUpdater:
    """Drives a luma ssd1306-family ``device`` with changed windows only.

    ``display(image)`` takes the same mode "1", panel-size image as luma's ``display``.
    ``clock`` (seconds) times the full refresh every ``full_refresh_s`` (0 = never).
    """

    def __init__(
        self, device: Any, *, full_refresh_s: float = FULL_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._device = device
        self._full_refresh_s = full_refresh_s
        self._clock = clock
        self._colstart = int(getattr(device, "_colstart", 0))
        self._shown: np.ndarray | None = None  # what the panel holds, None = unknown
        self._last_full = float("-inf")
        self.full_updates = 0
        self.partial_updates = 0

    def refresh(self) -> None:
        """Send the whole frame next time (panel memory no longer trusted)."""
        self._shown = None

    def refresh_in(self) -> float | None:
        """Seconds until the next :meth:`display` sends a full frame on its own: 0 when the
        panel memory is unknown (after a failed transfer or :meth:`refresh`), ``None``
        when no full frame is scheduled (``full_refresh_s`` 0)."""
        if self._shown is None:
            return 0.0
        if self._full_refresh_s <= 0:
            return None
        return max(0.0, self._last_full + self._full_refresh_s - self._clock())

    def assume_blank(self) -> None:
        """The panel was just cleared through luma (all bytes zero)."""
        width = int(getattr(self._device, "_w", self._device.width))
        height = int(getattr(self._device, "_h", self._device.height))
        self._shown = np.zeros((height // 8, width), np.uint8)

    def display(self, image: Image.Image) -> UpdateReport:
        """Send what differs between ``image`` and the panel; returns what was sent."""
        pages = pack_pages(self._device.preprocess(image))
        now = self._clock()
        due = self._full_refresh_s > 0 and now - self._last_full >= self._full_refresh_s
        if self._shown is None or due or self._shown.shape != pages.shape:
            windows = [Window(0, pages.shape[0], 0, pages.shape[1])]
            full = True
        else:
            windows = changed_windows(self._shown, pages)
            full = False
        self._shown = None  # unknown until every window is out (a bus error leaves it so)
        command = data = 0
        for w in windows:
            self._device.command(COLUMNADDR, self._colstart + w.col0, self._colstart + w.col1 - 1,
                                 PAGEADDR, w.page0, w.page1 - 1)
            self._device.data(pages[w.page0:w.page1, w.col0:w.col1].tobytes())
            command += WINDOW_COMMAND_BYTES
            data += w.size
        self._shown = pages
        if full:
            self._last_full = now
            self.full_updates += 1
        else:
            self.partial_updates += 1
        return UpdateReport(full=full, windows=len(windows), command_bytes=command,
                            data_bytes=data)
