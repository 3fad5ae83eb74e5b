"""Configuration rules beyond one key's type and range: keys that must agree with each
other (a bare model and its labels, GPIO pins, dimming before blanking), the Edge TPU's
device name, and a shutdown command whose program exists. :func:`aoc.config.load_config`
runs them after building the sections; each raises :class:`~aoc.errors.ConfigError`
naming the key and what to do."""

from __future__ import annotations

import logging
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

from aoc.config_sections import CONTROL_PINS, Config, ServiceConfig
from aoc.errors import ConfigError

log = logging.getLogger(__name__)

DRAWABLE_WIDTH = 96  # aoc.display.render.MIN_SIZE[0]: the narrowest screen drawn


def check_rules(config: Config) -> None:
    """The rules no single key's type or range can say; ConfigError naming the key."""
    m = config.model
    if m.model and Path(m.model).expanduser().is_dir():
        # `aoc classify --model models/default`: a bundle folder given as a bare model
        raise ConfigError(
            f"model.model {m.model} is a folder: a bundle folder goes in model.bundle "
            "(--bundle on the command line); model.model is a bare .tflite file",
            key="model.model",
        )
    if bool(m.model) != bool(m.labels):
        key = "model.labels" if m.model else "model.model"
        raise ConfigError(
            f"{key} is empty but {'model.model' if m.model else 'model.labels'} is set; "
            "a bare model needs both a .tflite file and its labels file (a bundle folder "
            "goes in model.bundle, --bundle on the command line)",
            key=key,
        )
    if m.bundle and m.model:
        raise ConfigError(
            "model.bundle and model.model are both set; use a bundle folder OR a bare "
            "model + labels, not both",
            key="model.model",
        )
    d = config.display
    if d.dim_after_s and d.blank_after_s and d.blank_after_s < d.dim_after_s:
        raise ConfigError(
            f"display.blank_after_s = {d.blank_after_s} is shorter than display.dim_after_s = "
            f"{d.dim_after_s}; blank after dimming, or set one of them to 0 (never)",
            key="display.blank_after_s",
        )
    if d.rotate in (1, 3) and d.height < DRAWABLE_WIDTH:
        # luma turns the panel's size round: a 128x64 panel becomes 64x128
        raise ConfigError(
            f"display.rotate = {d.rotate} turns the {d.width}x{d.height} panel into "
            f"{d.height}x{d.width}, narrower than the {DRAWABLE_WIDTH} pixels the screens "
            "need; use 0, or 2 for a panel mounted upside down",
            key="display.rotate",
        )
    pins = [(k, getattr(config.controls, k)) for k in CONTROL_PINS]
    used = [(k, p) for k, p in pins if p >= 0]
    for i, (key, pin) in enumerate(used):
        for other, pin2 in used[:i]:
            if pin == pin2:
                raise ConfigError(
                    f"controls.{key} = {pin} is already used by controls.{other}; give each "
                    "button and the LED its own GPIO pin (-1 = not fitted)",
                    key=f"controls.{key}",
                )
    check_edgetpu_device(config.inference.edgetpu_device)
    check_shutdown_command(config.service.shutdown_command)
    s = config.smoothing
    if s.both_min > s.enter:
        raise ConfigError(
            f"smoothing.both_min = {s.both_min} is above smoothing.enter = {s.enter}; "
            "both_min must be at most enter",
            key="smoothing.both_min",
        )
    if s.both_min > s.enter - 2 * s.hysteresis:
        # allowed (the verdict still ends), but a held anime stays while cartoon is below
        # both_min + hysteresis, which is then above anime's own floor (41 % anime shown
        # against 50 % cartoon at 0.5 / 0.45 / 0.1)
        log.warning("smoothing.both_min = %s is above smoothing.enter - 2 x "
                    "smoothing.hysteresis (%s): a held anime or cartoon can stay on the "
                    "screen while the other class scores higher; lower both_min or the "
                    "hysteresis", s.both_min, round(s.enter - 2 * s.hysteresis, 6))
    # a verdict must be able to end: held with thresholds lowered by hysteresis, "both" at
    # both_min - hysteresis <= 0 (or "neither" at enter - hysteresis <= 0) holds for any scores
    for key, value in (("smoothing.both_min", s.both_min), ("smoothing.enter", s.enter)):
        if s.hysteresis >= value:
            raise ConfigError(
                f"{key} = {value} is not above smoothing.hysteresis = {s.hysteresis}: once "
                "reached, that verdict could never end; make the hysteresis smaller",
                key="smoothing.hysteresis",
            )


EDGETPU_DEVICE = re.compile(r"(usb|pci)(:\d{1,3})?")


def check_edgetpu_device(device: str) -> None:
    """libedgetpu's device names: ``usb``, ``usb:N``, ``pci``, ``pci:N``."""
    if not EDGETPU_DEVICE.fullmatch(device):
        raise ConfigError(
            f"inference.edgetpu_device = {device!r} is not an Edge TPU device name; use "
            "'usb', 'usb:N', 'pci' or 'pci:N' (N = 0 for the first one)",
            key="inference.edgetpu_device",
        )


def check_shutdown_command(command: str, *, which: Any = shutil.which) -> None:
    """``service.shutdown_command`` must parse as a command line whose program exists.

    Empty means "the power button does not shut down". The program is looked up on PATH
    (or taken as given when it contains a ``/``).
    """
    if not command.strip():
        return
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(
            f"service.shutdown_command = {command!r} cannot be parsed ({exc}); write it as a "
            "command line, e.g. \"systemctl poweroff\"",
            key="service.shutdown_command",
        ) from exc
    if which(argv[0]) is None:
        if command == ServiceConfig.shutdown_command:
            # The default on a machine without systemd (a desktop): not the user's mistake.
            log.debug("service.shutdown_command: %s not found; the power button will only "
                      "log", argv[0])
            return
        raise ConfigError(
            f"service.shutdown_command = {command!r}: program {argv[0]!r} not found (on PATH "
            "or as a path); install it, give its full path, or set \"\" to disable the "
            "power button's shutdown",
            key="service.shutdown_command",
        )
