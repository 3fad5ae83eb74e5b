"""The systemd unit, udev, polkit and journald files in systemd/.

The unit is read with a small parser that keeps repeated keys (``DeviceAllow=``), checked
for the settings the appliance relies on, and run through ``systemd-analyze verify`` (with
ExecStart pointed at an executable that exists) when systemd-analyze is available.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD = ROOT / "systemd"
UNIT = SYSTEMD / "anime-or-cartoon.service"
EXEC = "/opt/anime-or-cartoon/venv/bin/aoc"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            continue
        key, _, value = line.partition("=")
        sections[current][key.strip()].append(value.strip())
    return sections


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text())


def one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    values = unit[section][key]
    assert len(values) == 1, f"{section}.{key}: {values}"
    return values[0]


def test_notify_with_watchdog_fed_by_the_main_process(unit) -> None:
    assert one(unit, "Service", "Type") == "notify"
    assert one(unit, "Service", "NotifyAccess") == "main"
    watchdog = one(unit, "Service", "WatchdogSec")
    assert re.fullmatch(r"\d+s?", watchdog) and int(watchdog.rstrip("s")) >= 10
    # Start-up (model load, TPU firmware upload) must fit; READY comes after a grace anyway.
    assert int(one(unit, "Service", "TimeoutStartSec").rstrip("s")) >= 60


def test_lgpio_makes_its_pipes_in_the_writable_runtime_directory(unit) -> None:
    runtime = "/run/" + one(unit, "Service", "RuntimeDirectory")
    assert one(unit, "Service", "WorkingDirectory") == runtime
    env = " ".join(unit["Service"]["Environment"]).split()
    assert f"LG_WD={runtime}" in env


def test_a_tpu_reprobe_cannot_outlast_the_watchdog(unit) -> None:
    """The loop thread re-probes the TPU and feeds the watchdog: a wedged accelerator must
    give up well before systemd kills a service that runs fine on the CPU."""
    from aoc.app.model import REPROBE_START_TIMEOUT_S

    watchdog = int(one(unit, "Service", "WatchdogSec").rstrip("s"))
    assert REPROBE_START_TIMEOUT_S <= watchdog / 2


def test_ready_comes_within_the_start_timeout_whatever_the_grace(unit) -> None:
    """READY=1 without a frame comes ready_grace_s after the loop starts, and start-up
    (model load, the TPU child's 60 s at most) comes first: the largest grace allowed must
    leave that room inside TimeoutStartSec."""
    import dataclasses

    from aoc.app.model import START_TIMEOUT_S
    from aoc.config_sections import ServiceConfig

    grace = {f.name: f.metadata for f in dataclasses.fields(ServiceConfig)}["ready_grace_s"]
    assert grace["hi"] + START_TIMEOUT_S <= int(one(unit, "Service", "TimeoutStartSec"))


def test_restarts_by_itself_paced_but_not_on_a_bad_config(unit) -> None:
    """A start-rate limit (5 in 10 min) left an unattended box failed for good after a fault
    of a few minutes, and Restart=on-failure left it dark after a stray SIGHUP (exit 0)."""
    assert one(unit, "Service", "Restart") == "always"
    assert "78" in one(unit, "Service", "RestartPreventExitStatus").split()
    assert int(one(unit, "Service", "RestartSec")) >= 10  # a lasting fault: paced restarts
    # no start-rate limit (it lives in [Unit]; in [Service] systemd would ignore it)
    assert one(unit, "Unit", "StartLimitIntervalSec") == "0"
    assert "StartLimitBurst" not in unit["Unit"] and "StartLimitIntervalSec" not in unit["Service"]


def test_runs_as_the_dedicated_user_from_the_installed_venv(unit) -> None:
    assert one(unit, "Service", "User") == "aoc"
    assert one(unit, "Service", "Group") == "aoc"
    exec_start = one(unit, "Service", "ExecStart").split()
    assert exec_start[:2] == [EXEC, "run"]
    assert exec_start[exec_start.index("--config") + 1] == "/etc/anime-or-cartoon/config.toml"
    install = (ROOT / "install.sh").read_text()
    assert 'VENV="$OPT_DIR/venv"' in install and 'OPT_DIR="$ROOT/opt/$APP"' in install
    assert "SERVICE_USER=aoc" in install


def test_hardening(unit) -> None:
    service = unit["Service"]
    expected = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes", "DevicePolicy": "closed",
        "IPAddressDeny": "any",
    }
    for key, value in expected.items():
        assert service[key] == [value], key
    assert service["CapabilityBoundingSet"] == [""]
    families = set(one(unit, "Service", "RestrictAddressFamilies").split())
    assert families == {"AF_UNIX", "AF_NETLINK"}  # no IP at all: nothing can listen


def test_device_allow_lists_only_the_hardware_used(unit) -> None:
    allowed = {v.split()[0] for v in unit["Service"]["DeviceAllow"]}
    assert allowed == {
        "char-i2c", "char-spi", "char-gpiochip",  # OLED, buttons, LED
        "char-video4linux", "char-media", "char-dma_heap", "char-vchiq",  # camera
        "char-usb_device", "char-apex",  # Edge TPU, USB and PCIe
    }
    assert all(v.split()[1] == "rw" for v in unit["Service"]["DeviceAllow"])


def test_logs_to_the_journal_only(unit) -> None:
    assert one(unit, "Service", "StandardOutput") == "journal"
    assert one(unit, "Service", "StandardError") == "journal"
    # The only persistent state: the last-good bundle record (written only on change).
    assert one(unit, "Service", "StateDirectory") == "anime-or-cartoon"
    assert one(unit, "Service", "StateDirectoryMode") == "0700"
    assert "LogsDirectory" not in unit["Service"]


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    fake_exec = tmp_path / "aoc"
    fake_exec.write_text("#!/bin/sh\nexit 0\n")
    fake_exec.chmod(0o755)
    unit_copy = tmp_path / UNIT.name
    unit_copy.write_text(UNIT.read_text().replace(EXEC, str(fake_exec)))
    proc = subprocess.run(
        [analyze, "verify", "--man=no", str(unit_copy)],
        capture_output=True, text=True, timeout=60,
    )
    if proc.returncode != 0 and "Failed to" in proc.stderr and "bus" in proc.stderr.lower():
        pytest.skip(f"systemd-analyze cannot run here: {proc.stderr.strip()}")
    # verify exits 0 even for unknown keys; any message at all is a defect.
    problems = [
        line for line in proc.stderr.splitlines() if UNIT.name in line or "ignoring" in line
    ]
    assert proc.returncode == 0 and problems == [], proc.stderr


def test_udev_rules_cover_both_usb_ids_and_pcie() -> None:
    rules = (SYSTEMD / "99-anime-or-cartoon-edgetpu.rules").read_text()
    active = [line for line in rules.splitlines() if line and not line.startswith("#")]
    assert len(active) == 3
    usb = [line for line in active if 'SUBSYSTEM=="usb"' in line]
    ids = {re.search(r'idVendor}=="(\w+)", ATTR{idProduct}=="(\w+)"', line).groups()
           for line in usb}
    assert ids == {("1a6e", "089a"), ("18d1", "9302")}
    assert all('GROUP="plugdev"' in line and 'MODE="0660"' in line for line in usb)
    assert any('SUBSYSTEM=="apex"' in line and 'GROUP="apex"' in line for line in active)


def test_polkit_rule_grants_only_power_off_to_aoc() -> None:
    rule = (SYSTEMD / "50-anime-or-cartoon.rules").read_text()
    assert 'subject.user === "aoc"' in rule
    actions = set(re.findall(r'"(org\.freedesktop\.[\w.-]+)"', rule))
    assert actions == {
        "org.freedesktop.login1.power-off",
        "org.freedesktop.login1.power-off-multiple-sessions",
    }


def test_journald_dropin_keeps_logs_in_ram() -> None:
    conf = parse_unit((SYSTEMD / "journald-anime-or-cartoon.conf").read_text())
    assert conf["Journal"]["Storage"] == ["volatile"]
    assert conf["Journal"]["RuntimeMaxUse"]


def test_explicit_config_and_its_documented_consequence(unit) -> None:
    """The unit passes --config, so a deleted config is exit 78; the docs must say so."""
    assert "--config /etc/anime-or-cartoon/config.toml" in unit["Service"]["ExecStart"][0]
    docs = (ROOT / "device" / "docs" / "configuration.md").read_text()
    assert "passes\n  `--config /etc/anime-or-cartoon/config.toml` explicitly" in docs
    assert "the service passes --config" in (ROOT / "device/aoc/config.example.toml").read_text()


def test_stream_url_limit_is_documented_next_to_the_source(unit) -> None:
    assert unit["Service"]["RestrictAddressFamilies"] == ["AF_UNIX AF_NETLINK"]
    example = (ROOT / "device/aoc/config.example.toml").read_text()
    camera = example.split("[camera]")[1].split("source =")[0]
    assert "does NOT work under the systemd service" in camera and "AF_INET" in camera
    assert "cannot work under the\n  service" in (ROOT / "device/docs/headless.md").read_text()
