"""Tests for aoc.app: wiring, fallbacks, controls, signals, no TensorFlow import."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from aoc import app as app_module
from aoc.app import (
    GuardedDisplay,
    Host,
    classifier_opener,
    display_options,
    resolve_display_kind,
    root_refusal,
    run,
    show_config_error,
    source_resize,
    stop_on_signals,
)
from aoc.config import Config, config_from_dict
from aoc.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "data" / "models"
HOST = Host()  # not a Pi, not systemd, no TTY, no state dir


def make_config(**sections) -> Config:
    base = {"camera": {"source": "demo"}, "display": {"kind": "null"},
            "controls": {"enabled": False}}
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return config_from_dict(base)


class Recording:
    """Stands in for the threaded screen: records every state, has a fault slot."""

    def __init__(self):
        self.states, self.fault, self.closed = [], None, 0

    def submit(self, state):
        self.states.append(state)

    def close(self):
        self.closed += 1


@pytest.fixture
def screen(monkeypatch):
    rec = Recording()
    monkeypatch.setattr(app_module, "open_screen", lambda config, kind: rec)
    return rec


def test_importing_app_and_cli_does_not_import_tensorflow():
    code = ("import sys, aoc.app, aoc.cli, aoc.loop, aoc.config, aoc.model_select; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'ai_edge_litert', 'tflite_runtime', 'cv2', 'gpiozero')))")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'device'}:{ROOT / 'training'}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("kind", "host", "expected"),
    [
        ("auto", Host(is_pi=True), "oled"),
        ("auto", Host(under_systemd=True), "oled"),
        ("auto", Host(stdout_tty=True), "terminal"),
        ("auto", Host(), "null"),
        ("emulated", Host(is_pi=True), "emulated"),
    ],
)
def test_display_kind_resolution(kind, host, expected):
    assert resolve_display_kind(kind, host) == expected


def test_host_probe_reads_the_given_environment():
    host = Host.probe({"INVOCATION_ID": "x", "STATE_DIRECTORY": "/var/lib/aoc",
                       "NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "2000000"})
    assert host.under_systemd and host.state_dir == Path("/var/lib/aoc")
    assert host.notify_socket == "/run/n" and host.watchdog_usec == 2_000_000
    assert not Host.probe({}).under_systemd


def test_host_probe_honours_watchdog_pid_and_euid():
    env = {"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "42"}
    assert Host.probe(env, pid=42).watchdog_usec == 2_000_000
    other = Host.probe(env, pid=43)  # the watchdog is another process's
    assert other.watchdog_usec is None and other.notify_socket == "/run/n"
    assert Host.probe({}, euid=0).as_root and not Host.probe({}, euid=1000).as_root


def test_root_under_systemd_is_refused_unless_allowed(caplog):
    root = Host(under_systemd=True, as_root=True)
    assert root_refusal(make_config(), Host(as_root=True)) is None  # by hand: not checked
    assert root_refusal(make_config(), Host(under_systemd=True)) is None
    assert not caplog.records
    refusal = root_refusal(make_config(), root)
    assert refusal is not None and "service.allow_root" in refusal and "User=aoc" in refusal
    assert root_refusal(make_config(service={"allow_root": True}), root) is None
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and "root" in errors[0].getMessage()  # logged loudly both times


def test_run_end_to_end_on_demo(screen, tmp_path):
    config = make_config()
    host = Host(state_dir=tmp_path)
    result = run(config, host, max_frames=5, default_dirs=[MODELS / "uint8"],
                 process_age=lambda: 1.25)
    assert result.stats.frames == 5 and result.stats.backend == "cpu"
    assert result.startup_s == 1.25 and result.peak_rss_mb > 0
    assert result.source == "the built-in demo source" and result.display == "null"
    assert "tiny-uint8" in result.model and not result.warnings
    assert len(screen.states) >= 5 and screen.closed == 1
    d = result.to_dict()
    assert {"frames", "fps", "backend", "reason", "stages_ms", "startup_s",
            "peak_rss_mb"} <= set(d)


def test_corrupt_configured_bundle_falls_back_with_message(screen, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(MODELS / "uint8", bad)
    (bad / "labels.txt").write_text("anime\ncartoon\n")
    config = make_config(model={"bundle": str(bad)})
    result = run(config, Host(), max_frames=2, default_dirs=[MODELS / "int8"])
    assert "tiny-int8" in result.model
    assert result.warnings and "labels" in result.warnings[0]
    assert screen.states[-1].message == "model error - using packaged default model"


def test_fallback_off_refuses(screen, tmp_path):
    from aoc.errors import BundleError

    config = make_config(model={"bundle": str(tmp_path / "absent"), "fallback": False})
    with pytest.raises(BundleError):
        run(config, Host(), max_frames=1, default_dirs=[MODELS / "int8"])


def test_missing_camera_runs_demo_and_says_so(screen):
    config = make_config(camera={"source": "auto"})
    result = run(config, Host(), max_frames=2, default_dirs=[MODELS / "uint8"])
    assert result.source.startswith("no camera found")
    assert screen.states[-1].message == "no camera - demo"


def test_camera_required_waits_instead_of_demo(screen, caplog):
    stop = threading.Event()

    class StopAfterTicks:
        n = 0

        def on_tick(self, stats):
            self.n += 1
            if self.n >= 3:
                stop.set()

    config = make_config(camera={"source": "auto", "demo_when_missing": False,
                                 "backoff": [60.0]})
    result = run(config, Host(), stop=stop, hooks=[StopAfterTicks()],
                 default_dirs=[MODELS / "uint8"])
    assert result.stats.frames == 0 and result.stats.faults["camera"] == 1
    assert "camera unavailable" in screen.states[-1].message
    assert "demo_when_missing is false" in caplog.text


def test_buttons_freeze_and_view_with_mock_pins(screen):
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    stop = threading.Event()

    class Press:
        def __init__(self):
            self.ticks = 0

        def on_result(self, stats, first):
            if first:
                factory.pin(17).drive_low()  # freeze
                factory.pin(27).drive_low()  # view

        def on_tick(self, stats):
            self.ticks += 1
            if self.ticks >= 5:
                stop.set()

    config = make_config(controls={"enabled": True})
    try:
        result = run(config, Host(), stop=stop, hooks=[Press()], pin_factory=factory,
                     default_dirs=[MODELS / "uint8"])
    finally:
        factory.reset()
    assert result.stats.frames == 1
    assert screen.states[-1].frozen and screen.states[-1].view == 1


def test_power_button_hold_requests_shutdown(screen, tmp_path):
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    marker = tmp_path / "shutdown-ran"

    class Hold:
        def on_result(self, stats, first):
            if first:
                factory.pin(26).drive_low()

    config = make_config(controls={"enabled": True, "hold_time_s": 0.5},
                         service={"shutdown_command": f"touch {marker}"})
    stop = threading.Event()
    try:
        result = run(config, Host(), stop=stop, hooks=[Hold()], pin_factory=factory,
                     default_dirs=[MODELS / "uint8"], duration_s=30.0)
    finally:
        factory.reset()
    assert result.shutdown_requested and stop.is_set()
    assert marker.exists()


def test_sigterm_sets_stop_and_handlers_are_restored():
    stop = threading.Event()
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before


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


def test_display_options_match_constructors():
    config = Config()
    assert display_options(config, "oled")["i2c_address"] == 0x3C
    assert display_options(config, "emulated")["fmt"] == "png"
    assert display_options(config, "terminal") == {}


def test_cpu_backend_never_probes_the_tpu():
    def probe():
        raise AssertionError("TPU probed")

    opener = classifier_opener(make_config(inference={"backend": "cpu"}), tpu_probe=probe)
    from aoc.bundle import load_bundle

    with opener(load_bundle(MODELS / "uint8")) as clf:
        assert clf.backend == "cpu"


def test_show_config_error_is_best_effort():
    show_config_error(ConfigError("bad", key="display.kind"), Host())  # not a Pi: nothing
    # On a "Pi" without an OLED the failure to open it is swallowed (logged at DEBUG).
    show_config_error(ConfigError("bad", key="display.kind"), Host(is_pi=True))


@pytest.mark.parametrize(("probe", "isolate"), [(False, True), (True, False)])
def test_tpu_bundle_without_a_tpu_fails_over_to_cpu(probe, isolate):
    """A bundle with an Edge TPU model on a machine without TPU/libedgetpu runs on the CPU."""
    import dataclasses

    from aoc.bundle import load_bundle

    bundle = load_bundle(MODELS / "uint8")
    tpu_bundle = dataclasses.replace(bundle, edgetpu_model=bundle.cpu_model)
    config = make_config(inference={"backend": "auto", "isolate_tpu": isolate})
    with classifier_opener(config, tpu_probe=lambda: probe)(tpu_bundle) as clf:
        assert clf.backend == "cpu"
        assert clf.fault == "no TPU - on CPU"
        assert "Edge TPU unavailable" in clf.reason
        assert clf.classify(np.zeros((32, 32, 3), np.uint8)).shape == (3,)


def test_source_resize_is_the_manifest_name_the_sources_accept():
    from types import SimpleNamespace

    from aoc.sources.base import check_resize_mode

    for name in ("stretch", "center_crop", "letterbox"):
        bundle = SimpleNamespace(input=SimpleNamespace(resize=name))
        assert check_resize_mode(source_resize(bundle)) == name
    assert source_resize(SimpleNamespace(input=None)) == "stretch"  # bare model
