"""Opening and releasing luma.oled's device: the bus edge of :mod:`aoc.display.oled`.

luma (imported here, lazily) builds an I2C or SPI serial interface and a device on it; its
errors become :class:`~aoc.errors.DisplayError` naming the bus and the fix. Releasing closes
the bus even when a dead panel fails luma's own cleanup.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aoc.errors import ConfigError, DisplayError

log = logging.getLogger(__name__)

_ENABLE_I2C = "enable I2C with `sudo raspi-config nonint do_i2c 0` and reboot"
_ENABLE_SPI = "enable SPI with `sudo raspi-config nonint do_spi 0` and reboot"

_EXIT_HOOKS: dict[int, list[Callable[[], None]]] = {}
"""The atexit hooks luma registered for each open device (by ``id``), dropped at
:func:`release`: luma's hook holds its device, so every panel reopened after an I2C error
kept about 330 KB for good."""


@contextmanager
def _exit_hooks_recorded(hooks: list[Callable[[], None]]) -> Iterator[None]:
    """While luma builds a device, record the atexit hooks it registers (still registered:
    the panel is switched off at exit while it is open)."""
    import luma.core.device as luma_core_device

    real = luma_core_device.atexit

    class _Recorder:
        @staticmethod
        def register(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            hooks.append(func)
            return real.register(func, *args, **kwargs)

    luma_core_device.atexit = _Recorder  # type: ignore[assignment]
    try:
        yield
    finally:
        luma_core_device.atexit = real


def _unregister(hooks: list[Callable[[], None]]) -> None:
    for hook in hooks:
        atexit.unregister(hook)


def release(device: Any, where: str) -> None:
    """luma's ``cleanup()`` (panel off unless ``persist``, then the bus closed), and the bus
    closed even when a dead panel fails the first half; never raises. luma's atexit hook for
    the device is dropped, so a closed device can be freed."""
    _unregister(_EXIT_HOOKS.pop(id(device), []))
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


def open_device(
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
    except luma_error.UnsupportedPlatform as exc:
        # luma turns RPi.GPIO's RuntimeError at import or setmode (a Pi 5, no
        # /dev/gpiomem) into UnsupportedPlatform: the GPIO library is the fault, not SPI
        raise DisplayError(_gpio_fault(driver, where, exc)) from exc
    except luma_error.DevicePermissionError as exc:
        raise DisplayError(
            f"OLED {driver}: permission denied on {where} ({exc}); add the user to the "
            "i2c/spi and gpio groups (`sudo adduser $USER i2c`) and log in again"
        ) from exc
    except ImportError as exc:
        # luma.core 2.x installs neither RPi.GPIO nor spidev (smbus2 it does)
        fix = ("install the I2C library luma uses: pip install smbus2" if interface == "i2c"
               else "install the SPI libraries: sudo ./install.sh --spi (python3-spidev, "
               "python3-rpi-lgpio)")
        raise DisplayError(f"OLED {driver}: cannot open {where} ({exc}); {fix}") from exc
    except (luma_error.Error, OSError) as exc:
        fix = _ENABLE_I2C if interface == "i2c" else _ENABLE_SPI
        raise DisplayError(f"OLED {driver}: cannot open {where} ({exc}); {fix}") from exc
    except Exception as exc:
        if interface == "i2c":
            raise
        # luma's spi sets up the DC and RST pins through the GPIO library unguarded: RPi.GPIO
        # raises RuntimeError (on a Pi 5, or without /dev/gpiomem), lgpio its own error
        # ("GPIO busy"); the app must run headless on them, as on any missing panel
        raise DisplayError(_gpio_fault(driver, where, exc)) from exc
    hooks: list[Callable[[], None]] = []
    try:
        if interface == "i2c":
            # a panel that does not answer must fail before luma builds a device: luma
            # registers every device with atexit first, so each failed reopen of a
            # missing panel (every retry_interval_s) would keep about 300 KB for good.
            # 0xAE (display off) is the first command of every supported driver's init.
            port.command(0xAE)
        with _exit_hooks_recorded(hooks):
            device = getattr(luma_oled, driver)(port, width=width, height=height,
                                                rotate=rotate)
        _EXIT_HOOKS[id(device)] = hooks
        return device
    except luma_error.DeviceDisplayModeError as exc:
        _unregister(hooks)
        port.cleanup()
        raise ConfigError(
            f"display size {width}x{height} is not supported by {driver} ({exc}); "
            "use 128x64 or 128x32",
            key="display.height",
        ) from exc
    except (luma_error.Error, OSError) as exc:
        _unregister(hooks)
        port.cleanup()
        hint = (
            f"run `i2cdetect -y {i2c_port}` and check the wiring (SDA GPIO2, SCL GPIO3, 3V3, "
            "GND) and the address (0x3C or 0x3D, set by a jumper on the board)"
            if interface == "i2c"
            else "check the wiring (MOSI, SCLK, CE, DC, RST) and " + _ENABLE_SPI
        )
        raise DisplayError(f"OLED {driver}: no display answered on {where} ({exc}); {hint}") \
            from exc


def _gpio_fault(driver: str, where: str, exc: BaseException) -> str:
    return (f"OLED {driver}: cannot set up the GPIO pins of {where} ({type(exc).__name__}: "
            f"{exc}); check that no other program holds them, that the user is in the gpio "
            "group, and that a GPIO library luma supports is installed (on a Pi 5: "
            "rpi-lgpio, `sudo apt install python3-rpi-lgpio`)")
