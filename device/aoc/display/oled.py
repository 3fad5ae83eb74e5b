"""SSD1306 / SH1106 / SSD1309 OLED over I2C or SPI, through luma.oled (imported lazily).

luma sends the whole frame on every ``display()`` (about 23 ms for 128x64 at 400 kHz),
so :class:`OledDisplay` only sends a frame whose pixels changed, and on the ssd1306 family
(ssd1306, ssd1309) only the windows of panel memory that changed
(:class:`aoc.display.partial.PartialUpdater`: typically under 100 bytes instead of 1,030),
with a full frame every ``full_refresh_s`` seconds and on :meth:`OledDisplay.refresh`.
It only sends contrast / on-off commands when dim or blank change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from aoc.config_sections import OLED_DRIVERS
from aoc.display.base import BaseDisplay
from aoc.display.luma_device import open_device, release
from aoc.display.partial import FULL_REFRESH_S, PartialUpdater, UpdateReport, supports_partial
from aoc.display.render import render
from aoc.display.state import DisplayState
from aoc.errors import ConfigError, DisplayError

log = logging.getLogger(__name__)

INTERFACES = ("i2c", "spi")
DEFAULT_CONTRAST = 0xCF  # luma's power-on value for the SSD1306
DIM_CONTRAST = 0x10
_PANEL_LIBS = frozenset({"luma", "RPi", "lgpio", "spidev", "smbus2"})


class OledDisplay(BaseDisplay):
    """A small monochrome OLED driven by luma.oled.

    Pass ``device=`` (e.g. ``luma.core.device.dummy(mode="1")``) to skip opening a bus;
    ``i2c_bus=`` hands luma an SMBus-like object instead of opening ``/dev/i2c-<port>``.
    ``persist=True`` (luma's ``device.persist``) leaves the last picture lit at ``close()``
    and at interpreter exit, for a message that must outlive the process.
    ``partial=True`` sends only changed windows to an ssd1306-family panel, with a full
    frame every ``full_refresh_s`` seconds by ``clock`` (0 = only on :meth:`refresh`),
    also on an unchanged picture (:meth:`maintain`); other drivers (sh1106) and other
    devices always get whole frames.
    Opening errors become :class:`DisplayError` naming the bus, the address and the fix.
    """

    def __init__(
        self,
        driver: str = "ssd1306",
        *,
        width: int = 128,
        height: int = 64,
        interface: str = "i2c",
        i2c_port: int = 1,
        i2c_address: int = 0x3C,
        spi_port: int = 0,
        spi_device: int = 0,
        gpio_dc: int = 24,
        gpio_rst: int = 25,
        rotate: int = 0,
        contrast: int = DEFAULT_CONTRAST,
        dim_contrast: int = DIM_CONTRAST,
        device: Any | None = None,
        i2c_bus: Any | None = None,
        renderer: Callable[..., Image.Image] = render,
        persist: bool = False,
        partial: bool = True,
        full_refresh_s: float = FULL_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if driver not in OLED_DRIVERS:
            raise ConfigError(
                f"display.driver {driver!r} is not supported; "
                f"use one of {', '.join(OLED_DRIVERS)}",
                key="display.driver",
            )
        if interface not in INTERFACES:
            raise ConfigError(
                f"display.interface {interface!r} is not supported; use 'i2c' or 'spi'",
                key="display.interface",
            )
        for key, level in (("display.contrast", contrast), ("display.dim_contrast", dim_contrast)):
            if not 0 <= level <= 255:
                raise ConfigError(f"{key} {level} is out of range; use 0..255", key=key)
        self.driver = driver
        self.where = (
            f"I2C bus {i2c_port} (/dev/i2c-{i2c_port}) address 0x{i2c_address:02X}"
            if interface == "i2c"
            else f"SPI {spi_port}.{spi_device} (DC GPIO{gpio_dc}, RST GPIO{gpio_rst})"
        )
        self._probe = f", then `i2cdetect -y {i2c_port}`" if interface == "i2c" else ""
        self._interface = interface
        self._contrast = contrast
        self._dim_contrast = dim_contrast
        self.renderer = renderer
        if device is None:
            device = open_device(
                driver, width=width, height=height, interface=interface, i2c_port=i2c_port,
                i2c_address=i2c_address, spi_port=spi_port, spi_device=spi_device,
                gpio_dc=gpio_dc, gpio_rst=gpio_rst, rotate=rotate, i2c_bus=i2c_bus,
                where=self.where,
            )
        # luma switches the panel off and clears it at cleanup (and at exit) unless told
        # to persist.
        device.persist = persist
        self.persist = persist
        self._device = device
        self.size: tuple[int, int] = (int(device.width), int(device.height))
        self._last_frame: bytes | None = None
        self._last_image: Image.Image | None = None  # what maintain() sends again
        self._dimmed = False
        self._blanked = False
        self._closed = False
        self.frames_sent = 0
        self._full_refresh_s = full_refresh_s
        self._clock = clock
        self._last_full = float("-inf")  # luma's own driver: when a whole frame last went
        self._updater = (PartialUpdater(device, full_refresh_s=full_refresh_s, clock=clock)
                         if partial and supports_partial(device) else None)
        self.last_update: UpdateReport | None = None  # what the last partial frame sent
        try:
            self._guard(lambda: device.contrast(contrast))
        except DisplayError:
            self._closed = True
            release(device, self.where)  # else the bus stays open until the process ends
            raise

    # -- drawing -----------------------------------------------------------------------
    def show(self, state: DisplayState) -> None:
        """Draw ``state``; sends a frame only when its pixels changed."""
        self.show_rendered(state, None)

    def show_rendered(self, state: DisplayState, image: Image.Image | None) -> None:
        """Draw ``state`` whose picture ``image`` was already rendered by :attr:`renderer`
        (e.g. by :class:`~aoc.display.threaded.ThreadedDisplay`, so a frame renders once);
        ``None`` renders it here."""
        if state.blank:
            self.blank(True)
            return
        self.dim(state.dim)
        # waking from blank: the new picture first, then the panel on, so the frame from
        # before blanking (up to half an hour old) does not flash for one transfer
        self.show_image(image if image is not None else self.renderer(state, self.size))
        self.blank(False)

    def show_image(self, image: Image.Image) -> bool:
        """Send ``image`` (mode "1", panel size) unless it equals the last frame sent.

        Returns whether a frame was sent.
        """
        if self._closed:
            raise DisplayError(f"OLED {self.driver} on {self.where} is closed; open a new one")
        frame = image.tobytes()
        if frame == self._last_frame:
            return False
        self._last_frame = self._last_image = None  # unknown until sent
        self._send(image)
        self._last_frame, self._last_image = frame, image
        return True

    def _send(self, image: Image.Image) -> None:
        """``image`` to the panel: changed windows (a whole frame when due) through the
        partial driver, else a whole frame through luma's own."""
        def send() -> None:
            if self._updater is not None:
                self.last_update = self._updater.display(image)
            else:
                self._device.display(image)
                self._last_full = self._clock()
        self._guard(send)
        self.frames_sent += 1

    def maintain(self) -> float | None:
        """Send the picture shown again, whole, when its full refresh is due: a screen
        that does not change (a frozen or fault screen, shift off) is otherwise never
        refreshed, and a corrupted panel memory would stay. Returns the seconds until the
        next is due, ``None`` when none is (no picture yet, or full refresh off)."""
        image = self._last_image
        if image is None or self._closed:
            return None
        updater = self._updater
        if updater is not None:
            wait = updater.refresh_in()
        elif self._full_refresh_s > 0:  # luma's own driver: whole frames, timed here
            wait = max(0.0, self._last_full + self._full_refresh_s - self._clock())
        else:
            wait = None
        if wait is None or wait > 0:
            return wait
        self._send(image)
        return updater.refresh_in() if updater is not None else self._full_refresh_s

    def refresh(self) -> None:
        """Send the whole frame with the next picture (guards against a corrupted panel)."""
        self._last_frame = None
        if self._updater is not None:
            self._updater.refresh()

    # -- panel controls ----------------------------------------------------------------
    def dim(self, on: bool) -> None:
        """Lower the contrast (burn-in care) or restore it."""
        if on == self._dimmed:
            return
        level = self._dim_contrast if on else self._contrast
        self._guard(lambda: self._device.contrast(level))
        self._dimmed = on

    def blank(self, on: bool) -> None:
        """Switch the panel off (keeping its memory) or back on."""
        if on == self._blanked:
            return
        self._guard(self._device.hide if on else self._device.show)
        self._blanked = on

    def clear(self) -> None:
        """Clear the picture and switch the panel off; the next ``show`` switches it on."""
        if self._closed:
            return
        if self._updater is not None:
            self._updater.refresh()  # unknown if the clear fails half-way
        self._last_frame = self._last_image = None  # nothing to refresh until a new picture
        self._guard(self._device.clear)
        if self._updater is not None:
            self._updater.assume_blank()
        self.blank(True)

    def close(self) -> None:
        """Switch the panel off (unless ``persist``) and release the bus; safe twice, never
        raises."""
        if self._closed:
            return
        self._closed = True
        release(self._device, self.where)

    def _guard(self, action: Callable[[], object]) -> None:
        """Run a luma call, turning bus failures into a DisplayError that says what to do."""
        try:
            action()
        except DisplayError:
            raise
        except Exception as exc:
            # luma's own errors, and those of the GPIO library it drives SPI's DC and RST
            # pins with on every command and data transfer (lgpio's error; RPi.GPIO and
            # rpi-lgpio raise the builtin RuntimeError): the panel is gone
            if (isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in _PANEL_LIBS
                    or (self._interface == "spi" and type(exc) is RuntimeError)):
                raise DisplayError(
                    f"OLED {self.driver} on {self.where} stopped answering ({exc}); "
                    f"check the wiring and power{self._probe}"
                ) from exc
            raise
