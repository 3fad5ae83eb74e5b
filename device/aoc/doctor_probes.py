"""The probes behind ``aoc doctor``: each asks the machine one thing (the TFLite runtime,
libedgetpu and its dpkg package, device nodes, picamera2's camera list, an I2C address, a
gpiozero pin factory). They import the hardware libraries lazily, so :mod:`aoc.doctor`'s
checks import with the standard library alone, and tests replace any field of
:class:`Probes` with a fake.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import subprocess
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _runtime_label() -> str:
    from aoc.inference.runtime import find_runtime

    return find_runtime().label


def _load_libedgetpu() -> str:
    ctypes.CDLL("libedgetpu.so.1")
    return "libedgetpu.so.1"


def _libedgetpu_package() -> str | None:
    """``"libedgetpu1-std 16.0"`` as dpkg has it installed, or ``None`` (no dpkg, or
    libedgetpu installed some other way)."""
    dpkg = shutil.which("dpkg-query")
    if dpkg is None:
        return None
    try:
        out = subprocess.run(
            [dpkg, "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n",
             "libedgetpu1-std", "libedgetpu1-max"],
            capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        name, _, rest = line.partition(" ")
        version, _, status = rest.partition(" ")
        if status.startswith("ii"):
            return f"{name} {version}"
    return None


def _usable(path: Path) -> bool:
    return os.access(path, os.R_OK | os.W_OK)


def _picamera2_cameras() -> list[str]:
    from picamera2 import Picamera2  # apt: python3-picamera2, only on a Pi

    return [str(c.get("Model", c)) for c in Picamera2.global_camera_info()]


def _i2c_ack(bus: int, address: int) -> bool:
    """Whether a device answers at ``address``. An address a kernel driver has claimed
    (EBUSY) is not "nothing there": that OSError goes to the caller.

    A quick write, as ``i2cdetect`` probes 0x3C and 0x3D: an SSD1306 is written to, and
    its datasheet promises no answer to a read over I2C.
    """
    from smbus2 import SMBus

    with SMBus(bus) as smbus:
        try:
            smbus.write_quick(address)
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                raise
            return False
    return True


def _load_cpu_model(bundle: Any) -> str:
    """Open ``bundle``'s CPU model with the TFLite runtime and close it again: a model
    whose checksum matches can still be no model at all (truncated before it was hashed)."""
    from aoc.inference.classifier import open_classifier

    clf = open_classifier(bundle, prefer="cpu")
    try:
        return f"loads on {clf.runtime_name}"
    finally:
        clf.close()


def _gpio_factory() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gpiozero warns once per factory it falls past
        from gpiozero import Device

        # ensure_pin_factory returns None: it sets Device.pin_factory (or raises)
        Device.ensure_pin_factory()
    return type(Device.pin_factory).__name__


@dataclass
class Probes:
    """Every probe doctor uses; replace any of them in tests."""

    runtime: Callable[[], str] = _runtime_label
    libedgetpu: Callable[[], str] = _load_libedgetpu
    libedgetpu_package: Callable[[], str | None] = _libedgetpu_package
    usable: Callable[[Path], bool] = _usable
    usb_root: Path = Path("/sys/bus/usb/devices")
    dev_root: Path = Path("/dev")
    picamera2_cameras: Callable[[], list[str]] = _picamera2_cameras
    i2c_ack: Callable[[int, int], bool] = _i2c_ack
    gpio_factory: Callable[[], str] = _gpio_factory
    load_cpu_model: Callable[[Any], str] = _load_cpu_model
    default_dirs: Sequence[Path] | None = None
    on_pi: bool = False
