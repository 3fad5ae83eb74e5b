"""Front-panel buttons and the status LED, through gpiozero (imported lazily).

Buttons wire a GPIO to ground (gpiozero's default pull-up). The power button tells a
press from a hold: a hold of ``hold_time_s`` calls ``on_shutdown`` once, and its release
does not also count as a press; a shorter press calls ``on_power_press``.

Without GPIO (gpiozero missing, or no pin factory off a Raspberry Pi) :class:`Controls`
raises :class:`ControlsError`; :func:`open_controls` turns that into one warning and a
:class:`NullControls`, so the appliance runs without buttons. The app uses
:func:`open_controls` and reports "controls disabled: <reason>".

GPIO3 is the pin that wakes a halted Pi, but it is also I2C SCL: with an I2C OLED on bus 1
no button or LED can use GPIO2 or GPIO3 through gpiozero. Pass ``i2c_in_use=True`` and
every pin is checked; the power button defaults to 26 in ``[controls]``, and a
GPIO3-to-ground button can still be wired for wake-from-halt alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from aoc.errors import ControlsError
from aoc.resource import Closing

log = logging.getLogger(__name__)

Callback = Callable[[], None]
STATUSES = ("off", "starting", "running", "fault")
_BLINK = {"starting": (0.5, 0.5), "fault": (0.1, 0.4)}
_I2C_PINS = (2, 3)


def _safe(callback: Callback | None, what: str) -> Callback:
    """Wrap a user callback so an exception in it cannot kill gpiozero's event thread."""

    def run() -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:  # noqa: BLE001 - logged with traceback; the buttons must keep working
            log.exception("%s handler failed", what)

    return run


class Controls(Closing):
    """Freeze and view buttons, a power button (press vs hold) and a status LED."""

    def __init__(
        self,
        *,
        freeze_pin: int | None = 17,
        view_pin: int | None = 27,
        power_pin: int | None = 3,
        led_pin: int | None = 22,
        hold_time_s: float = 3.0,
        bounce_time_s: float | None = 0.05,
        on_freeze: Callback | None = None,
        on_view: Callback | None = None,
        on_shutdown: Callback | None = None,
        on_power_press: Callback | None = None,
        i2c_in_use: bool = False,
        pin_factory: Any | None = None,
    ) -> None:
        if not hold_time_s > 0:
            raise ControlsError(
                f"controls.hold_time_s {hold_time_s} must be above 0 (3 s keeps a brush "
                "against the power button from halting the Pi)"
            )
        if i2c_in_use:
            # claiming GPIO2/3 as a plain input switches them away from I2C: the OLED stops
            for key, number in (("freeze_pin", freeze_pin), ("view_pin", view_pin),
                                ("power_pin", power_pin), ("led_pin", led_pin)):
                if number in _I2C_PINS:
                    raise ControlsError(
                        f"controls.{key} GPIO{number} clashes with the I2C display (GPIO2/3 "
                        "are SDA/SCL); set it to a free pin such as 26 (power), 17, 27 or 22"
                    )
        try:
            from gpiozero import LED, Button
            from gpiozero.exc import BadPinFactory, GPIOZeroError
        except ImportError as exc:
            raise ControlsError(
                f"buttons/LED: gpiozero is not installed ({exc}); "
                "install it with `pip install gpiozero` (and `sudo apt install python3-lgpio`)"
            ) from exc
        self._devices: list[Any] = []
        self._held = False
        self._lock = threading.Lock()
        self._on_shutdown = _safe(on_shutdown, "shutdown")
        self._on_power_press = _safe(on_power_press, "power press")
        self.freeze_button = self.view_button = self.power_button = None
        self.led = None
        self.status = "off"
        self._closed = False
        pin = None
        try:
            if freeze_pin is not None:
                pin = freeze_pin
                self.freeze_button = self._add(Button(
                    freeze_pin, bounce_time=bounce_time_s, pin_factory=pin_factory))
                self.freeze_button.when_pressed = _safe(on_freeze, "freeze")
            if view_pin is not None:
                pin = view_pin
                self.view_button = self._add(Button(
                    view_pin, bounce_time=bounce_time_s, pin_factory=pin_factory))
                self.view_button.when_pressed = _safe(on_view, "view")
            if power_pin is not None:
                pin = power_pin
                self.power_button = self._add(Button(
                    power_pin, bounce_time=bounce_time_s, hold_time=hold_time_s,
                    pin_factory=pin_factory))
                self.power_button.when_pressed = self._power_pressed
                self.power_button.when_held = self._power_held
                self.power_button.when_released = self._power_released
            if led_pin is not None:
                pin = led_pin
                self.led = self._add(LED(led_pin, pin_factory=pin_factory))
        except BadPinFactory as exc:
            self.close()
            raise ControlsError(
                f"buttons/LED: no GPIO access ({exc}); not a Raspberry Pi, or lgpio missing "
                "(`sudo apt install python3-lgpio`)"
            ) from exc
        except GPIOZeroError as exc:
            self.close()
            raise ControlsError(
                f"buttons/LED: cannot use GPIO{pin} ({exc}); pick a free pin in "
                "[controls] or stop the program holding it"
            ) from exc
        except Exception as exc:  # noqa: BLE001 - pin factories raise their own types
            # lgpio's factory lets ``lgpio.error: 'GPIO busy'`` through (a dtoverlay such as
            # gpio-shutdown, or another process, owns the pin): release what was claimed and
            # run without buttons, as for any other GPIO refusal
            self.close()
            raise ControlsError(
                f"buttons/LED: cannot claim GPIO{pin} ({type(exc).__name__}: {exc}); another "
                "program or a dtoverlay holds it (see `gpioinfo`): free it or pick another "
                "pin in [controls]"
            ) from exc

    def _add(self, device: Any) -> Any:
        self._devices.append(device)
        return device

    # -- power button: press vs hold ---------------------------------------------------
    def _power_pressed(self) -> None:
        with self._lock:
            self._held = False

    def _power_held(self) -> None:
        with self._lock:
            if self._held:
                return
            self._held = True
        log.warning("power button held: shutting down")
        self._on_shutdown()

    def _power_released(self) -> None:
        with self._lock:
            was_held, self._held = self._held, False
        if not was_held:
            self._on_power_press()

    # -- LED ---------------------------------------------------------------------------
    def set_status(self, status: str) -> None:
        """LED: ``starting``/``fault`` blink (slow/fast), ``running`` on, ``off`` off."""
        if status not in STATUSES:
            raise ControlsError(f"LED status {status!r} is not one of {', '.join(STATUSES)}")
        self.status = status
        if self.led is None or self._closed:
            return
        if status in _BLINK:
            on_s, off_s = _BLINK[status]
            self.led.blink(on_time=on_s, off_time=off_s)
        elif status == "running":
            self.led.on()
        else:
            self.led.off()

    def close(self) -> None:
        """LED off, pins released; safe twice."""
        if self._closed:
            return
        self._closed = True
        if self.led is not None:
            self.led.off()
        for device in reversed(self._devices):
            device.close()
        self._devices.clear()



class NullControls(Closing):
    """No buttons, no LED: what runs when GPIO is unavailable."""

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        self.status = "off"

    def set_status(self, status: str) -> None:
        """Remember the status (nothing to light)."""
        self.status = status

    def close(self) -> None:
        """Nothing to release."""


def open_controls(**options: Any) -> Controls | NullControls:
    """:class:`Controls` with ``options``, or :class:`NullControls` after one warning."""
    try:
        return Controls(**options)
    except ControlsError as exc:
        log.warning("controls disabled: %s", exc)
        return NullControls(str(exc))
