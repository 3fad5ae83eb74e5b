"""aoc.app.notify: sd_notify over a real datagram socket, driven by the real capture loop.

systemd is stood in for by an ``AF_UNIX``/``SOCK_DGRAM`` socket bound in ``tmp_path`` (and
one in the abstract namespace). The watchdog test drives :func:`aoc.app.loop.run_loop` with the
tiny real CPU model and a source whose ``read`` blocks on an Event, and checks that the
WATCHDOG feed stops while the loop is stalled and resumes after.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from aoc.app.notify import SystemdNotifier, format_status, notifier_settings

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "data" / "models" / "uint8"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10.0)
    try:
        yield sock, str(path)
    finally:
        sock.close()


def receive(sock: socket.socket, timeout: float = 10.0) -> dict[str, str]:
    sock.settimeout(timeout)
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


def drain(sock: socket.socket) -> list[dict[str, str]]:
    messages = []
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(4096).decode()
            messages.append(dict(line.split("=", 1) for line in data.split("\n")))
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)
    return messages


def receive_until(sock: socket.socket, key: str, timeout: float = 10.0) -> dict[str, str]:
    while True:
        message = receive(sock, timeout)
        if key in message:
            return message


def stats(**kw: object) -> SimpleNamespace:
    base = {"backend": "cpu", "fps": 29.71, "frames": 12, "verdict": "anime",
            "source_fault": None, "classifier_fault": None, "display_fault": None}
    return SimpleNamespace(**{**base, **kw})


# -- settings from the environment ---------------------------------------------------------


def test_settings_from_environment() -> None:
    env = {"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000",
           "WATCHDOG_PID": "42"}
    assert notifier_settings(env, pid=42) == ("/run/systemd/notify", 30_000_000)
    # A watchdog meant for another process (our parent) is not ours to feed.
    assert notifier_settings(env, pid=7).watchdog_usec is None
    assert notifier_settings({**env, "WATCHDOG_PID": ""}, pid=7).watchdog_usec == 30_000_000
    assert notifier_settings({}, pid=1) == (None, None)
    assert notifier_settings({"WATCHDOG_USEC": "soon"}, pid=1).watchdog_usec is None
    assert notifier_settings({"WATCHDOG_USEC": "0"}, pid=1).watchdog_usec is None


def test_no_socket_means_no_op() -> None:
    notifier = SystemdNotifier(None, watchdog_usec=1_000_000)
    assert not notifier.enabled
    notifier.on_start(None)
    notifier.on_result(stats(), True)
    notifier.on_tick(stats())
    notifier.on_stop(stats())
    assert notifier.notify(READY=1) is False
    assert notifier.sent == {"READY": 0, "WATCHDOG": 0, "STATUS": 0, "STOPPING": 0}
    notifier.close()
    notifier.close()


def test_format_status_shows_backend_and_fps() -> None:
    assert format_status(stats()) == "backend=cpu fps=29.7 frames=12 verdict=anime"
    text = format_status(stats(source_fault="camera lost - retrying in 5 s"))
    assert "source_fault='camera lost - retrying in 5 s'" in text
    assert format_status(object()) == "running"


# -- the protocol on a real socket ---------------------------------------------------------


def test_ready_once_status_and_stopping(systemd_socket) -> None:
    sock, path = systemd_socket
    clock = FakeClock()
    with SystemdNotifier(path, clock=clock, status_interval_s=5.0) as notifier:
        notifier.on_start(None)
        assert receive(sock)["STATUS"].startswith("starting")
        notifier.on_result(stats(), True)
        ready = receive(sock)
        assert ready["READY"] == "1"
        assert ready["STATUS"] == "backend=cpu fps=29.7 frames=12 verdict=anime"
        notifier.on_result(stats(frames=13), False)  # within the status interval: nothing
        clock.t += 5.0
        notifier.on_result(stats(frames=99, fps=30.0), False)
        assert receive(sock) == {"STATUS": "backend=cpu fps=30.0 frames=99 verdict=anime"}
        notifier.on_result(stats(), True)  # a second "first" never re-sends READY
        notifier.on_stop(stats())
        stopping = receive(sock)
        assert stopping["STOPPING"] == "1"
        assert drain(sock) == []
        assert notifier.sent["READY"] == 1


def test_a_stop_that_may_not_be_final_sends_no_stopping(systemd_socket) -> None:
    sock, path = systemd_socket
    with SystemdNotifier(path, stop_is_final=lambda: False) as notifier:
        notifier.on_stop(stats())
        message = receive(sock)
        assert "STOPPING" not in message and message["STATUS"].startswith("power button")
        assert notifier.sent["STOPPING"] == 0


def test_watchdog_rate_capped_to_half_the_period(systemd_socket) -> None:
    sock, path = systemd_socket
    clock = FakeClock()
    notifier = SystemdNotifier(path, watchdog_usec=2_000_000, clock=clock, ready_grace_s=None)
    assert notifier.watchdog_interval_s == 1.0
    notifier.on_start(None)
    assert [m for m in drain(sock) if "WATCHDOG" in m] == [{"WATCHDOG": "1"}]
    for _ in range(50):  # many ticks within one interval: no ping
        notifier.on_tick(stats())
    assert drain(sock) == []
    clock.t += 1.0
    notifier.on_tick(stats())
    notifier.on_tick(stats())
    assert drain(sock) == [{"WATCHDOG": "1"}]
    notifier.close()


def test_a_long_watchdog_period_is_fed_every_second(systemd_socket) -> None:
    """WatchdogSec=30: pinging only every 15 s would let a 16 s stall right after a ping
    plus the rest of the period kill a healthy loop; every second leaves nearly 30 s."""
    sock, path = systemd_socket
    clock = FakeClock()
    notifier = SystemdNotifier(path, watchdog_usec=30_000_000, clock=clock, ready_grace_s=None)
    assert notifier.watchdog_interval_s == 1.0
    notifier.on_start(None)
    drain(sock)
    clock.t += 1.0
    notifier.on_tick(stats())
    assert drain(sock) == [{"WATCHDOG": "1"}]
    notifier.close()


def test_a_short_watchdog_period_is_fed_every_half_period(systemd_socket) -> None:
    """WatchdogSec=1: a ping once a second (the cap) would arrive just as the period runs
    out, and any jitter gets a healthy loop killed; every half period leaves slack."""
    sock, path = systemd_socket
    clock = FakeClock()
    notifier = SystemdNotifier(path, watchdog_usec=1_000_000, clock=clock, ready_grace_s=None)
    notifier.on_start(None)
    drain(sock)
    clock.t += 0.4
    notifier.on_tick(stats())
    assert drain(sock) == []  # not yet
    clock.t += 0.1
    notifier.on_tick(stats())
    assert drain(sock) == [{"WATCHDOG": "1"}]  # half a period after the last
    clock.t += 0.5
    notifier.on_tick(stats())
    assert drain(sock) == [{"WATCHDOG": "1"}]
    notifier.close()


def test_ready_after_grace_when_no_frame_arrives(systemd_socket) -> None:
    sock, path = systemd_socket
    clock = FakeClock()
    notifier = SystemdNotifier(path, clock=clock, ready_grace_s=30.0)
    notifier.on_start(None)
    drain(sock)
    notifier.on_tick(stats(frames=0, source_fault="camera unavailable - retrying in 5 s"))
    assert drain(sock) == []
    clock.t += 30.0
    notifier.on_tick(stats(frames=0, source_fault="camera unavailable - retrying in 5 s"))
    (message,) = drain(sock)
    assert message["READY"] == "1"
    assert "no frame classified after 30s" in message["STATUS"]
    assert "camera unavailable" in message["STATUS"]
    notifier.on_result(stats(), True)  # the camera came back: no second READY
    assert not any("READY" in m for m in drain(sock))
    notifier.close()


def test_abstract_namespace_socket() -> None:
    name = f"aoc-test-{os.getpid()}-{threading.get_ident()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        notifier = SystemdNotifier("@" + name)
        assert notifier.notify(READY=1)
        assert receive(sock) == {"READY": "1"}
        notifier.close()


def test_send_failure_is_logged_once_and_never_raised(tmp_path, caplog) -> None:
    notifier = SystemdNotifier(str(tmp_path / "nobody-listens.sock"), watchdog_usec=1)
    with caplog.at_level(logging.WARNING, logger="aoc.app.notify"):
        for _ in range(5):
            assert notifier.notify(WATCHDOG=1) is False
    assert len([r for r in caplog.records if "cannot notify systemd" in r.message]) == 1
    notifier.close()


# -- the real loop: READY after the first frame, watchdog stops while stalled ----------------


class StallingSource:
    """Frames of the model's size; ``read`` blocks while ``gate`` is cleared."""

    name = "stalling"
    is_live = True

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.blocked = threading.Event()
        self.frame = np.full((32, 32, 3), 120, dtype=np.uint8)

    def read(self) -> np.ndarray:
        if not self.gate.is_set():
            self.blocked.set()
            self.gate.wait()
            self.blocked.clear()
        return self.frame

    def close(self) -> None:
        self.gate.set()


def test_real_loop_ready_watchdog_stall_and_resume(systemd_socket) -> None:
    from aoc.app.loop import run_loop
    from aoc.app.smoothing import Smoother
    from aoc.display.null import NullDisplay
    from aoc.inference.bundle import load_bundle
    from aoc.inference.classifier import open_classifier

    sock, path = systemd_socket
    source = StallingSource()
    classifier = open_classifier(load_bundle(MODEL), prefer="cpu")
    display = NullDisplay()
    stop = threading.Event()
    # 0.1 s watchdog: a ping at most every 0.05 s while the loop runs.
    notifier = SystemdNotifier(path, watchdog_usec=100_000, status_interval_s=0.2)
    result: dict[str, object] = {}

    def run() -> None:
        result["stats"] = run_loop(
            source, classifier, Smoother(classifier.labels), display,
            stop=stop, hooks=[notifier], idle_wait_s=0.01,
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        ready = receive_until(sock, "READY")
        assert ready["READY"] == "1" and "backend=cpu" in ready["STATUS"]
        assert receive_until(sock, "WATCHDOG")["WATCHDOG"] == "1"

        source.gate.clear()
        assert source.blocked.wait(10.0)
        drain(sock)  # what was sent before the stall
        with pytest.raises(TimeoutError):
            receive(sock, timeout=0.5)  # 10 watchdog half-periods, and not one ping

        source.gate.set()
        assert receive_until(sock, "WATCHDOG")["WATCHDOG"] == "1"
    finally:
        stop.set()
        source.gate.set()
        thread.join(10.0)
    assert not thread.is_alive()
    assert "STOPPING" in receive_until(sock, "STOPPING")
    assert notifier.sent["READY"] == 1
    classifier.close()
    notifier.close()
