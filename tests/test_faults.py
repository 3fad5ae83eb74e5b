"""Faults the appliance survives, driven through the real loop (and app) with aoc.testing.faults.

Each test runs :func:`aoc.app.loop.run_loop` with the tiny real CPU model and the production
recovery wrappers (ResilientSource, FailoverClassifier, ThreadedDisplay) around fault
injectors, and a scripted hook that changes the fault situation from inside the loop (no
sleeps) and stops the loop when the script is done. Each fault must show on the screen
(the DisplayState's message / backend badge) and in the log, and never end the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aoc.app.loop import run_loop
from aoc.app.smoothing import Smoother
from aoc.display.threaded import ThreadedDisplay
from aoc.errors import CameraError, ConfigError, DisplayError, EdgeTpuUnavailable, InferenceError
from aoc.inference.bundle import load_bundle
from aoc.inference.classifier import open_classifier
from aoc.inference.failover import FAULT_NO_TPU, FAULT_TPU_LOST, FailoverClassifier
from aoc.sources.resilient import ResilientSource
from aoc.testing.faults import FaultSchedule, FaultyClassifier, FaultyDisplay, FaultySource
from aoc.testing.soak_doubles import RecordingDisplay, SyntheticSource

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "data" / "models" / "uint8"

Step = Callable[[Any], bool]


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(MODEL)


@pytest.fixture
def cpu(bundle):
    clf = open_classifier(bundle, prefer="cpu")
    yield clf
    clf.close()


class Script:
    """Loop hook running ``steps`` in order from ``on_tick``; each returns True when done.

    When the last step is done the loop is stopped. ``seen`` keeps every display message and
    backend the loop reported, for the assertions.
    """

    def __init__(self, stop: threading.Event, *steps: Step) -> None:
        self.stop = stop
        self.steps = list(steps)
        self.done = 0

    def on_start(self, info: Any) -> None: ...

    def on_result(self, stats: Any, first: bool) -> None: ...

    def on_tick(self, stats: Any) -> None:
        while self.done < len(self.steps) and self.steps[self.done](stats):
            self.done += 1
        if self.done == len(self.steps):
            self.stop.set()

    def on_stop(self, stats: Any) -> None: ...


def after_frames(n: int, action: Callable[[], None] | None = None) -> Step:
    """Done once ``n`` more frames were classified (counted from when the step starts)."""
    start: list[int] = []

    def step(stats: Any) -> bool:
        if not start:
            start.append(stats.frames)
            if action is not None:
                action()
        return stats.frames - start[0] >= n

    return step


def until(predicate: Callable[[Any], bool], action: Callable[[], None] | None = None) -> Step:
    """Run ``action`` once, then done when ``predicate(stats)`` holds."""
    fired: list[bool] = []

    def step(stats: Any) -> bool:
        if not fired:
            fired.append(True)
            if action is not None:
                action()
        return predicate(stats)

    return step


class History:
    """A display that records every state it is shown (for 'what did the screen say')."""

    def __init__(self) -> None:
        self.size = (128, 64)
        self.states: list[Any] = []
        self.cleared = 0

    def show(self, state: Any) -> None:
        self.states.append(state)

    def clear(self) -> None:
        self.cleared += 1

    def close(self) -> None: ...

    def messages(self) -> list[str]:
        return [s.message for s in self.states if s.message]


def run(source, classifier, display, *steps: Step, duration_s: float = 60.0):
    stop = threading.Event()
    script = Script(stop, *steps)
    stats = run_loop(source, classifier, Smoother(classifier.labels), display, stop=stop,
                     hooks=[script], idle_wait_s=0.001, duration_s=duration_s)
    assert script.done == len(script.steps), f"script stuck at step {script.done}: {stats}"
    return stats


def camera(cpu, **schedules: FaultSchedule) -> tuple[ResilientSource, dict[str, FaultSchedule]]:
    read = schedules.get("read") or FaultSchedule(name="camera read")
    opening = schedules.get("open") or FaultSchedule(name="camera open")
    source = ResilientSource(
        lambda: FaultySource(SyntheticSource(cpu.input_size), read_faults=read,
                             open_faults=opening),
        backoff=(0.0, 0.001), idle_s=0.001,
    )
    return source, {"read": read, "open": opening}


# -- camera ---------------------------------------------------------------------------------


def test_no_camera_at_start_then_it_appears(cpu, caplog) -> None:
    source, faults = camera(cpu)
    faults["open"].down = True
    screen = History()
    with caplog.at_level(logging.WARNING), source:
        stats = run(
            source, cpu, screen,
            until(lambda s: s.iterations >= 20 and s.source_fault is not None),
            until(lambda s: s.frames >= 5, action=lambda: setattr(faults["open"], "down", False)),
        )
    assert faults["open"].injected >= 2  # retried with back-off, not given up
    assert source.recoveries == 1
    assert any("camera unavailable" in m for m in screen.messages())
    assert stats.frames >= 5 and stats.source_fault is None
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert 1 <= len(warnings) <= 2  # logged once per state change, not once per retry


def test_camera_failing_mid_run_keeps_the_last_reading(cpu) -> None:
    source, faults = camera(cpu)
    screen = History()
    down_states: list[Any] = []

    def note_down(stats: Any) -> bool:
        down_states.append(screen.states[-1])
        return len(down_states) >= 10

    with source:
        stats = run(
            source, cpu, screen,
            after_frames(10),
            until(lambda s: s.source_fault is not None,
                  action=lambda: setattr(faults["read"], "down", True)),
            note_down,
            until(lambda s: s.source_fault is None,
                  action=lambda: setattr(faults["read"], "down", False)),
            after_frames(5),
        )
    last_good = next(s for s in reversed(screen.states[: screen.states.index(down_states[0])])
                     if s.message is None or "camera" not in s.message)
    for state in down_states:
        assert "camera lost" in state.message
        assert (state.anime, state.cartoon, state.verdict) == (
            last_good.anime, last_good.cartoon, last_good.verdict)
    assert stats.faults["camera"] == 1
    assert source.recoveries >= 1


def test_camera_errors_at_a_rate_never_stop_the_loop(cpu) -> None:
    source, faults = camera(cpu, read=FaultSchedule(0.2, seed=4, name="camera read"))
    with source:
        stats = run(source, cpu, History(), after_frames(300))
    assert faults["read"].injected > 30
    assert source.failures == faults["read"].injected
    assert stats.frames >= 300


# -- Edge TPU ---------------------------------------------------------------------------------


def failover(bundle, tpu_faults: FaultSchedule, tpu_open: FaultSchedule, *, kind="error",
             reprobe_s: float = 0.0):
    def open_tpu():
        if tpu_open.fire():
            raise EdgeTpuUnavailable("injected fault: no Edge TPU found on usb")
        if kind == "kill":
            from aoc.inference.isolated import open_isolated_classifier

            inner = open_isolated_classifier(bundle, prefer="cpu")
        else:
            inner = open_classifier(bundle, prefer="cpu")
        return FaultyClassifier(inner, faults=tpu_faults, kind=kind, backend="edgetpu")

    return FailoverClassifier(open_tpu, lambda: open_classifier(bundle, prefer="cpu"),
                              reprobe_interval_s=reprobe_s)


def test_no_tpu_at_start_runs_on_cpu_with_badge_and_reprobes(bundle, cpu) -> None:
    tpu_open = FaultSchedule(name="tpu open")
    tpu_open.down = True
    source, _ = camera(cpu)
    screen = History()
    with failover(bundle, FaultSchedule(name="tpu"), tpu_open) as clf, source:
        assert clf.backend == "cpu" and clf.fault == FAULT_NO_TPU
        stats = run(
            source, clf, screen,
            after_frames(5),
            until(lambda s: s.backend == "edgetpu",
                  action=lambda: setattr(tpu_open, "down", False)),
            after_frames(5),
        )
        assert clf.reprobes >= 1
    cpu_states = [s for s in screen.states if s.backend == "cpu"]
    assert cpu_states and all(s.message == FAULT_NO_TPU for s in cpu_states if s.fps)
    assert screen.states[-1].backend == "edgetpu" and screen.states[-1].message is None
    assert stats.faults["inference"] == 0


def test_tpu_lost_mid_run_continues_on_cpu_then_returns(bundle, cpu, caplog) -> None:
    tpu_faults = FaultSchedule(name="tpu")
    source, _ = camera(cpu)
    screen = History()
    with caplog.at_level(logging.WARNING), source, \
            failover(bundle, tpu_faults, FaultSchedule(name="tpu open"), reprobe_s=0.05) as clf:
        stats = run(
            source, clf, screen,
            after_frames(5),
            until(lambda s: s.backend == "cpu", action=lambda: tpu_faults.fail_next(1)),
            until(lambda s: s.backend == "edgetpu"),
            after_frames(3),
        )
        assert clf.failovers == 1
    assert FAULT_TPU_LOST in screen.messages()
    assert stats.faults["inference"] == 0  # the failed frame was re-run on the CPU
    assert any("Edge TPU failed mid-run" in r.getMessage() for r in caplog.records)


def test_killed_inference_child_is_survived(bundle, cpu) -> None:
    tpu_faults = FaultSchedule(name="tpu child")
    source, _ = camera(cpu)
    screen = History()
    with source, failover(bundle, tpu_faults, FaultSchedule(name="tpu open"), kind="kill",
                          reprobe_s=0.05) as clf:
        pid = clf.current.inner.pid
        stats = run(
            source, clf, screen,
            after_frames(3),
            until(lambda s: s.backend == "cpu", action=lambda: tpu_faults.fail_next(1)),
            until(lambda s: s.backend == "edgetpu"),
            after_frames(3),
        )
        assert clf.current.inner.pid != pid  # a fresh child after the re-probe
    assert FAULT_TPU_LOST in screen.messages()
    assert stats.faults["inference"] == 0


def test_cpu_inference_errors_skip_frames_not_the_loop(cpu) -> None:
    faults = FaultSchedule(0.1, seed=2, name="cpu")
    source, _ = camera(cpu)
    screen = History()
    with source:
        stats = run(source, FaultyClassifier(cpu, faults=faults), screen, after_frames(200))
    assert faults.injected > 5
    assert stats.faults["inference"] == faults.injected
    assert any("cpu inference failed" in m for m in screen.messages())


# -- display ----------------------------------------------------------------------------------


def test_no_display_runs_headless_and_recovers(cpu, caplog) -> None:
    panel = RecordingDisplay()
    faults = FaultSchedule(name="display")
    faults.down = True
    source, _ = camera(cpu)
    with caplog.at_level(logging.ERROR), source, ThreadedDisplay(
        FaultyDisplay(panel, faults=faults), max_fps=0, retry_interval_s=0.001
    ) as display:
        stats = run(
            source, cpu, display,
            until(lambda s: s.display_fault is not None),
            after_frames(50),  # headless: the loop keeps classifying
            until(lambda s: s.display_fault is None,
                  action=lambda: setattr(faults, "down", False)),
            after_frames(5),
        )
        assert panel.wait_for(lambda s: s is not None and s.anime == stats.anime, 10.0)
    assert panel.last.backend == "cpu"
    lost = [r for r in caplog.records if "display lost" in r.getMessage()]
    assert len(lost) == 1  # one journal line for the whole outage


def test_display_errors_at_a_rate(cpu) -> None:
    faults = FaultSchedule(0.3, seed=5, name="display")
    panel = RecordingDisplay()
    source, _ = camera(cpu)
    with source, ThreadedDisplay(FaultyDisplay(panel, faults=faults), max_fps=0,
                                 retry_interval_s=0.0) as display:
        # The drawer shows only changed states, latest-wins: how many draws 300 frames give
        # depends on the machine's load. Run until enough faults were really injected.
        stats = run(source, cpu, display, until(lambda _: faults.injected > 5))
        assert panel.wait_for(lambda s: s is not None and s.anime == stats.anime, 10.0)
    assert faults.injected > 5 and display.errors == faults.injected


# -- the wrappers themselves ------------------------------------------------------------------


def test_schedule_rate_is_seeded_and_forced_failures_come_first() -> None:
    a, b = FaultSchedule(0.3, seed=9), FaultSchedule(0.3, seed=9)
    assert [a.fire() for _ in range(200)] == [b.fire() for _ in range(200)]
    assert 30 < a.injected < 90
    never = FaultSchedule(0.0)
    never.fail_next(2)
    assert [never.fire() for _ in range(4)] == [True, True, False, False]
    with pytest.raises(ConfigError):
        FaultSchedule(1.5)


def test_wrappers_raise_the_projects_errors(cpu) -> None:
    always = FaultSchedule(1.0)
    src = FaultySource(SyntheticSource((8, 8)), read_faults=always, open_faults=always)
    with pytest.raises(CameraError):
        src.open()
    with pytest.raises(CameraError):
        src.read()
    clf = FaultyClassifier(cpu, faults=always, backend="edgetpu")
    assert clf.backend == "edgetpu" and clf.labels == cpu.labels
    clf.preprocess(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(InferenceError, match="Edge TPU cable"):
        clf.invoke()
    disp = FaultyDisplay(RecordingDisplay(), faults=always)
    with pytest.raises(DisplayError):
        disp.show(None)
    assert disp.frame_key("x") == "x"  # anything not faked is the inner display's
    with pytest.raises(ConfigError):
        FaultyClassifier(cpu, kind="kill")  # no child process to kill
    with pytest.raises(ConfigError):
        FaultyClassifier(cpu, kind="melt")


# -- the whole app: model bundle, config, SIGTERM ----------------------------------------------


def app_config(tmp_path: Path, **sections: dict[str, Any]):
    from aoc.config import config_from_dict

    data: dict[str, dict[str, Any]] = {
        "camera": {"source": "demo"}, "display": {"kind": "null"},
        "controls": {"enabled": False}, "model": {"bundle": str(MODEL)},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config_from_dict(data)


def corrupt_copy(tmp_path: Path) -> Path:
    import shutil

    bad = tmp_path / "corrupt-bundle"
    shutil.copytree(MODEL, bad)
    model = bad / "model.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: the manifest's sha256 no longer matches
    model.write_bytes(bytes(data))
    return bad


def test_corrupt_bundle_falls_back_to_the_default_with_a_clear_error(tmp_path, caplog) -> None:
    from aoc.app.host import Host
    from aoc.app.wiring import run as run_app

    config = app_config(tmp_path, model={"bundle": str(corrupt_copy(tmp_path))})
    with caplog.at_level(logging.ERROR):
        result = run_app(config, Host(), max_frames=5, default_dirs=[MODEL])
    assert result.stats.frames == 5
    assert str(MODEL) in result.model
    assert any("corrupt-bundle" in w for w in result.warnings)
    assert any("corrupt-bundle" in r.getMessage() for r in caplog.records)


def test_missing_bundle_without_fallback_is_a_clear_error(tmp_path) -> None:
    from aoc.app.host import Host
    from aoc.app.wiring import run as run_app
    from aoc.errors import BundleError

    config = app_config(tmp_path, model={"bundle": str(tmp_path / "gone"), "fallback": False})
    with pytest.raises(BundleError) as info:
        run_app(config, Host(), max_frames=5, default_dirs=[MODEL])
    assert "gone" in str(info.value)


def test_sigterm_in_process_clears_and_closes_the_display(tmp_path, monkeypatch) -> None:
    import os
    import signal

    import aoc.display
    from aoc.app.host import Host
    from aoc.app.wiring import run as run_app

    panels: list[History] = []

    def fake_open_display(kind: str, **opts: Any) -> History:
        panels.append(History())
        return panels[-1]

    monkeypatch.setattr(aoc.display, "open_display", fake_open_display)

    class SendSigterm:
        def on_result(self, stats: Any, first: bool) -> None:
            if stats.frames == 5:
                os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    result = run_app(app_config(tmp_path), Host(), hooks=[SendSigterm()], duration_s=60.0)
    assert signal.getsignal(signal.SIGTERM) is previous  # handler restored
    assert 5 <= result.stats.frames < 50  # stopped by the signal, not by the duration
    (panel,) = panels
    assert panel.cleared >= 1  # the screen is blanked on the way out


def _python_env(tmp_path: Path) -> dict[str, str]:
    """The app's environment with HOME, XDG_* and STATE_DIRECTORY in ``tmp_path``: a run
    records its last good bundle there, never in the real home."""
    import os

    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("INVOCATION_ID", "JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                        "WATCHDOG_PID")}
    return {**env, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "device"), os.environ.get("PYTHONPATH", "")]),
        "HOME": str(home), "STATE_DIRECTORY": str(tmp_path / "state"),
        "XDG_STATE_HOME": str(home / ".local/state"), "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share")}


def test_bad_config_refuses_to_start_naming_the_key(tmp_path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "config.toml"
    bad.write_text('[display]\nkind = "hologram"\n')
    proc = subprocess.run([sys.executable, "-m", "aoc", "run", "--config", str(bad)],
                          capture_output=True, text=True, timeout=120, env=_python_env(tmp_path))
    assert proc.returncode == 78  # EX_CONFIG: RestartPreventExitStatus=78, no crash loop
    assert "display.kind" in proc.stderr


@pytest.mark.parametrize("signum", [15, 1], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_subprocess_clean_exit_under_fake_systemd(tmp_path, signum) -> None:
    import socket
    import subprocess
    import sys

    psutil = pytest.importorskip("psutil")
    frames = tmp_path / "frames"
    frames.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[camera]\nsource = "demo"\n[model]\nbundle = "{MODEL}"\n'
        f'[display]\nkind = "emulated"\npath = "{frames}/frame_{{0:06}}.png"\n'
        "[controls]\nenabled = false\n"
    )
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(60.0)
    env = {**_python_env(tmp_path), "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
           "WATCHDOG_USEC": "2000000"}
    proc = subprocess.Popen([sys.executable, "-m", "aoc", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        messages: list[str] = []
        while not any("READY=1" in m for m in messages):
            messages.append(notify.recv(4096).decode())
        while not any("WATCHDOG=1" in m for m in messages):
            messages.append(notify.recv(4096).decode())
        # Security: the running appliance has no network socket at all.
        conns = psutil.Process(proc.pid).net_connections(kind="all")
        assert [c for c in conns if c.family.name in ("AF_INET", "AF_INET6")
                or c.status == psutil.CONN_LISTEN] == []
        proc.send_signal(signum)
        while not any("STOPPING=1" in m for m in messages):
            messages.append(notify.recv(4096).decode())
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        notify.close()
    assert proc.returncode == 0, err
    assert f"{'SIGTERM' if signum == 15 else 'SIGHUP'} received" in err
    assert out.startswith("frames: ")
    # the run recorded its bundle in the isolated state folder, not in the real home
    assert (tmp_path / "state" / "last-good-bundle").read_text().strip() == str(MODEL.resolve())
    shots = sorted(frames.glob("frame_*.png"))
    assert shots  # the emulated OLED drew the readings
    from PIL import Image

    with Image.open(shots[-1]) as last:
        width, height = last.size  # the emulator may scale the 128x64 panel
        assert width == 2 * height
        assert last.convert("L").getextrema()[1] > 0  # a reading was on screen, not a crash


def test_start_up_faults_damaged_state_and_bad_configs(tmp_path) -> None:
    from aoc.testing.faults import BAD_CONFIGS, DAMAGED_STATE_RECORDS, start_up_faults

    counts = start_up_faults(tmp_path, MODEL)
    assert counts == {"damaged_state_records": len(DAMAGED_STATE_RECORDS),
                      "state_records_survived": len(DAMAGED_STATE_RECORDS),
                      "bad_configs": len(BAD_CONFIGS),
                      "bad_configs_refused": len(BAD_CONFIGS)}
