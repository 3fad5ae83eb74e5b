"""OledDisplay with luma's own dummy device and a fake SMBus behind the real ssd1306 driver."""

from __future__ import annotations

import dataclasses
import errno

import pytest

pytest.importorskip("luma.oled")
from luma.core.device import dummy  # noqa: E402

from aoc.display.oled import DIM_CONTRAST, OledDisplay  # noqa: E402
from aoc.display.render import render  # noqa: E402
from aoc.display.state import DisplayState  # noqa: E402
from aoc.errors import ConfigError, DisplayError  # noqa: E402

STATE = DisplayState(anime=0.87, cartoon=0.12, verdict="anime", backend="edgetpu", fps=30)
SETCONTRAST, DISPLAYOFF, DISPLAYON = 0x81, 0xAE, 0xAF


class RecordingSerial:
    """A luma serial interface that keeps what the device sends."""

    def __init__(self):
        self.commands: list[tuple[int, ...]] = []
        self.data_bytes = 0
        self.cleaned = 0

    def command(self, *cmd):
        self.commands.append(cmd)

    def data(self, data):
        self.data_bytes += len(data)

    def cleanup(self):
        self.cleaned += 1


class FakeBus:
    """Enough of smbus2.SMBus for luma's unmanaged i2c; ``ack=False`` is a missing panel."""

    def __init__(self, ack=True):
        self.ack = ack
        self.writes: list[tuple[int, int, int]] = []

    def write_i2c_block_data(self, addr, mode, data):
        if not self.ack:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        self.writes.append((addr, mode, len(data)))


@pytest.fixture
def panel():
    serial = RecordingSerial()
    device = dummy(width=128, height=64, mode="1", serial_interface=serial)
    with OledDisplay(device=device) as oled:
        yield oled, device, serial


def test_show_draws_the_rendered_state(panel):
    oled, device, _ = panel
    oled.show(STATE)
    assert device.image.tobytes() == render(STATE).tobytes()
    assert oled.size == (128, 64) and oled.frames_sent == 1


def test_unchanged_picture_is_not_sent_again(panel):
    oled, _, _ = panel
    oled.show(STATE)
    oled.show(STATE.replace(anime=0.871))  # same percentage, same pixels
    assert oled.frames_sent == 1
    oled.show(STATE.replace(anime=0.5))
    assert oled.frames_sent == 2


def test_dim_and_blank_send_contrast_and_power_commands_once(panel):
    oled, _, serial = panel
    serial.commands.clear()
    oled.show(STATE.replace(dim=True))
    oled.show(STATE.replace(dim=True))
    assert serial.commands == [(SETCONTRAST, DIM_CONTRAST)]
    oled.show(STATE.replace(blank=True))
    assert serial.commands[-1] == (DISPLAYOFF,)
    oled.show(STATE)
    assert (DISPLAYON,) in serial.commands and (SETCONTRAST, 0xCF) in serial.commands


def test_clear_and_close_switch_off_and_are_safe_twice(panel):
    oled, device, serial = panel
    oled.show(STATE)
    oled.clear()
    assert (DISPLAYOFF,) in serial.commands and device.image.getbbox() is None
    oled.close()
    oled.close()
    assert serial.cleaned == 1
    oled.clear()  # no error after close
    with pytest.raises(DisplayError, match="closed"):
        oled.show(STATE)


def test_persist_leaves_the_picture_lit_at_close():
    serial = RecordingSerial()
    device = dummy(width=128, height=64, mode="1", serial_interface=serial)
    with OledDisplay(device=device, persist=True) as oled:
        oled.show(STATE)
        sent = len(serial.commands)
    assert device.persist and oled.persist and serial.cleaned == 1
    assert (DISPLAYOFF,) not in serial.commands[sent:] and device.image.getbbox() is not None
    plain = dummy(width=128, height=64, mode="1", serial_interface=RecordingSerial())
    OledDisplay(device=plain).close()
    assert plain.persist is False


def test_128x32_panel():
    device = dummy(width=128, height=32, mode="1", serial_interface=RecordingSerial())
    with OledDisplay(device=device, height=32) as oled:
        oled.show(STATE)
        assert device.image.tobytes() == render(STATE, (128, 32)).tobytes()


def test_real_ssd1306_driver_over_fake_bus_sends_one_frame_per_change():
    bus = FakeBus()
    with OledDisplay("ssd1306", i2c_bus=bus, i2c_address=0x3D) as oled:
        bus.writes.clear()
        oled.show(STATE)
        oled.show(STATE)
        data = sum(n for addr, mode, n in bus.writes if mode == 0x40)
        assert data == 128 * 64 // 8  # one full frame, not two
        assert {addr for addr, _, _ in bus.writes} == {0x3D}


@pytest.mark.parametrize("driver", ["sh1106", "ssd1309"])
def test_other_drivers_open(driver):
    with OledDisplay(driver, i2c_bus=FakeBus()) as oled:
        oled.show(STATE)
        assert oled.frames_sent == 1


def test_no_ack_names_address_and_fix():
    with pytest.raises(DisplayError) as info:
        OledDisplay(i2c_bus=FakeBus(ack=False), i2c_address=0x3C)
    text = str(info.value)
    assert "0x3C" in text and "i2cdetect -y 1" in text and "0x3D" in text


def test_a_panel_that_does_not_answer_leaves_no_luma_device_behind(monkeypatch):
    """luma registers each device with atexit before its first command: a missing panel,
    reopened every retry interval for months, must fail before a device exists."""
    import atexit

    registered = []
    monkeypatch.setattr(atexit, "register", lambda fn, *a, **k: registered.append(fn))
    for _ in range(3):
        with pytest.raises(DisplayError, match="no display answered"):
            OledDisplay(i2c_bus=FakeBus(ack=False))
    assert registered == []
    OledDisplay(i2c_bus=FakeBus()).close()  # an answering panel is built as before
    assert len(registered) == 1


def test_a_closed_panel_is_freed_for_a_reopen_after_an_i2c_error():
    """luma's atexit hook holds its device: every reopen after an I2C error kept about
    330 KB for good (months of glitches reach the unit's MemoryMax). A closed device is
    freed, and an open one is still switched off at exit."""
    import gc
    import weakref

    refs = []
    for _ in range(3):
        oled = OledDisplay(i2c_bus=FakeBus())
        refs.append(weakref.ref(oled._device))
        oled.close()
        del oled
    kept = OledDisplay(i2c_bus=FakeBus())
    gc.collect()
    assert [ref() for ref in refs] == [None, None, None]
    assert weakref.ref(kept._device)() is not None
    kept.close()


def test_close_on_a_dead_panel_still_closes_the_bus():
    """luma's cleanup switches the panel off before it closes the bus; on a dead panel the
    first half fails, and the bus must be closed anyway."""
    bus = FakeBus()
    oled = OledDisplay(i2c_bus=bus)
    closed = []
    oled._device._serial_interface.cleanup = lambda: closed.append(True)
    bus.ack = False
    oled.close()
    oled.close()
    assert closed == [True]


def test_a_contrast_refused_at_open_releases_the_bus():
    class RefusesContrast(RecordingSerial):
        def command(self, *cmd):
            if cmd and cmd[0] == SETCONTRAST:
                raise OSError(errno.EIO, "I/O error")
            super().command(*cmd)

    serial = RefusesContrast()
    device = dummy(width=128, height=64, mode="1", serial_interface=serial)
    with pytest.raises(DisplayError, match="stopped answering"):
        OledDisplay(device=device)
    assert serial.cleaned == 1


def test_spi_pins_the_gpio_library_refuses_are_a_display_error(monkeypatch):
    """luma's spi sets up DC and RST through RPi.GPIO or lgpio unguarded: their own errors
    (RuntimeError on a Pi 5, lgpio's 'GPIO busy') passed every handler, and the service
    exited at start-up instead of running headless."""
    import luma.core.interface.serial as luma_serial

    def spi(**kwargs):
        raise RuntimeError("Not running on a RPi!")

    monkeypatch.setattr(luma_serial, "spi", spi)
    with pytest.raises(DisplayError, match=r"GPIO pins of SPI 0.0 \(DC GPIO24, RST GPIO25\) "
                                           r"\(RuntimeError: Not running on a RPi!\)"):
        OledDisplay(interface="spi")


def test_a_gpio_error_while_drawing_over_spi_is_a_lost_panel():
    """luma's spi sets the DC pin before every command and data transfer; RPi.GPIO and
    rpi-lgpio fail with the builtin RuntimeError, which was logged as a drawing bug
    ("skipping") instead of a lost panel that is reopened."""
    from luma.core.interface.serial import spi
    from luma.oled.device import ssd1306

    class Gpio:  # RPi.GPIO's surface as luma's bitbang uses it
        BCM, OUT, LOW, HIGH = 11, 0, 0, 1
        fail = False

        def setmode(self, mode):
            pass

        def setup(self, pin, direction):
            pass

        def output(self, pin, value):
            if self.fail:
                raise RuntimeError("Please set pin numbering mode using GPIO.setmode")

    class SpiDev:
        max_speed_hz = mode = 0

        def open(self, port, device):
            pass

        def writebytes(self, data):
            pass

        writebytes2 = writebytes

        def close(self):
            pass

    gpio = Gpio()
    device = ssd1306(spi(spi=SpiDev(), gpio=gpio))
    oled = OledDisplay(device=device, interface="spi")
    oled.show(STATE)
    gpio.fail = True
    with pytest.raises(DisplayError, match=r"SPI 0.0 .* stopped answering \(Please set pin"):
        oled.show(dataclasses.replace(STATE, anime=0.3, cartoon=0.6, verdict="cartoon"))
    oled.close()


def test_a_runtime_error_over_i2c_is_not_taken_for_a_lost_panel():
    """Over I2C no GPIO library is involved: a RuntimeError there is a bug to see in the
    log, not a panel to reopen for ever."""
    oled = OledDisplay(device=dummy(width=128, height=64, mode="1"), interface="i2c")

    def broken():
        raise RuntimeError("a bug in the drawing code")

    with pytest.raises(RuntimeError, match="a bug") as info:
        oled._guard(broken)
    assert not isinstance(info.value, DisplayError)
    oled.close()


def test_an_rpi_gpio_that_cannot_run_here_is_named_as_the_gpio_fault(monkeypatch):
    """Through luma's own spi: RPi.GPIO raising RuntimeError at import (a Pi 5, no
    /dev/gpiomem) reaches us as luma's UnsupportedPlatform, which was answered with
    'enable SPI with raspi-config' instead of the GPIO library's fix."""
    import importlib.abc
    import sys
    import types

    class NotOnThisBoard(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name in ("RPi", "RPi.GPIO"):
                raise RuntimeError("This module can only be run on a Raspberry Pi!")
            return None

    for name in ("RPi", "RPi.GPIO"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sys, "meta_path", [NotOnThisBoard(), *sys.meta_path])
    spidev = types.ModuleType("spidev")
    spidev.SpiDev = object  # never reached: the GPIO library fails first
    monkeypatch.setitem(sys.modules, "spidev", spidev)
    with pytest.raises(DisplayError, match=r"GPIO pins of SPI 0.0 .*UnsupportedPlatform.*"
                                           r"rpi-lgpio") as info:
        OledDisplay(interface="spi")
    assert "raspi-config" not in str(info.value)


def test_spi_without_its_libraries_points_to_the_installer(monkeypatch):
    """luma.core 2.x installs neither RPi.GPIO nor spidev: through luma's own spi, the
    missing module was answered with 'enable SPI with raspi-config'."""
    import sys

    for name in ("RPi", "RPi.GPIO", "spidev"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ModuleNotFoundError
    with pytest.raises(DisplayError, match=r"cannot open SPI 0.0 .*install.sh --spi") as info:
        OledDisplay(interface="spi")
    assert "raspi-config" not in str(info.value)


def test_missing_bus_names_device_and_raspi_config():
    pytest.importorskip("smbus2")
    with pytest.raises(DisplayError) as info:
        OledDisplay(i2c_port=99)
    assert "/dev/i2c-99" in str(info.value) and "raspi-config nonint do_i2c 0" in str(info.value)


def test_panel_vanishing_mid_run_is_a_display_error():
    bus = FakeBus()
    oled = OledDisplay(i2c_bus=bus)
    bus.ack = False
    with pytest.raises(DisplayError, match="stopped answering") as info:
        oled.show(STATE)
    assert isinstance(info.value, OSError)
    oled.close()  # cleanup fails on the dead bus: logged, not raised
    oled.close()


def test_a_picture_is_sent_again_after_a_failed_transfer_of_another():
    """A frame that failed half-way leaves the panel showing neither picture: when the bus
    recovers and the loop shows the earlier picture again, it must be sent, or the
    garbled panel stays until the scene changes (hours on a paused film)."""
    bus = FakeBus()
    with OledDisplay(i2c_bus=bus) as oled:
        oled.show(STATE)
        bus.ack = False  # a glitch on the bus
        with pytest.raises(DisplayError, match="stopped answering"):
            oled.show(STATE.replace(anime=0.3, cartoon=0.6, verdict="cartoon"))
        bus.ack = True
        bus.writes.clear()
        oled.show(STATE)  # the picture from before the failed one
        data = sum(n for _, mode, n in bus.writes if mode == 0x40)
        assert data == 128 * 64 // 8  # sent, whole: the panel memory is unknown
        assert oled.frames_sent == 2


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="ssd9999"):
        OledDisplay("ssd9999", device=dummy(mode="1"))
    with pytest.raises(ConfigError, match="interface"):
        OledDisplay(interface="usb", device=dummy(mode="1"))
    with pytest.raises(ConfigError, match="96x20"):
        OledDisplay(width=96, height=20, i2c_bus=FakeBus())


def test_open_display_builds_an_oled():
    from aoc.display import open_display

    device = dummy(mode="1", serial_interface=RecordingSerial())
    with open_display("oled", device=device) as oled:
        assert isinstance(oled, OledDisplay)


def test_ssd1306_gets_only_the_changed_windows_and_refresh_sends_all():
    from luma.oled.device import ssd1306

    from aoc.display.partial import RecordingSerial as Wire

    wire = Wire()
    with OledDisplay(device=ssd1306(wire), full_refresh_s=0) as oled:
        wire.take()
        oled.show(STATE)
        assert oled.last_update.full and oled.last_update.data_bytes == 1024
        oled.show(STATE.replace(anime=0.86, cartoon=0.13))
        update = oled.last_update
        assert not update.full and 0 < update.bytes <= 256
        assert sum(len(b) for _, b in wire.take()[2:]) == update.bytes
        oled.refresh()
        oled.show(STATE.replace(anime=0.86, cartoon=0.13))  # same picture, but asked for
        assert oled.last_update.full
        oled.clear()
        wire.take()
        oled.show(STATE)  # after a clear the panel is known blank: no full frame needed
        assert not oled.last_update.full and oled.frames_sent == 4


def test_an_unchanged_picture_is_sent_whole_again_when_its_refresh_is_due():
    """A screen that does not change (frozen, a fault, pixel shift off) got no full frame
    for months: the guard against a corrupted panel memory only ran with a new picture."""
    from luma.oled.device import ssd1306

    from aoc.display.partial import RecordingSerial as Wire

    now = [0.0]
    wire = Wire()
    with OledDisplay(device=ssd1306(wire), full_refresh_s=300, clock=lambda: now[0]) as oled:
        assert oled.maintain() is None  # nothing shown yet
        oled.show(STATE)
        wire.take()
        now[0] = 100
        assert oled.maintain() == 200 and wire.take() == []
        now[0] = 300
        assert oled.maintain() == 300
        sent = wire.take()
        assert sum(len(b) for kind, b in sent if kind == "data") == 1024
        assert oled.last_update.full and oled.frames_sent == 2
        oled.clear()
        now[0] = 900
        assert oled.maintain() is None  # after a clear the old picture must not come back
    sent = []
    panel = dummy(width=128, height=64, mode="1")
    panel.display = lambda image: sent.append(image.tobytes())  # luma's own, whole frames
    now[0] = 0.0
    with OledDisplay(device=panel, partial=False, full_refresh_s=300,
                     clock=lambda: now[0]) as plain:
        plain.show(STATE)
        now[0] = 299
        assert plain.maintain() == 1 and len(sent) == 1
        now[0] = 300
        assert plain.maintain() == 300 and len(sent) == 2 and sent[0] == sent[1]
    with OledDisplay(device=dummy(width=128, height=64, mode="1"), partial=False,
                     full_refresh_s=0) as never:
        never.show(STATE)
        assert never.maintain() is None


def test_partial_can_be_turned_off():
    from luma.oled.device import ssd1306

    from aoc.display.partial import RecordingSerial as Wire

    with OledDisplay(device=ssd1306(Wire()), partial=False) as oled:
        oled.show(STATE)
        oled.show(STATE.replace(anime=0.5))
        assert oled.last_update is None and oled.frames_sent == 2


def test_waking_from_blank_sends_the_new_picture_before_the_panel_goes_on():
    """The panel kept the picture from before blanking (up to 30 min old) and showed it for
    one transfer when switched on first (luma's real ssd1306 driver over a fake bus)."""

    class OrderedBus(FakeBus):
        def __init__(self):
            super().__init__()
            self.events = []

        def write_i2c_block_data(self, addr, mode, data):
            super().write_i2c_block_data(addr, mode, data)
            self.events.append(("data" if mode == 0x40 else "command", tuple(data)))

    bus = OrderedBus()
    with OledDisplay(i2c_bus=bus, partial=False) as oled:
        oled.show(STATE)
        oled.show(STATE.replace(blank=True))
        bus.events.clear()
        oled.show(STATE.replace(anime=0.2))
        on = bus.events.index(("command", (DISPLAYON,)))
        assert any(kind == "data" for kind, _ in bus.events[:on])  # the picture went first
        assert all(kind != "data" for kind, _ in bus.events[on:])
