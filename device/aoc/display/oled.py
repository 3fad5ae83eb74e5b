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
from collections.abc import Callable
from typing import Any

from PIL import Image

from aoc.config_sections import OLED_DRIVERS
from aoc.display.base import BaseDisplay
from aoc.display.partial import FULL_REFRESH_S, PartialUpdater, UpdateReport, supports_partial
from aoc.display.render import render
from aoc.display.state import DisplayState
from aoc.errors import ConfigError, DisplayError

log = logging.getLogger(__name__)

INTERFACES = ("i2c", "spi")
DEFAULT_CONTRAST = 0xCF  # luma's power-on value for the SSD1306
DIM_CONTRAST = 0x10

_ENABLE_I2C = "enable I2C with `sudo raspi-config nonint do_i2c 0` and reboot"
_ENABLE_SPI = "enable SPI with `sudo raspi-config nonint do_spi 0` and reboot"


class OledDisplay(BaseDisplay):
    """A small monochrome OLED driven by luma.oled.

    Pass ``device=`` (e.g. ``luma.core.device.dummy(mode="1")``) to skip opening a bus;
    ``i2c_bus=`` hands luma an SMBus-like object instead of opening ``/dev/i2c-<port>``.
    ``persist=True`` (luma's ``device.persist``) leaves the last picture lit at ``close()``
    and at interpreter exit, for a message that must outlive the process.
    ``partial=True`` sends only changed windows to an ssd1306-family panel, with a full
    frame every ``full_refresh_s`` seconds (0 = only on :meth:`refresh`); other drivers
    (sh1106) and other devices always get whole frames.
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
        self._contrast = contrast
        self._dim_contrast = dim_contrast
        self.renderer = renderer
        if device is None:
            device = _open_device(
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
        self._dimmed = False
        self._blanked = False
        self._closed = False
        self.frames_sent = 0
        self._updater = (PartialUpdater(device, full_refresh_s=full_refresh_s)
                         if partial and supports_partial(device) else None)
        self.last_update: UpdateReport | None = None  # what the last partial frame sent
        try:
            self._guard(lambda: device.contrast(contrast))
        except DisplayError:
            self._closed = True
            _release(device, self.where)  # else the bus stays open until the process ends
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
        self._last_frame = None  # unknown until sent
        updater = self._updater
        if updater is not None:
            def send() -> None:
                self.last_update = updater.display(image)
            self._guard(send)
        else:
            self._guard(lambda: self._device.display(image))
        self._last_frame = frame
        self.frames_sent += 1
        return True

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
        self._guard(self._device.clear)
        if self._updater is not None:
            self._updater.assume_blank()
        self._last_frame = None
        self.blank(True)

    def close(self) -> None:
        """Switch the panel off (unless ``persist``) and release the bus; safe twice, never
        raises."""
        if self._closed:
            return
        self._closed = True
        _release(self._device, self.where)

    def _guard(self, action: Callable[[], object]) -> None:
        """Run a luma call, turning bus failures into a DisplayError that says what to do."""
        try:
            action()
        except DisplayError:
            raise
        except Exception as exc:
            if isinstance(exc, OSError) or type(exc).__module__.startswith("luma."):
                raise DisplayError(
                    f"OLED {self.driver} on {self.where} stopped answering ({exc}); "
                    f"check the wiring and power{self._probe}"
                ) from exc
            raise


def _release(device: Any, where: str) -> None:
    """luma's ``cleanup()`` (panel off unless ``persist``, then the bus closed), and the bus
    closed even when a dead panel fails the first half; never raises."""
    try:
        device.cleanup()
        return
    except Exception as exc:  # noqa: BLE001 - closing must not fail; the panel may be gone
        log.warning("OLED on %s: cleanup failed: %s", where, exc)
    # luma switches the panel off before it closes the bus, so a dead panel leaves the
    # bus (a /dev/i2c-N file handle) open: once per display-lost event, for months
    port = getattr(device, "_serial_interface", None)
    try:
        if port is not None:
            port.cleanup()
    except Exception as exc:  # noqa: BLE001 - as above
        log.warning("OLED on %s: closing the bus failed: %s", where, exc)


def _open_device(
    driver: str,
    *,
    width: int,
    height: int,
    interface: str,
    i2c_port: int,
    i2c_address: int,
    spi_port: int,
    spi_device: int,
    gpio_dc: int,
    gpio_rst: int,
    rotate: int,
    i2c_bus: Any | None,
    where: str,
) -> Any:
    """Build luma's serial interface and device, translating its errors."""
    try:
        import luma.core.error as luma_error
        import luma.oled.device as luma_oled
        from luma.core.interface import serial as luma_serial
    except ImportError as exc:
        raise DisplayError(
            f"OLED {driver}: luma.oled is not installed ({exc}); "
            "install it with `pip install 'anime-or-cartoon[device]'` "
            "or use the terminal display"
        ) from exc
    try:
        if interface == "i2c":
            port = luma_serial.i2c(bus=i2c_bus, port=i2c_port, address=i2c_address)
        else:
            port = luma_serial.spi(port=spi_port, device=spi_device, gpio_DC=gpio_dc,
                                   gpio_RST=gpio_rst)
    except luma_error.DevicePermissionError as exc:
        raise DisplayError(
            f"OLED {driver}: permission denied on {where} ({exc}); add the user to the "
            "i2c/spi and gpio groups (`sudo adduser $USER i2c`) and log in again"
        ) from exc
    except (luma_error.Error, OSError, ImportError) as exc:
        fix = _ENABLE_I2C if interface == "i2c" else _ENABLE_SPI
        raise DisplayError(f"OLED {driver}: cannot open {where} ({exc}); {fix}") from exc
    try:
        if interface == "i2c":
            # a panel that does not answer must fail before luma builds a device: luma
            # registers every device with atexit first, so each failed reopen of a
            # missing panel (every retry_interval_s) would keep about 300 KB for good.
            # 0xAE (display off) is the first command of every supported driver's init.
            port.command(0xAE)
        return getattr(luma_oled, driver)(port, width=width, height=height, rotate=rotate)
    except luma_error.DeviceDisplayModeError as exc:
        port.cleanup()
        raise ConfigError(
            f"display size {width}x{height} is not supported by {driver} ({exc}); "
            "use 128x64 or 128x32",
            key="display.height",
        ) from exc
    except (luma_error.Error, OSError) as exc:
        port.cleanup()
        hint = (
            f"run `i2cdetect -y {i2c_port}` and check the wiring (SDA GPIO2, SCL GPIO3, 3V3, "
            "GND) and the address (0x3C or 0x3D, set by a jumper on the board)"
            if interface == "i2c"
            else "check the wiring (MOSI, SCLK, CE, DC, RST) and " + _ENABLE_SPI
        )
        raise DisplayError(f"OLED {driver}: no display answered on {where} ({exc}); {hint}") \
            from exc
