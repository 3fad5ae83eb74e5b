"""The configuration's shape: one frozen dataclass per TOML section, with defaults.

Each field carries its validation rules (``choices``, ``lo``, ``hi``) in its metadata,
made by :func:`option`; :mod:`aoc.config` loads TOML into these and checks the rules.
Every key is documented in ``config.example.toml``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def option(default: Any, *, choices: tuple[Any, ...] = (), lo: float | None = None,
         hi: float | None = None, integer_as_text: bool = False) -> Any:
    """A dataclass field with its validation rules (``choices``, ``lo``, ``hi``) in
    ``metadata``; ``integer_as_text``: a string field that also takes an integer, as its
    text (``source = 0`` for webcam 0)."""
    meta = {"choices": choices, "lo": lo, "hi": hi, "integer_as_text": integer_as_text}
    if isinstance(default, list | tuple):
        return field(default=tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


DISPLAY_KINDS = ("oled", "terminal", "emulated", "null")
"""The displays ``display.kind`` names (plus ``auto``), built by ``aoc.display.open_display``."""
OLED_DRIVERS = ("ssd1306", "sh1106", "ssd1309")
"""The OLED controllers :class:`aoc.display.oled.OledDisplay` drives."""


@dataclass(frozen=True)
class CameraConfig:
    """Where frames come from (``[camera]``)."""

    source: str = option("auto", integer_as_text=True)
    width: int = option(640, lo=32, hi=4096)
    height: int = option(480, lo=32, hi=4096)
    demo_when_missing: bool = True
    demo_period_s: float = option(4.0, lo=0.1, hi=3600.0)
    max_fps: float = option(30.0, lo=0.0, hi=10000.0)
    backoff: tuple[float, ...] = option((0.5, 1.0, 2.0, 5.0, 10.0, 30.0), lo=0.0, hi=3600.0)


@dataclass(frozen=True)
class ModelConfig:
    """Which model runs (``[model]``)."""

    bundle: str = ""
    model: str = ""
    labels: str = ""
    fallback: bool = True


@dataclass(frozen=True)
class InferenceConfig:
    """How the model runs (``[inference]``)."""

    backend: str = option("auto", choices=("auto", "edgetpu", "cpu"))
    edgetpu_device: str = "usb"
    num_threads: int = option(0, lo=0, hi=64)
    isolate_tpu: bool = True
    reprobe_interval_s: float = option(60.0, lo=1.0, hi=86400.0)


@dataclass(frozen=True)
class SmoothingConfig:
    """Score smoothing and verdict thresholds (``[smoothing]``, see docs/verdict.md)."""

    tau_s: float = option(0.5, lo=0.0, hi=60.0)
    enter: float = option(0.5, lo=0.0, hi=1.0)
    both_min: float = option(0.3, lo=0.0, hi=1.0)
    hysteresis: float = option(0.1, lo=0.0, hi=0.5)
    top1_enter: float = option(0.4, lo=0.0, hi=1.0)


@dataclass(frozen=True)
class DisplayConfig:
    """The screen (``[display]``)."""

    kind: str = option("auto", choices=("auto", *DISPLAY_KINDS))
    driver: str = option("ssd1306", choices=OLED_DRIVERS)
    interface: str = option("i2c", choices=("i2c", "spi"))
    # the screens need at least 96x32 (aoc.display.render.MIN_SIZE)
    width: int = option(128, lo=96, hi=256)
    height: int = option(64, lo=32, hi=128)
    i2c_port: int = option(1, lo=0, hi=31)
    i2c_address: int = option(0x3C, lo=0x03, hi=0x77)
    spi_port: int = option(0, lo=0, hi=6)
    spi_device: int = option(0, lo=0, hi=3)
    gpio_dc: int = option(24, lo=0, hi=27)
    gpio_rst: int = option(25, lo=0, hi=27)
    rotate: int = option(0, choices=(0, 1, 2, 3))
    contrast: int = option(0xCF, lo=0, hi=255)
    dim_contrast: int = option(0x10, lo=0, hi=255)
    max_fps: float = option(10.0, lo=0.5, hi=60.0)
    retry_interval_s: float = option(5.0, lo=0.1, hi=3600.0)
    path: str = "aoc-display.png"
    shift_every_s: float = option(60.0, lo=0.0, hi=86400.0)
    max_shift: int = option(2, lo=0, hi=8)
    dim_after_s: float = option(300.0, lo=0.0, hi=86400.0)
    blank_after_s: float = option(1800.0, lo=0.0, hi=86400.0)
    change_threshold: float = option(0.03, lo=0.0, hi=1.0)
    freeze_map: bool = False
    freeze_map_budget: int = option(128, lo=16, hi=4096)


@dataclass(frozen=True)
class ControlsConfig:
    """Buttons and status LED (``[controls]``); a pin of -1 means not fitted."""

    enabled: bool = True
    freeze_pin: int = option(17, lo=-1, hi=27)
    view_pin: int = option(27, lo=-1, hi=27)
    power_pin: int = option(26, lo=-1, hi=27)
    led_pin: int = option(22, lo=-1, hi=27)
    hold_time_s: float = option(3.0, lo=0.5, hi=30.0)
    freeze_timeout_s: float = option(120.0, lo=0.0, hi=86400.0)


CONTROL_PINS: tuple[str, ...] = ("freeze_pin", "view_pin", "power_pin", "led_pin")
"""The GPIO pin keys of ``[controls]``, buttons then LED."""


@dataclass(frozen=True)
class ServiceConfig:
    """Running as a service (``[service]``)."""

    shutdown_command: str = "systemctl poweroff"
    # READY must reach systemd within the unit's TimeoutStartSec=120, after start-up itself
    ready_grace_s: float = option(30.0, lo=0.0, hi=60.0)
    status_interval_s: float = option(5.0, lo=0.5, hi=3600.0)
    allow_root: bool = False


@dataclass(frozen=True)
class LoggingConfig:
    """Log output (``[logging]``)."""

    level: str = option("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class Config:
    """The whole configuration, one frozen dataclass per TOML section."""

    camera: CameraConfig = field(default_factory=CameraConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    controls: ControlsConfig = field(default_factory=ControlsConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict (tuples as lists), e.g. for ``--print-config``."""
        return {
            s: {k: list(v) if isinstance(v, tuple) else v for k, v in vars(sec).items()}
            for s, sec in ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))
        }


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in dataclasses.fields(Config)}  # type: ignore[misc]


def section_keys() -> dict[str, tuple[str, ...]]:
    """Every section and its keys, in declaration order."""
    return {s: tuple(f.name for f in dataclasses.fields(cls)) for s, cls in SECTIONS.items()}

