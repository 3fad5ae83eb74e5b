"""Controls with gpiozero's MockFactory: buttons, press vs hold, LED, disabled GPIO."""

from __future__ import annotations

import logging
import sys
import threading

import pytest

gpiozero = pytest.importorskip("gpiozero")
from gpiozero import Device  # noqa: E402
from gpiozero.exc import BadPinFactory  # noqa: E402
from gpiozero.pins.mock import MockFactory  # noqa: E402

from aoc.app.controls import Controls, NullControls, open_controls  # noqa: E402
from aoc.errors import ControlsError  # noqa: E402

WAIT = 5.0


@pytest.fixture
def factory():
    saved = Device.pin_factory
    mock = MockFactory()
    yield mock
    mock.reset()
    Device.pin_factory = saved


def _events(*names):
    events = {name: threading.Event() for name in names}
    calls = {name: [] for name in names}

    def make(name):
        def callback():
            calls[name].append(1)
            events[name].set()

        return callback

    return events, calls, {f"on_{name}": make(name) for name in names}


def test_freeze_and_view_buttons(factory):
    events, calls, callbacks = _events("freeze", "view")
    with Controls(pin_factory=factory, bounce_time_s=None, **callbacks):
        factory.pin(17).drive_low()
        assert events["freeze"].wait(WAIT)
        factory.pin(17).drive_high()
        factory.pin(27).drive_low()
        assert events["view"].wait(WAIT)
    assert calls == {"freeze": [1], "view": [1]}


def test_short_power_press_is_not_a_shutdown(factory):
    events, calls, callbacks = _events("shutdown", "power_press")
    with Controls(pin_factory=factory, bounce_time_s=None, hold_time_s=WAIT, **callbacks):
        pin = factory.pin(3)
        pin.drive_low()
        pin.drive_high()
        assert events["power_press"].wait(WAIT)
    assert calls["shutdown"] == [] and calls["power_press"] == [1]


def test_power_hold_shuts_down_once_and_release_is_not_a_press(factory):
    events, calls, callbacks = _events("shutdown", "power_press")
    with Controls(pin_factory=factory, bounce_time_s=None, hold_time_s=0.05,
                  **callbacks) as controls:
        pin = factory.pin(3)
        pin.drive_low()
        assert events["shutdown"].wait(WAIT)
        pin.drive_high()
        # a later short press still works and is the only press counted (a long hold time
        # now, so a test thread stalled between the two drives cannot make it a hold)
        controls.power_button.hold_time = WAIT
        pin.drive_low()
        pin.drive_high()
        assert events["power_press"].wait(WAIT)
    assert calls["shutdown"] == [1] and calls["power_press"] == [1]


def test_failing_callback_is_logged_not_fatal(factory, caplog):
    done = threading.Event()

    def boom():
        raise RuntimeError("handler bug")

    with Controls(pin_factory=factory, bounce_time_s=None, on_freeze=boom,
                  on_view=done.set):
        factory.pin(17).drive_low()
        factory.pin(27).drive_low()
        assert done.wait(WAIT)
    assert any("freeze handler failed" in r.getMessage() for r in caplog.records)


def test_led_follows_status_and_goes_off_at_close(factory):
    controls = Controls(pin_factory=factory)
    led_pin = factory.pin(22)
    controls.set_status("running")
    assert led_pin.state
    controls.set_status("fault")
    assert controls.led._blink_thread is not None  # blinking in gpiozero's thread
    controls.set_status("off")
    assert not led_pin.state and controls.status == "off"
    with pytest.raises(ControlsError, match="party"):
        controls.set_status("party")
    controls.set_status("running")
    controls.close()
    controls.close()
    assert not led_pin.state


def test_pins_can_be_left_out(factory):
    with Controls(pin_factory=factory, power_pin=None, led_pin=None) as controls:
        assert controls.power_button is None and controls.led is None
        controls.set_status("running")  # no LED: nothing to do


@pytest.mark.parametrize("key", ["freeze_pin", "view_pin", "power_pin", "led_pin"])
@pytest.mark.parametrize("number", [2, 3])
def test_any_pin_on_i2c_clashes_with_the_display(factory, key, number):
    pins = {"freeze_pin": 17, "view_pin": 27, "power_pin": 26, "led_pin": 22, key: number}
    with pytest.raises(ControlsError, match=f"controls.{key} GPIO{number}"):
        Controls(pin_factory=factory, i2c_in_use=True, **pins)
    assert not factory.pins  # refused before any pin was claimed
    Controls(pin_factory=factory, i2c_in_use=False, **pins).close()


def test_the_default_power_pin_clashes_only_with_an_i2c_display(factory):
    with pytest.raises(ControlsError, match="power_pin"):
        Controls(pin_factory=factory, i2c_in_use=True)
    Controls(pin_factory=factory, i2c_in_use=True, power_pin=26).close()


class BusyPinFactory(MockFactory):
    """lgpio's factory lets its own ``lgpio.error('GPIO busy')`` through, not a gpiozero
    error (gpiozero#1131); this stands in for it."""

    class LgpioError(Exception):
        pass

    def pin(self, spec, **kwargs):
        if spec == 27:
            raise self.LgpioError("GPIO busy")
        return super().pin(spec, **kwargs)


def test_a_pin_another_program_holds_disables_the_controls_and_releases_the_rest():
    saved = Device.pin_factory
    busy = BusyPinFactory()
    try:
        with pytest.raises(ControlsError, match="GPIO27.*GPIO busy.*gpioinfo"):
            Controls(pin_factory=busy)
        gpiozero.Button(17, pin_factory=busy).close()  # GPIO17 was claimed, and released
        assert isinstance(open_controls(pin_factory=busy), NullControls)
    finally:
        busy.reset()
        Device.pin_factory = saved


def test_hold_time_must_be_positive(factory):
    with pytest.raises(ControlsError, match="hold_time_s"):
        Controls(pin_factory=factory, hold_time_s=0)


def test_pin_in_use_is_a_controls_error(factory):
    with pytest.raises(ControlsError, match="GPIO17"):
        Controls(pin_factory=factory, view_pin=17)


class NoGpioFactory(MockFactory):
    def pin(self, spec, **kwargs):
        raise BadPinFactory("Unable to load any default pin factory!")


def test_no_gpio_gives_a_controls_error_and_open_controls_a_null(factory, caplog):
    with pytest.raises(ControlsError, match="no GPIO access") as info:
        Controls(pin_factory=NoGpioFactory())
    assert isinstance(info.value, OSError)
    caplog.set_level(logging.WARNING, logger="aoc.app.controls")
    controls = open_controls(pin_factory=NoGpioFactory())
    assert isinstance(controls, NullControls) and "no GPIO access" in controls.reason
    with controls:
        controls.set_status("fault")
    assert [r.getMessage() for r in caplog.records if "controls disabled" in r.getMessage()]


def test_gpiozero_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "gpiozero", None)
    with pytest.raises(ControlsError, match="gpiozero is not installed"):
        Controls()
