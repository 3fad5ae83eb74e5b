"""The real probes of aoc.doctor_probes, on this machine's stand-ins: a fake dpkg-query on
PATH, file permissions, gpiozero's MockFactory, and libedgetpu's absence."""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import pytest

from aoc import doctor_probes


def _fake_dpkg_query(folder: Path, output: str) -> None:
    script = folder / "dpkg-query"
    script.write_text(f"#!/bin/sh\nprintf '%s' '{output}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_libedgetpu_package_names_the_installed_one(tmp_path, monkeypatch):
    _fake_dpkg_query(tmp_path, "libedgetpu1-std 16.0 ii \\nlibedgetpu1-max 16.0 un \\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert doctor_probes._libedgetpu_package() == "libedgetpu1-std 16.0"


def test_libedgetpu_package_ignores_removed_packages_and_a_missing_dpkg(tmp_path, monkeypatch):
    _fake_dpkg_query(tmp_path, "libedgetpu1-std 16.0 rc \\n")  # removed, config left
    monkeypatch.setenv("PATH", str(tmp_path))
    assert doctor_probes._libedgetpu_package() is None
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert doctor_probes._libedgetpu_package() is None


def test_usable_needs_read_and_write(tmp_path):
    node = tmp_path / "i2c-1"
    node.write_bytes(b"")
    assert doctor_probes._usable(node)
    if os.geteuid() != 0:  # root reads and writes anything
        node.chmod(stat.S_IRUSR)
        assert not doctor_probes._usable(node)
    assert not doctor_probes._usable(tmp_path / "missing")


def test_a_missing_libedgetpu_is_an_os_error():
    """The check turns this OSError into its FAIL line; here no libedgetpu is installed."""
    try:
        name = doctor_probes._load_libedgetpu()
    except OSError:
        return
    pytest.skip(f"{name} is installed on this machine")


def test_gpio_factory_names_the_factory_gpiozero_picks(monkeypatch):
    gpiozero = pytest.importorskip("gpiozero")
    saved = gpiozero.Device.pin_factory
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    gpiozero.Device.pin_factory = None
    try:
        assert doctor_probes._gpio_factory() == "MockFactory"
    finally:
        if gpiozero.Device.pin_factory is not None:
            gpiozero.Device.pin_factory.close()
        gpiozero.Device.pin_factory = saved


def test_picamera2_cameras_lists_each_camera_model(monkeypatch):
    """Through a fake ``picamera2`` module that follows its documented API."""
    import types

    from fakes.picamera2_fake import IMX708, make_picamera2

    module = types.ModuleType("picamera2")
    module.Picamera2 = make_picamera2([IMX708, {**IMX708, "Model": "imx219", "Num": 1}])
    monkeypatch.setitem(sys.modules, "picamera2", module)
    assert doctor_probes._picamera2_cameras() == [IMX708["Model"], "imx219"]
    module.Picamera2 = make_picamera2([])
    assert doctor_probes._picamera2_cameras() == []


@pytest.mark.parametrize(("error", "expected"), [
    (None, True), (errno.EREMOTEIO, False), (errno.ENXIO, False), (errno.EBUSY, "raises")])
def test_i2c_ack_through_an_smbus2_stand_in(monkeypatch, error, expected):
    """smbus2's SMBus as a context manager and write_quick raising OSError with the errno
    the i2c-dev driver gives: no ACK (EREMOTEIO, ENXIO) is "nothing there", an address a
    kernel driver owns (EBUSY) is not. The probe writes, as i2cdetect does at 0x3C: a
    panel that acknowledges writes only must be found."""
    import types

    class SMBus:
        def __init__(self, bus):
            self.bus = bus

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write_quick(self, address):
            if error is not None:
                raise OSError(error, os.strerror(error))

        def read_byte(self, address):  # a write-only panel: a read gets no ACK
            raise OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO))

    module = types.ModuleType("smbus2")
    module.SMBus = SMBus
    monkeypatch.setitem(sys.modules, "smbus2", module)
    if expected == "raises":
        with pytest.raises(OSError) as info:
            doctor_probes._i2c_ack(1, 0x3C)
        assert info.value.errno == errno.EBUSY
    else:
        assert doctor_probes._i2c_ack(1, 0x3C) is expected
