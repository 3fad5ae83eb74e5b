"""Wiring of what the user sees and touches: the display (threaded, burn-in care),
the buttons and status LED, and the start-up errors left lit on the OLED (a bad config
key, no usable model).

Part of the app's wiring (:mod:`aoc.app.wiring`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from aoc.app.host import Host, resolve_display_kind
from aoc.app.loop_options import LoopControls
from aoc.app.loop_stats import LoopStats
from aoc.config_sections import CONTROL_PINS, Config
from aoc.errors import ConfigError, DisplayError
from aoc.resource import Closing

log = logging.getLogger(__name__)


class GuardedDisplay(Closing):
    """:class:`~aoc.display.threaded.ThreadedDisplay` with burn-in care applied per state;
    a context manager."""

    def __init__(self, threaded: Any, guard: Any) -> None:
        self.threaded = threaded
        self.guard = guard

    @property
    def fault(self) -> str | None:
        """The drawer's fault (``display lost``) or ``None``."""
        return self.threaded.fault

    @property
    def frame_interval_s(self) -> float:
        """The drawer's shortest time between frames (the loop builds states no faster)."""
        return self.threaded.frame_interval_s

    def submit(self, state: Any) -> None:
        """Hand ``state`` (with offset/dim/blank) to the drawing thread."""
        self.threaded.submit(self.guard.apply(state))

    def close(self) -> None:
        """Clear the screen and stop the drawer (safe twice)."""
        self.threaded.clear()
        self.threaded.close()


def display_options(config: Config, kind: str) -> dict[str, Any]:
    """Constructor keywords of the display ``kind`` from ``[display]``."""
    d = config.display
    if kind == "oled":
        return dict(driver=d.driver, width=d.width, height=d.height, interface=d.interface,
                    i2c_port=d.i2c_port, i2c_address=d.i2c_address, spi_port=d.spi_port,
                    spi_device=d.spi_device, gpio_dc=d.gpio_dc, gpio_rst=d.gpio_rst,
                    rotate=d.rotate, contrast=d.contrast, dim_contrast=d.dim_contrast)
    if kind == "emulated":
        fmt = "gif" if d.path.lower().endswith(".gif") else "png"
        # no shell expands ~ in a TOML file (the start-up check expands it too)
        # a run's GIF plays in real time: each frame lasts as long as it was shown
        path = os.path.expanduser(d.path)
        # a folder at start-up stays one: gone mid-run it is "display lost", not a file
        return dict(path=path, fmt=fmt, width=d.width, height=d.height,
                    frame_duration_s=None, folder=os.path.isdir(path) or None)
    if kind == "null":
        return dict(width=d.width, height=d.height)
    return {}


def open_screen(config: Config, kind: str, *,
                on_output_closed: Callable[[], None] | None = None) -> GuardedDisplay:
    """The display of ``kind`` in a drawing thread, with burn-in protection.

    ``on_output_closed`` (terminal only) is called when its output pipe is closed.
    """
    from aoc.display import open_display
    from aoc.display.burnin import BurnInGuard
    from aoc.display.threaded import ThreadedDisplay

    d = config.display
    opts = display_options(config, kind)
    if kind == "terminal" and on_output_closed is not None:
        opts["on_output_closed"] = on_output_closed
    # the guard first: it holds nothing, so a bad setting raises before a panel is opened
    # and a drawing thread started that nobody would close
    guard = BurnInGuard(shift_every_s=d.shift_every_s if kind == "oled" else 0,
                        max_shift=d.max_shift, dim_after_s=d.dim_after_s,
                        blank_after_s=d.blank_after_s, change_threshold=d.change_threshold)
    display, lost_because = None, ""
    try:
        display = open_display(kind, **opts)
    except DisplayError as exc:
        if kind != "oled":
            raise
        # a headless box must still run: the panel is retried like one lost mid-run, and
        # the status LED shows the fault
        lost_because = str(exc)
    try:
        threaded = ThreadedDisplay(display, size=(d.width, d.height),
                                   lost_because=lost_because, max_fps=d.max_fps,
                                   retry_interval_s=d.retry_interval_s,
                                   reopen=(lambda: open_display(kind, **opts)))
    except BaseException:
        if display is not None:
            display.close()
        raise
    return GuardedDisplay(threaded, guard)


class LedHook:
    """LoopHook: status LED starting / running / fault, set only on change.

    "fault" while frames cannot be read, classified or shown; a model that runs on a
    stand-in (no TPU - on CPU, a fallback model, the demo for a missing camera) is a notice
    on the screen and leaves the LED steady, so that a CPU-only box's LED still tells a
    real fault from a working appliance.
    """

    def __init__(self, controls: Any) -> None:
        self.controls = controls
        self.status = ""

    def _set(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.controls.set_status(status)

    def on_start(self, info: Any) -> None:
        """The LED shows "starting"."""
        self._set("starting")

    def on_result(self, stats: LoopStats, first: bool) -> None:
        """The LED shows "fault" while the display is faulty, else "running"."""
        self._set("fault" if _faulty(stats) else "running")

    def on_tick(self, stats: LoopStats) -> None:
        """The LED shows "fault" while the camera is down or frames fail to classify (no
        result comes then to say so)."""
        if _faulty(stats):
            self._set("fault")

    def on_stop(self, stats: LoopStats) -> None:
        """The LED goes off."""
        self._set("off")



def _faulty(stats: LoopStats) -> bool:
    return bool(stats.source_fault or stats.inference_error or stats.display_fault)


def open_buttons(config: Config, host: Host, *, kind: str, controls: LoopControls,
                 on_shutdown: Callable[[], None], pin_factory: Any = None) -> Any:
    """The buttons and LED of ``[controls]`` (gpiozero), or ``NullControls`` saying why not.

    GPIO is used on a Raspberry Pi, or anywhere when a ``pin_factory`` (e.g. gpiozero's
    ``MockFactory``) is passed in.
    """
    from aoc.app.controls import NullControls, open_controls

    c = config.controls
    if not (c.enabled and (host.is_pi or pin_factory is not None)):
        return NullControls("disabled in config" if not c.enabled else "not a Pi")
    pins = {k: (v if (v := getattr(c, k)) >= 0 else None) for k in CONTROL_PINS}
    return open_controls(
        **pins, hold_time_s=c.hold_time_s, on_freeze=controls.toggle_freeze,
        on_view=controls.next_view, on_shutdown=on_shutdown,
        # GPIO2/3 are bus 1's SDA/SCL; a panel on another bus leaves them free
        i2c_in_use=(kind == "oled" and config.display.interface == "i2c"
                    and config.display.i2c_port == 1),
        pin_factory=pin_factory)


def show_startup_error(text: str, host: Host, *, config: Config | None = None,
                       open_panel: Callable[[], Any] | None = None) -> None:
    """Best effort: put ``text`` on the OLED and leave it lit after the process ends.

    For a start-up that cannot go on (a bad config key, no usable model): the service is
    not running, and the panel is the only place a visitor looks. ``config`` (when it
    loaded) gives the panel's settings, else the defaults; a display kind other than the
    OLED shows nothing. ``open_panel`` builds the display (tests pass luma's ``dummy``).
    """
    if open_panel is None:
        if not (host.is_pi or host.under_systemd):
            return
        kind = resolve_display_kind(config.display.kind, host) if config else "oled"
        if kind != "oled":
            return
        from aoc.display.oled import OledDisplay

        options = display_options(config, "oled") if config is not None else {}

        def open_panel() -> Any:
            # persist: the message stays lit after the process exits
            return OledDisplay(persist=True, **options)

    from aoc.display.state import DisplayState

    try:
        with open_panel() as display:
            # dimmed: it stays lit for as long as the fault lasts (days, restarted every
            # 10 s), with no burn-in care running
            display.show(DisplayState(anime=0.0, cartoon=0.0, verdict="uncertain",
                                      message=text, dim=True))
    except Exception as exc:  # noqa: BLE001 - the log already has the error; screen is extra
        log.debug("could not show %r on the OLED: %s", text, exc)


def show_config_error(error: ConfigError, host: Host) -> None:
    """Best effort: put the bad key on the OLED (default settings) and leave it there."""
    show_startup_error(f"config error: {error.key}" if error.key else "config error - see log",
                       host)


def frozen_map(config: Config) -> Any:
    """The frozen frame's map maker when ``display.freeze_map`` is on, else ``None``."""
    if not config.display.freeze_map:
        return None
    from aoc.explain.live import FrozenMap

    return FrozenMap(budget=config.display.freeze_map_budget)
