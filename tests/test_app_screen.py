"""Tests for aoc.app.screen: guarded display, display options, buttons, config-error screen."""

from __future__ import annotations

from aoc.app.host import Host
from aoc.app.screen import GuardedDisplay, display_options, open_buttons, show_config_error
from aoc.config_sections import Config
from aoc.errors import ConfigError


def test_guarded_display_applies_burn_in_and_clears_on_close():
    from aoc.display.burnin import BurnInGuard
    from aoc.display.state import DisplayState

    class Threaded:
        fault = "display lost"

        def __init__(self):
            self.got, self.calls = [], []

        def submit(self, s):
            self.got.append(s)

        def clear(self):
            self.calls.append("clear")

        def close(self):
            self.calls.append("close")

    t = Threaded()
    now = [0.0]
    g = GuardedDisplay(t, BurnInGuard(dim_after_s=10, blank_after_s=None,
                                      clock=lambda: now[0]))
    state = DisplayState(anime=0.5, cartoon=0.1, verdict="anime")
    g.submit(state)
    now[0] = 11.0
    g.submit(state)
    assert [s.dim for s in t.got] == [False, True]
    assert g.fault == "display lost"
    g.close()
    assert t.calls == ["clear", "close"]


def test_the_screen_tells_the_loop_how_often_it_draws():
    from aoc.app.screen import open_screen
    from aoc.config import config_from_dict

    screen = open_screen(config_from_dict({"display": {"max_fps": 4.0}}), "null")
    try:
        assert screen.frame_interval_s == 0.25
    finally:
        screen.close()


def test_a_burn_in_setting_refused_opens_no_panel_and_starts_no_thread():
    """A Config built in code skips the file's rule checks: the guard's own refusal must
    come before a panel is opened and its drawing thread started, or both are left behind."""
    import dataclasses
    import threading

    import pytest

    from aoc.app.screen import open_screen

    config = Config()
    config = dataclasses.replace(
        config, display=dataclasses.replace(config.display, dim_after_s=100.0,
                                            blank_after_s=10.0))
    before = set(threading.enumerate())
    with pytest.raises(ConfigError, match="blank_after_s"):
        open_screen(config, "null")
    assert [t.name for t in set(threading.enumerate()) - before] == []


def test_the_screen_is_a_context_manager():
    from aoc.app.screen import open_screen

    with open_screen(Config(), "null") as screen:
        assert screen.threaded._thread.is_alive()
    assert not screen.threaded._thread.is_alive()


def test_display_options_match_constructors():
    config = Config()
    assert display_options(config, "oled")["i2c_address"] == 0x3C
    assert display_options(config, "emulated")["fmt"] == "png"
    assert display_options(config, "terminal") == {}


def test_the_emulated_display_path_is_expanded_like_the_start_up_check(monkeypatch, tmp_path):
    from aoc.config import config_from_dict

    monkeypatch.setenv("HOME", str(tmp_path))
    config = config_from_dict({"display": {"path": "~/shots/oled.png"}})
    assert display_options(config, "emulated")["path"] == str(tmp_path / "shots" / "oled.png")
    assert display_options(config, "emulated")["folder"] is None
    (tmp_path / "frames").mkdir()
    config = config_from_dict({"display": {"path": "~/frames"}})
    assert display_options(config, "emulated")["folder"] is True  # and stays one on reopen


def test_show_config_error_is_best_effort():
    show_config_error(ConfigError("bad", key="display.kind"), Host())  # not a Pi: nothing
    # On a "Pi" without an OLED the failure to open it is swallowed (logged at DEBUG).
    show_config_error(ConfigError("bad", key="display.kind"), Host(is_pi=True))


def test_open_buttons_needs_a_pi_or_a_pin_factory():
    from gpiozero.pins.mock import MockFactory

    from aoc.app.controls import NullControls
    from aoc.app.loop_options import LoopControls
    from aoc.config import config_from_dict

    def opened(config: Config, host: Host, **kw):
        return open_buttons(config, host, kind="null", controls=LoopControls(views=2),
                            on_shutdown=lambda: None, **kw)

    off = opened(config_from_dict({"controls": {"enabled": False}}), Host(is_pi=True))
    assert isinstance(off, NullControls) and off.reason == "disabled in config"
    not_pi = opened(Config(), Host())
    assert isinstance(not_pi, NullControls) and not_pi.reason == "not a Pi"
    factory = MockFactory()
    try:
        with opened(Config(), Host(), pin_factory=factory) as buttons:
            assert not isinstance(buttons, NullControls)
    finally:
        factory.reset()


def test_gpio2_and_3_are_refused_only_beside_an_oled_on_i2c_bus_1():
    from gpiozero.pins.mock import MockFactory

    from aoc.app.controls import NullControls
    from aoc.app.loop_options import LoopControls
    from aoc.config import config_from_dict

    def opened(display: dict):
        config = config_from_dict({"controls": {"power_pin": 3}, "display": display})
        return open_buttons(config, Host(), kind="oled", controls=LoopControls(views=2),
                            on_shutdown=lambda: None, pin_factory=factory)

    factory = MockFactory()
    try:
        refused = opened({"interface": "i2c", "i2c_port": 1})
        assert isinstance(refused, NullControls) and "GPIO3" in refused.reason
        for display in ({"interface": "i2c", "i2c_port": 3}, {"interface": "spi"}):
            with opened(display) as buttons:
                assert not isinstance(buttons, NullControls)
    finally:
        factory.reset()


def test_an_oled_missing_at_start_up_leaves_the_appliance_running_headless(tmp_path):
    """The README's headless box: no panel on the bus must not stop the service (a restart
    loop under Restart=on-failure); the panel is retried and the fault is the screen's."""
    from aoc.app.screen import open_screen
    from aoc.config import config_from_dict

    config = config_from_dict({"display": {"i2c_port": 31, "retry_interval_s": 60.0}})
    screen = open_screen(config, "oled")  # /dev/i2c-31 does not exist here
    try:
        assert screen.fault == "display lost" and screen.threaded.errors >= 1
        assert "/dev/i2c-31" in screen.threaded.last_error
    finally:
        screen.close()


def test_a_start_up_error_stays_on_the_panel():
    """No usable model at start-up: the service exits 69 and is restarted, and the panel,
    the only thing a visitor sees, said nothing (it stayed dark)."""
    from luma.core.device import dummy

    from aoc.app.screen import show_startup_error
    from aoc.display.oled import OledDisplay
    from aoc.display.render import to_text

    panels, commands = [], []

    class Serial:  # luma's serial interface, recording the commands sent
        def command(self, *cmd):
            commands.append(cmd)

        def data(self, data):
            pass

        def cleanup(self):
            pass

    def open_panel():
        panels.append(dummy(width=128, height=64, mode="1", serial_interface=Serial()))
        return OledDisplay(device=panels[-1], persist=True)

    show_startup_error("no usable model - see log", Host(is_pi=True), open_panel=open_panel)
    shown = to_text(panels[0].image)
    assert shown.count("#") > 200  # the fault box and its text, still lit after close
    from aoc.display.render import render
    from aoc.display.state import DisplayState

    expected = render(DisplayState(anime=0.0, cartoon=0.0, verdict="uncertain",
                                   message="no usable model - see log"))
    assert shown == to_text(expected)
    # dimmed: lit for days while systemd restarts the service, with no burn-in care
    from aoc.display.oled import DIM_CONTRAST

    assert commands[-1] == (0x81, DIM_CONTRAST)  # SETCONTRAST


def test_a_start_up_error_uses_the_configured_panel_and_no_other_display(monkeypatch):
    import aoc.display.oled
    from aoc.app.screen import show_startup_error
    from aoc.config import config_from_dict

    opened = []

    def recorder(**kwargs):
        opened.append(kwargs)
        raise OSError("no panel here")  # swallowed: the log already has the error

    monkeypatch.setattr(aoc.display.oled, "OledDisplay", recorder)
    show_startup_error("x", Host(is_pi=True),
                       config=config_from_dict({"display": {"kind": "terminal"}}))
    show_startup_error("x", Host())  # not a Pi, not under systemd
    assert opened == []
    show_startup_error("x", Host(is_pi=True),
                       config=config_from_dict({"display": {"i2c_address": 0x3D}}))
    assert opened[0]["i2c_address"] == 0x3D and opened[0]["persist"] is True


class RecordingLed:
    """The controls' set_status, recorded."""

    def __init__(self) -> None:
        self.statuses: list[str] = []

    def set_status(self, status: str) -> None:
        self.statuses.append(status)


def test_the_led_blinks_fault_while_frames_fail_to_classify():
    """A dead TPU with no CPU model to stand in: no result ever comes, so the LED stayed on
    "running" (or "starting") while the screen's fault text dimmed and blanked; the box
    looked like a healthy one resting."""
    from aoc.app.loop_stats import LoopStats
    from aoc.app.screen import LedHook

    led, stats = RecordingLed(), LoopStats()
    hook = LedHook(led)
    hook.on_start(None)
    stats.classifier_fault = stats.inference_error = "Edge TPU inference failed - retrying"
    hook.on_tick(stats)
    assert led.statuses == ["starting", "fault"]
    stats.classifier_fault, stats.inference_error = None, None  # classifying again
    hook.on_result(stats, True)
    assert led.statuses[-1] == "running"


def test_a_stand_in_model_is_a_notice_not_an_led_fault():
    """On a Pi without a Coral, "no TPU - on CPU" is the normal state: a LED blinking
    "fault" for good would hide every real fault."""
    from aoc.app.loop_stats import LoopStats
    from aoc.app.screen import LedHook
    from aoc.inference.failover import FAULT_NO_TPU

    led, stats = RecordingLed(), LoopStats()
    hook = LedHook(led)
    stats.classifier_fault = FAULT_NO_TPU
    hook.on_result(stats, True)
    hook.on_tick(stats)
    assert led.statuses == ["running"]
    stats.source_fault = "camera unavailable - retrying"
    hook.on_tick(stats)
    assert led.statuses == ["running", "fault"]
