"""Tests for aoc.doctor with injected probes (fake sysfs, buses, cameras, GPIO)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
from fakes.head_bundles import standin_bundle

from aoc.config import config_from_dict
from aoc.config_sections import Config
from aoc.doctor import (
    FAIL,
    OK,
    WARN,
    Probes,
    check_camera,
    check_gpio,
    check_libedgetpu,
    check_model,
    check_oled,
    check_runtime,
    check_state,
    check_tpu,
    cmd_doctor,
)
from aoc.inference.runtime import find_edgetpus

MODELS = Path(__file__).parent / "data" / "models"


def usb_device(root: Path, name: str, vid: str, pid: str) -> None:
    d = root / name
    d.mkdir(parents=True)
    (d / "idVendor").write_text(vid + "\n")
    (d / "idProduct").write_text(pid + "\n")


@pytest.fixture
def fake_sys(tmp_path):
    usb, dev = tmp_path / "usb", tmp_path / "dev"
    usb.mkdir()
    dev.mkdir()
    usb_device(usb, "1-1", "046d", "0825")  # a webcam, not a TPU
    (usb / "usb1").mkdir()  # a hub without id files
    return usb, dev


def raise_(exc):
    def probe(*args):
        raise exc

    return probe


def probes(fake_sys, **kw) -> Probes:
    usb, dev = fake_sys
    base = dict(runtime=lambda: "ai-edge-litert 2.3.0", libedgetpu=lambda: "libedgetpu.so.1",
                usb_root=usb, dev_root=dev, picamera2_cameras=lambda: ["imx708"],
                i2c_ack=lambda bus, addr: True, gpio_factory=lambda: "LGPIOFactory",
                default_dirs=[MODELS / "uint8"], on_pi=True,
                libedgetpu_package=lambda: None, usable=lambda path: True)
    base.update(kw)
    return Probes(**base)


def test_tpu_found_by_usb_ids_and_pcie(fake_sys):
    usb, dev = fake_sys
    assert find_edgetpus(usb, dev) == []
    assert check_tpu(probes(fake_sys)).status == WARN
    usb_device(usb, "2-1", "1a6e", "089a")
    (dev / "apex_0").touch()
    found = find_edgetpus(usb, dev)
    assert found == ["usb:1a6e:089a", f"pci:{dev / 'apex_0'}"]
    check = check_tpu(probes(fake_sys))
    assert check.status == OK and "not initialised" in check.detail
    assert find_edgetpus(usb / "absent", dev / "absent") == []


def test_a_tpu_of_another_kind_than_configured_is_a_warning_naming_the_setting(fake_sys,
                                                                               capsys):
    """An M.2 Coral with the default edgetpu_device = "usb": libedgetpu would not open it."""
    usb, dev = fake_sys
    (dev / "apex_0").touch()
    check = check_tpu(probes(fake_sys), config_from_dict({}))
    assert check.status == WARN and "apex_0" in check.detail
    assert 'edgetpu_device = "pci"' in check.fix
    pci = config_from_dict({"inference": {"edgetpu_device": "pci"}})
    assert check_tpu(probes(fake_sys), pci).status == OK
    # and through `aoc doctor` itself, which must pass the config in: a USB Coral with
    # edgetpu_device = "pci" (the built-in "usb" would say OK)
    (dev / "apex_0").unlink()
    usb_device(usb, "2-1", "18d1", "9302")
    args = argparse.Namespace(config=None, bundle=None)
    cmd_doctor(args, pci, None, probes=probes(fake_sys))
    tpu_line = next(line for line in capsys.readouterr().out.splitlines() if " tpu " in line)
    assert tpu_line.startswith("WARN") and "18d1:9302" in tpu_line


def test_a_tpu_this_user_cannot_open_is_named_with_the_fix(fake_sys):
    """Without the udev rule or plugdev, libedgetpu reports "no Edge TPU" like a missing
    one; doctor names the device file."""
    usb, dev = fake_sys
    usb_device(usb, "2-1", "18d1", "9302")
    (usb / "2-1" / "busnum").write_text("2\n")
    (usb / "2-1" / "devnum").write_text("5\n")
    (dev / "apex_0").touch()
    node = dev / "bus" / "usb" / "002" / "005"
    checked = []

    def usable(path):
        checked.append(path)
        return path != node

    check = check_tpu(probes(fake_sys, usable=usable))
    assert checked == [node, dev / "apex_0"]
    locked = check.detail.split("; but ")[1]
    assert check.status == WARN and str(node) in locked and "apex_0" not in locked
    assert "plugdev" in check.fix and "udev" in check.fix
    assert check_tpu(probes(fake_sys)).status == OK


@pytest.mark.parametrize(("package", "runtime", "status"), [
    ("libedgetpu1-std 16.0", "ai-edge-litert 2.3.0", WARN),
    ("libedgetpu1-max 16.0", "tflite-runtime 2.14.0", WARN),
    ("libedgetpu1-std 16.0", "tflite-runtime 2.11.1", OK),
    ("libedgetpu1-std 16.0", "tflite-runtime 2.5.0.post1", OK),
    ("libedgetpu1-std 16.0tf2.17.1-1.bookworm", "ai-edge-litert 2.3.0", OK),  # a rebuild
    (None, "ai-edge-litert 2.3.0", OK),  # not from dpkg: nothing known
])
def test_coral_libedgetpu_under_a_newer_runtime_is_a_warning(fake_sys, package, runtime,
                                                              status):
    check = check_libedgetpu(probes(fake_sys, libedgetpu_package=lambda: package,
                                    runtime=lambda: runtime))
    assert check.status == status
    if status == WARN:
        assert "edgetpu#812" in check.detail and runtime in check.detail
        assert "built for this runtime" in check.fix
    elif package:
        assert package in check.detail


def test_runtime_and_libedgetpu(fake_sys):
    assert check_runtime(probes(fake_sys)).status == OK
    bad = check_runtime(probes(fake_sys, runtime=raise_(ImportError("no module"))))
    assert bad.status == FAIL and "ai-edge-litert" in bad.fix
    lib = check_libedgetpu(probes(fake_sys, libedgetpu=raise_(OSError("not found"))))
    assert lib.status == WARN and "libedgetpu1-std" in lib.fix


def test_camera_checks(fake_sys):
    usb, dev = fake_sys
    assert check_camera(probes(fake_sys)).detail == "picamera2: imx708"
    none = check_camera(probes(fake_sys, picamera2_cameras=raise_(ImportError("x"))))
    assert none.status == WARN and "python3-picamera2" in none.fix
    (dev / "video0").touch()
    webcam = check_camera(probes(fake_sys, picamera2_cameras=lambda: []))
    assert webcam.status == OK and "video0" in webcam.detail


def test_oled_checks(fake_sys):
    usb, dev = fake_sys
    config = Config()
    missing = check_oled(probes(fake_sys), config)
    assert missing.status == FAIL and "do_i2c" in missing.fix  # on a Pi: a real failure
    assert check_oled(probes(fake_sys, on_pi=False), config).status == WARN
    (dev / "i2c-1").touch()
    assert check_oled(probes(fake_sys), config).status == OK
    silent = check_oled(probes(fake_sys, i2c_ack=lambda b, a: False), config)
    assert silent.status == FAIL and "0x3C" in silent.detail
    no_smbus = check_oled(probes(fake_sys, i2c_ack=raise_(ImportError("smbus2"))), config)
    assert no_smbus.status == WARN and "smbus2" in no_smbus.fix
    import errno
    import os

    busy = OSError(errno.EBUSY, os.strerror(errno.EBUSY))
    claimed = check_oled(probes(fake_sys, i2c_ack=raise_(busy)), config)
    assert claimed.status == FAIL and "claimed by a kernel driver" in claimed.detail
    assert "dtoverlay" in claimed.fix and "i2c group" not in claimed.fix
    spi = config_from_dict({"display": {"interface": "spi"}})
    assert check_oled(probes(fake_sys), spi).status == FAIL


def test_gpio_checks(fake_sys):
    config = Config()
    assert check_gpio(probes(fake_sys), config).detail == "pin factory LGPIOFactory"
    broken = probes(fake_sys, gpio_factory=raise_(RuntimeError("no pins")))
    assert check_gpio(broken, config).status == FAIL
    off = config_from_dict({"controls": {"enabled": False}})
    assert check_gpio(broken, off).status == OK


def test_model_check_verifies_checksums(fake_sys, tmp_path):
    assert check_model(probes(fake_sys), Config()).status == OK
    bad = tmp_path / "bad"
    shutil.copytree(MODELS / "uint8", bad)
    (bad / "model.tflite").write_bytes(b"garbage")
    check = check_model(probes(fake_sys), Config(), str(bad))
    assert check.status == FAIL and "bad" in check.detail


def test_model_check_loads_the_cpu_model(fake_sys, tmp_path):
    """A model cut short before the manifest was written has a matching checksum and is
    still no model: doctor must say so, as `aoc classify` and `aoc run` would."""
    import json

    from aoc.inference.bundle_files import sha256_file
    from aoc.inference.runtime import RuntimeNotFound

    good = check_model(probes(fake_sys), Config())
    assert good.status == OK and "CPU model loads on ai-edge-litert" in good.detail
    cut = tmp_path / "cut"
    shutil.copytree(MODELS / "uint8", cut)
    model = cut / "model.tflite"
    model.write_bytes(model.read_bytes()[:1000])
    manifest = json.loads((cut / "manifest.json").read_text())
    manifest["files"]["model.tflite"] = sha256_file(model)
    (cut / "manifest.json").write_text(json.dumps(manifest))
    check = check_model(probes(fake_sys), Config(), str(cut))
    assert check.status == FAIL and "not a valid TFLite model" in check.detail, check.detail
    assert "copy a good bundle" in check.fix
    no_runtime = probes(fake_sys, load_cpu_model=raise_(RuntimeNotFound("no TFLite runtime")))
    check = check_model(no_runtime, Config())
    assert check.status == OK and "not loaded (no TFLite runtime)" in check.detail


def test_cmd_doctor_exit_codes_and_lines(fake_sys, capsys):
    usb, dev = fake_sys
    (dev / "i2c-1").touch()
    args = argparse.Namespace(config=None, bundle=None)
    assert cmd_doctor(args, Config(), None, probes=probes(fake_sys)) == 0
    out = capsys.readouterr().out.splitlines()
    names = [line.split()[1] for line in out[:-1]]
    assert names == ["runtime", "libedgetpu", "tpu", "camera", "oled", "gpio", "model",
                     "config", "state"]
    code = cmd_doctor(args, Config(), None, probes=probes(fake_sys),
                      config_error="display.kind = 'hdmi' is not allowed")
    out = capsys.readouterr().out
    assert code == 1 and "FAIL config" in out and "display.kind" in out


def test_doctor_cli_with_bad_config(tmp_path, capsys):
    from aoc.cli import main

    config = tmp_path / "c.toml"
    config.write_text("[camera]\nwidth = 'big'\n")
    code = main(["doctor", "--config", str(config)])
    assert code == 1
    assert "camera.width" in capsys.readouterr().out


def test_model_check_names_backbone_and_head(fake_sys, tmp_path):
    bundle = standin_bundle(tmp_path)
    check = check_model(probes(fake_sys), Config(), str(bundle.root))
    assert check.status == OK, check.detail
    assert "backbone standin-backbone + head 8-5-3 (on the CPU)" in check.detail
    (bundle.root / "head.npz").write_bytes(b"changed")
    check = check_model(probes(fake_sys), Config(), str(bundle.root))
    assert check.status == FAIL and "head.npz is corrupt or changed" in check.detail


def test_state_check_reports_a_damaged_last_good_record(tmp_path):
    assert check_state(tmp_path).status == OK  # nothing recorded yet
    (tmp_path / "last-good-bundle").write_bytes(b"/opt/\xff\x00bundle\n")
    check = check_state(tmp_path)
    assert check.status == WARN and "last-good-bundle" in check.detail
    assert "delete" in check.fix
    (tmp_path / "last-good-bundle").write_text(f"{MODELS / 'uint8'}\n")
    assert check_state(tmp_path).status == OK


def test_state_check_by_hand_points_to_the_service_record(tmp_path):
    """Run by hand (no STATE_DIRECTORY), doctor read ~/.local/state and said nothing of the
    service's record in /var/lib/anime-or-cartoon."""
    mine, service = tmp_path / "home-state", tmp_path / "var-lib"
    mine.mkdir()
    check = check_state(mine, service_dir=service)  # no service installed: no word of it
    assert check.status == OK and "service" not in check.detail
    service.mkdir()
    check = check_state(mine, service_dir=service)
    assert check.status == OK
    assert f"the service's record is in {service}" in check.detail
    assert f"STATE_DIRECTORY={service}" in check.detail and "doctor" in check.detail
    (mine / "last-good-bundle").write_bytes(b"\xff\n")  # a damaged own record stays a WARN
    assert check_state(mine, service_dir=service).status == WARN
    assert "service" not in check_state(service, service_dir=service).detail


def test_doctor_cli_reports_a_damaged_state_file(tmp_path, monkeypatch, capsys):
    from aoc.cli import main

    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    (tmp_path / "last-good-bundle").write_bytes(b"\xe9t\xe9\n")
    main(["doctor", "--config", str(tmp_path / "missing.toml")])
    out = capsys.readouterr().out
    assert "WARN state" in out and "not UTF-8" in out


@pytest.mark.parametrize(("section", "values", "key"), [
    ("camera", {"source": "dmeo"}, "camera.source"),
    ("display", {"kind": "emulated", "path": "/nonexistent/folder/x.png"}, "display.path"),
])
def test_doctor_fails_what_aoc_run_refuses_at_start_up(fake_sys, section, values, key):
    from aoc.doctor import run_checks

    config = config_from_dict({section: values})
    checks = {c.name: c for c in run_checks(config, probes(fake_sys))}
    assert checks["config"].status == FAIL and key in checks["config"].detail
