"""Tests for aoc.app.host: probing the machine, display auto-resolution, root refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from aoc.app.host import Host, read_pi_model, resolve_display_kind, root_refusal
from aoc.config import config_from_dict
from aoc.config_sections import Config


def make_config(**sections) -> Config:
    return config_from_dict(sections)


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


def test_outside_systemd_the_state_follows_xdg_state_home():
    assert Host.probe({"HOME": "/h", "XDG_STATE_HOME": "/x/state"}).state_dir == Path(
        "/x/state/anime-or-cartoon")
    for env in ({"HOME": "/h"}, {"HOME": "/h", "XDG_STATE_HOME": "relative/not/allowed"}):
        assert Host.probe(env).state_dir == Path("/h/.local/state/anime-or-cartoon")


def test_host_probe_counts_the_cpus_this_process_may_use(monkeypatch):
    import os

    assert Host.probe({}).cpu_count == len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})  # a cgroup's cpuset
    assert Host.probe({}).cpu_count == 3
    assert Host().cpu_count is None  # unknown unless probed


def test_host_probe_honours_watchdog_pid_and_euid():
    env = {"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "42"}
    assert Host.probe(env, pid=42).watchdog_usec == 2_000_000
    other = Host.probe(env, pid=43)  # the watchdog is another process's
    assert other.watchdog_usec is None and other.notify_socket == "/run/n"
    assert Host.probe({}, euid=0).as_root and not Host.probe({}, euid=1000).as_root
    assert Host.probe({"INVOCATION_ID": "abc"}).invocation_id == "abc"
    assert Host.probe({}).invocation_id is None


def test_root_under_systemd_is_refused_unless_allowed(caplog):
    root = Host(under_systemd=True, invocation_id="abc", as_root=True)
    assert root_refusal(make_config(), Host(as_root=True)) is None  # by hand: not checked
    assert root_refusal(make_config(), Host(under_systemd=True, invocation_id="abc")) is None
    # JOURNAL_STREAM alone (a shell started from a service) is not a systemd service
    assert root_refusal(make_config(), Host(under_systemd=True, as_root=True)) is None
    assert not caplog.records
    refusal = root_refusal(make_config(), root)
    assert refusal is not None and "service.allow_root" in refusal and "User=aoc" in refusal
    assert root_refusal(make_config(service={"allow_root": True}), root) is None
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and "root" in errors[0].getMessage()  # logged loudly both times


def test_pi_model_is_read_from_the_device_tree(tmp_path: Path):
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
    assert read_pi_model(model) == "Raspberry Pi 5 Model B Rev 1.0"
    assert read_pi_model(tmp_path / "missing") is None
