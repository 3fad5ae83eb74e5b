"""Tests for aoc.app.wiring: wiring, fallbacks, controls, signals, no TensorFlow import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fakes.app_configs import make_config

from aoc.app import wiring as app_module
from aoc.app.host import Host
from aoc.app.wiring import run
from aoc.testing.soak_doubles import RecordingDisplay

ROOT = Path(__file__).resolve().parents[1]
WAIT = 5.0  # seconds; tests wait on events, this only bounds a failure
MODELS = ROOT / "tests" / "data" / "models"
HOST = Host()  # not a Pi, not systemd, no TTY, no state dir




@pytest.fixture
def screen(monkeypatch):
    rec = RecordingDisplay()
    monkeypatch.setattr(app_module, "open_screen", lambda config, kind: rec)
    return rec


def test_importing_app_and_cli_does_not_import_tensorflow():
    code = ("import sys, aoc.app.wiring, aoc.cli, aoc.app.loop, aoc.config; "
            "import aoc.inference.model_select; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'ai_edge_litert', 'tflite_runtime', 'cv2', 'gpiozero')))")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'device'}:{ROOT / 'training'}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.strip() == "[]"


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


def test_a_camera_that_worked_is_retried_not_replaced_by_the_demo(monkeypatch):
    """A glitch while reconnecting ``auto`` must not settle on the demo: it never fails,
    so the camera would never be tried again (the screen would show demo verdicts)."""
    import numpy as np

    import aoc.sources as sources
    from aoc.app.wiring import open_frames
    from aoc.errors import CameraError

    class Camera:
        name, is_live = "picamera2:0", True

        def open(self):
            pass

        def read(self):
            raise CameraError("camera 0 stopped delivering frames")

        def close(self):
            pass

    asked = []

    def fake_open_source(spec, *, demo_when_missing, **kw):
        asked.append(demo_when_missing)
        if len(asked) == 1:
            return Camera(), "picamera2 camera 0"
        if demo_when_missing:
            return sources.DemoSource(size=(32, 32)), "no camera found: the demo"
        raise CameraError("no camera found")

    monkeypatch.setattr(sources, "open_source", fake_open_source)
    config = make_config(camera={"source": "auto", "backoff": [0.0]})
    with open_frames(config, size=(32, 32)) as frames:
        results = [frames.read() for _ in range(4)]
    assert asked[0] is True and asked[1:] and not any(asked[1:])
    assert all(r is None for r in results)  # still down, still retrying the camera
    assert not any(isinstance(r, np.ndarray) for r in results)


def test_a_camera_that_comes_up_after_the_start_replaces_the_demo(monkeypatch):
    """With source auto, a camera not ready at start-up (a webcam enumerating late,
    libcamera slow at boot) was never tried again: the demo ran until a restart."""
    import numpy as np

    import aoc.sources as sources
    import aoc.sources.standin as standin
    from aoc.app.wiring import open_frames
    from aoc.errors import CameraError

    class Camera:
        name, is_live = "picamera2:0", True

        def open(self):
            pass

        def read(self):
            return np.full((32, 32, 3), 7, np.uint8)

        def close(self):
            pass

    asked = []

    def fake_open_source(spec, *, demo_when_missing, **kw):
        asked.append(demo_when_missing)
        if demo_when_missing:
            return sources.DemoSource(size=(32, 32)), "no camera found: the demo"
        if len(asked) < 3:
            raise CameraError("no camera found")
        return Camera(), "picamera2 camera 0 (imx708)"

    monkeypatch.setattr(sources, "open_source", fake_open_source)
    monkeypatch.setattr(standin, "RECHECK_S", 0.0)
    config = make_config(camera={"source": "auto", "backoff": [0.0]})
    with open_frames(config, size=(32, 32)) as frames:
        first = frames.read()
        assert frames.description[0].demo_for_missing_camera
        later = [frames.read() for _ in range(3)]
    assert not (first == 7).all() and (later[-1] == 7).all()
    assert asked == [True, False, False]  # looked again, found it, and stopped looking
    assert frames.description[0].description == "picamera2 camera 0 (imx708)"
    assert not frames.description[0].demo_for_missing_camera


def test_with_prefetch_the_camera_is_closed_once_and_never_under_a_read(monkeypatch):
    """On an Edge TPU the run entered the camera and the prefetcher around it each on its
    own: at shutdown the prefetcher left closing the camera to its worker, still inside a
    capture, and the run then closed the camera under that capture all the same."""
    import numpy as np

    import aoc.sources as sources
    from aoc.app.pipeline import PrefetchSource
    from aoc.app.wiring import open_frames

    reading, release, closed = threading.Event(), threading.Event(), threading.Event()
    events: list[str] = []

    class Camera:
        name, is_live, reads = "picamera2:0", True, 0

        def open(self):
            pass

        def read(self):
            self.reads += 1
            if self.reads > 1:  # a capture that takes its time
                reading.set()
                release.wait(WAIT)
                events.append("read returned")
            return np.zeros((48, 64, 3), np.uint8)

        def close(self):
            events.append("close")
            closed.set()

    monkeypatch.setattr(sources, "open_source",
                        lambda spec, **kw: (Camera(), "picamera2 camera 0"))
    config = make_config(camera={"source": "picamera2", "backoff": [0.0]})
    frames = open_frames(config, size=(32, 32), prefetch=True)
    assert isinstance(frames, PrefetchSource)
    with frames:
        assert frames.read() is not None
        assert reading.wait(WAIT)  # the worker is inside the camera's read
    assert events == []  # not closed under the read
    release.set()
    assert closed.wait(WAIT)
    assert events == ["read returned", "close"]


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




def test_a_failing_shutdown_does_not_tell_systemd_the_unit_is_stopping(tmp_path):
    """STOPPING=1 makes systemd stop the unit (SIGKILL after TimeoutStopSec) whatever the
    process does next; after a power-button hold the command decides: a poweroff stops the
    unit anyway, a failed one starts the appliance again in the same process."""
    import socket

    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))

    class Hold:
        def on_result(self, stats, first):
            if first:
                factory.pin(26).drive_low()

    config = make_config(controls={"enabled": True, "hold_time_s": 0.5},
                         service={"shutdown_command": "false"})
    try:
        result = run(config, Host(notify_socket=str(path)), hooks=[Hold()],
                     pin_factory=factory, default_dirs=[MODELS / "uint8"], duration_s=30.0)
        sock.setblocking(False)
        sent = []
        while True:
            try:
                sent.append(sock.recv(4096).decode())
            except BlockingIOError:
                break
    finally:
        factory.reset()
        sock.close()
    assert result.shutdown_requested and result.shutdown_failed
    assert any(m.startswith("READY=1") for m in sent)
    assert not any("STOPPING=1" in m for m in sent)
    assert any("power button: shutting down" in m for m in sent)


def test_failing_shutdown_command_is_logged_and_reported(caplog):
    from aoc.app.wiring import run_shutdown_command

    def gone(argv, check):
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    assert "could not run" in run_shutdown_command("halt-it now", runner=gone)
    failed = subprocess.CompletedProcess(["false"], 1)
    assert "exit status 1" in run_shutdown_command("false", runner=lambda a, check: failed)
    assert "keeps running" in caplog.text
    ok = subprocess.CompletedProcess(["true"], 0)
    assert run_shutdown_command("true", runner=lambda a, check: ok) is None




def test_the_emulated_screen_goes_to_numbered_frames_in_a_folder(tmp_path):
    """A folder is what a user gives to keep every picture (EmulatedDisplay numbers them)."""
    pytest.importorskip("luma.emulator")
    frames = tmp_path / "frames"
    frames.mkdir()
    config = make_config(display={"kind": "emulated", "path": str(frames), "max_fps": 60.0})
    result = run(config, HOST, max_frames=3, default_dirs=[MODELS / "uint8"])
    assert result.stats.frames == 3 and sorted(frames.glob("frame_*.png"))
