"""``aoc doctor``: check everything the appliance needs, one line per check.

Checks: TFLite runtime, libedgetpu, Edge TPU (USB IDs via sysfs, PCIe /dev/apex_N), camera
(picamera2 and its camera list, V4L2 devices), OLED bus and address (``/dev/i2c-N`` exists
and the address ACKs, through smbus2), GPIO (a gpiozero pin factory), the model bundle
(verified) and the config. Each is OK, WARN (works, degraded) or FAIL (the appliance cannot
do its job); the exit code is non-zero when any check FAILs. Every probe is a field of
:class:`~aoc.doctor_probes.Probes` so tests inject fakes.
"""

from __future__ import annotations

import argparse
import errno
import re
from pathlib import Path
from typing import Any, NamedTuple

from aoc.doctor_probes import Probes
from aoc.inference.runtime import find_edgetpus, missing_edgetpu

__all__ = ["FAIL", "OK", "WARN", "Check", "Probes", "cmd_doctor", "run_checks"]

OK, WARN, FAIL = "OK", "WARN", "FAIL"


class Check(NamedTuple):
    """One result line: ``status`` is OK / WARN / FAIL; ``fix`` says what to do."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        """``WARN tpu        no Edge TPU found -> plug in ...``."""
        text = f"{self.status:<4} {self.name:<10} {self.detail}"
        return f"{text} -> {self.fix}" if self.fix and self.status != OK else text


def check_runtime(p: Probes) -> Check:
    """The TFLite runtime the appliance would use (ai-edge-litert or tflite-runtime)."""
    try:
        return Check("runtime", OK, p.runtime())
    except Exception as exc:  # noqa: BLE001 - any import failure is the finding
        return Check("runtime", FAIL, f"no TFLite runtime ({exc})",
                     "pip install ai-edge-litert (never `pycoral` from PyPI)")


# Coral's own libedgetpu (apt: 16.0) was built against TensorFlow 2.5; rebuilds for newer
# TensorFlow carry it in their version ("16.0tf2.17.1-1.bookworm").
_CORAL_BUILD = re.compile(r"16\.0(-\d+)?")
_OLD_RUNTIME = re.compile(r"tflite-runtime 2\.([0-9]|1[01])\b")


def check_libedgetpu(p: Probes) -> Check:
    """libedgetpu loads, and its package suits the runtime (a mismatch crashes at load)."""
    try:
        lib = p.libedgetpu()
    except OSError as exc:
        return Check("libedgetpu", WARN, f"not installed ({exc}); CPU only",
                     "install libedgetpu1-std from Coral's apt repository for the Edge TPU")
    package = p.libedgetpu_package()
    try:
        runtime = p.runtime()
    except Exception:  # noqa: BLE001 - check_runtime reports it
        runtime = ""
    if package and _CORAL_BUILD.fullmatch(package.split()[-1]) and runtime \
            and not _OLD_RUNTIME.match(runtime):
        # google-coral/edgetpu#812: every TFLite after 2.11.1 segfaults with this build
        return Check("libedgetpu", WARN,
                     f"{lib} loads, but {package} is Coral's build for TensorFlow 2.5 and "
                     f"TFLite runtimes after 2.11 ({runtime} here) are reported to crash with "
                     "it (google-coral/edgetpu#812); the app then runs on the CPU model",
                     "install a libedgetpu built for this runtime's TensorFlow "
                     "(sudo ./install.sh --libedgetpu-deb FILE.deb); "
                     "`journalctl -u anime-or-cartoon` says 'libedgetpu crashed' if it does")
    return Check("libedgetpu", OK, f"{lib} loads" + (f" ({package})" if package else ""))


def check_tpu(p: Probes, config: Any = None) -> Check:
    """A Coral on USB (either of its IDs) or PCIe, of the kind ``[inference]
    edgetpu_device`` names, and whether this user may open it."""
    found = find_edgetpus(p.usb_root, p.dev_root)
    if not found:
        return Check("tpu", WARN, "no Edge TPU found (USB 1a6e:089a / 18d1:9302, "
                     "/dev/apex_0); inference runs on the CPU",
                     "plug the Coral USB Accelerator into a USB 3 port")
    device = config.inference.edgetpu_device if config is not None else "usb"
    missing = missing_edgetpu(device, found)
    if missing:
        other = found[0].split(":", 1)[0]
        return Check("tpu", WARN, f"{missing}; until then inference runs on the CPU",
                     f"set edgetpu_device = \"{other}\" under [inference] in the config file")
    note = (" (1a6e:089a = not initialised yet; normal before the first inference)"
            if any("1a6e:089a" in f for f in found) else "")
    locked = [str(n) for n in edgetpu_nodes(p.usb_root, p.dev_root) if not p.usable(n)]
    if locked:
        # libedgetpu then fails like a missing TPU ("no Edge TPU found")
        return Check("tpu", WARN, ", ".join(found) + f"; but {', '.join(locked)} is not "
                     "readable and writable by this user: inference runs on the CPU",
                     "install the udev rules (install.sh does) and add the user to plugdev "
                     "(USB) or apex (PCIe), then re-plug the Coral")
    return Check("tpu", OK, ", ".join(found) + note)


def edgetpu_nodes(usb_root: Path, dev_root: Path) -> list[Path]:
    """The device files libedgetpu opens: ``/dev/bus/usb/BBB/DDD`` of each USB Edge TPU
    (bus and device numbers from sysfs) and ``/dev/apex_N``."""
    from aoc.inference.runtime import usb_edgetpus

    nodes = []
    for entry, _, _ in usb_edgetpus(usb_root):
        try:
            bus, dev = (int((entry / name).read_text()) for name in ("busnum", "devnum"))
        except (OSError, ValueError):
            continue
        nodes.append(dev_root / "bus" / "usb" / f"{bus:03d}" / f"{dev:03d}")
    return nodes + sorted(dev_root.glob("apex_*"))


def check_camera(p: Probes) -> Check:
    """picamera2 cameras on a Pi, else V4L2 webcams (the demo stands in without one)."""
    videos = sorted(str(v) for v in p.dev_root.glob("video*"))
    try:
        cams = p.picamera2_cameras()
    except ImportError:
        cams = None
    except Exception as exc:  # noqa: BLE001 - libcamera errors are findings too
        return Check("camera", WARN, f"picamera2 failed to list cameras ({exc})",
                     "check the ribbon cable and `rpicam-hello --list-cameras`")
    if cams:
        return Check("camera", OK, "picamera2: " + ", ".join(cams))
    what = "picamera2 not installed" if cams is None else "picamera2 lists no camera"
    if videos:
        return Check("camera", OK, f"{what}; V4L2 devices: {', '.join(videos)}")
    fix = ("sudo apt install python3-picamera2, connect the camera" if cams is None and
           p.on_pi else "connect a camera (aoc run uses the demo images meanwhile)")
    return Check("camera", WARN, f"{what}; no /dev/video*", fix)


def check_oled(p: Probes, config: Any) -> Check:
    """The OLED's bus and address answer (I2C), or its SPI device exists."""
    d = config.display
    status_missing = FAIL if p.on_pi and d.kind in ("auto", "oled") else WARN
    if d.interface != "i2c":
        spi = p.dev_root / f"spidev{d.spi_port}.{d.spi_device}"
        if spi.exists():
            return Check("oled", OK, f"{spi} present (SPI is not probed further)")
        return Check("oled", status_missing, f"{spi} missing",
                     "enable SPI: sudo ./install.sh --spi (it runs raspi-config nonint "
                     "do_spi 0 and installs spidev and rpi-lgpio), then reboot")
    bus = p.dev_root / f"i2c-{d.i2c_port}"
    where = f"{bus} address 0x{d.i2c_address:02X}"
    if not bus.exists():
        return Check("oled", status_missing, f"{bus} missing",
                     "enable I2C: sudo raspi-config nonint do_i2c 0, then reboot")
    try:
        acked = p.i2c_ack(d.i2c_port, d.i2c_address)
    except ImportError:
        return Check("oled", WARN, f"{bus} present; address not probed (smbus2 missing)",
                     "pip install smbus2")
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return Check("oled", status_missing,
                         f"{where} is claimed by a kernel driver ({exc})",
                         "remove the panel's dtoverlay (ssd1306 / ssd1307fb framebuffer) "
                         "from config.txt and reboot: the app drives the panel itself")
        return Check("oled", status_missing, f"cannot open {bus} ({exc})",
                     "add the user to the i2c group")
    if acked:
        return Check("oled", OK, f"{where} answers")
    return Check("oled", status_missing, f"nothing answers at {where}",
                 "check wiring (SDA GPIO2, SCL GPIO3, 3.3V, GND) and display.i2c_address "
                 "(0x3C or 0x3D; `i2cdetect -y 1`)")


def check_gpio(p: Probes, config: Any) -> Check:
    """A gpiozero pin factory for the buttons and LED, when they are enabled."""
    if not config.controls.enabled:
        return Check("gpio", OK, "buttons disabled in config")
    try:
        return Check("gpio", OK, f"pin factory {p.gpio_factory()}")
    except Exception as exc:  # noqa: BLE001 - gpiozero raises its own error types
        return Check("gpio", FAIL if p.on_pi else WARN, f"no GPIO access ({exc})",
                     "sudo apt install python3-lgpio" if p.on_pi
                     else "buttons work only on a Raspberry Pi")


def check_model(p: Probes, config: Any, bundle: str | None = None) -> Check:
    """The bundle the appliance would run: manifest, checksums, and its CPU model loaded by
    the runtime."""
    from aoc.errors import AocError, BundleError
    from aoc.inference.model_select import candidates, load_candidate

    m = config.model
    cands = candidates(bundle=bundle or m.bundle, model=m.model, labels=m.labels,
                       default_dirs=p.default_dirs)
    if not cands:
        return Check("model", FAIL, "no bundle configured and no packaged default found",
                     "reinstall, or set model.bundle")
    fix = "copy a good bundle there (aoc-train build writes one), or fix model.bundle"
    try:
        b = load_candidate(cands[0])
    except BundleError as exc:
        return Check("model", FAIL, f"{cands[0].describe()}: {exc}", fix)
    try:
        loads = p.load_cpu_model(b)
    except BundleError as exc:  # the runtime refused the file itself
        return Check("model", FAIL, f"{cands[0].describe()}: {exc}", fix)
    except AocError as exc:  # no runtime: the runtime check says what to install
        loads = f"not loaded ({exc})"
    tpu = "with Edge TPU model" if b.edgetpu_model else (
        f"CPU only ({b.edgetpu.reason or 'no Edge TPU model'})")
    if b.backbone is not None and b.head is not None:
        sizes = "-".join(map(str, b.head.layer_sizes))
        tpu += f"; backbone {b.backbone.name} + head {sizes} (on the CPU)"
    return Check("model", OK, f"{b.name} at {b.root}: labels {', '.join(b.labels)}; "
                 f"checksums verified; CPU model {loads}; {tpu}")


SERVICE_STATE_DIR = Path("/var/lib/anime-or-cartoon")
"""The systemd unit's ``StateDirectory=`` (mode 0700, the ``aoc`` user's)."""


def check_state(state_dir: Path | None, *, service_dir: Path = SERVICE_STATE_DIR) -> Check:
    """The last-good-bundle record: absent or usable is OK, damaged is a WARN (the app
    ignores it with one warning and rewrites it when the configured bundle next works).

    Run by hand, doctor checks the caller's own state folder; where the service's exists
    too, the line says so and how to check that one instead.
    """
    from aoc.inference.model_select import inspect_last_good

    if state_dir is None:
        return Check("state", OK, "no state folder (nothing recorded)")
    state_file = state_dir / "last-good-bundle"
    path, problem = inspect_last_good(state_file)
    if problem is not None:
        check = Check("state", WARN, f"last-good-bundle record unusable: {problem}",
                      f"delete {state_file}; it is rewritten when the configured bundle works")
    elif path is None:
        check = Check("state", OK, f"no last-good bundle recorded ({state_file})")
    else:
        check = Check("state", OK, f"last good bundle: {path}")
    if state_dir != service_dir and service_dir.is_dir():
        check = check._replace(detail=(
            f"{check.detail}; the service's record is in {service_dir} (check it with "
            f"`sudo env STATE_DIRECTORY={service_dir} {_aoc_command()} doctor`)"))
    return check


def _aoc_command() -> str:
    """How this ``aoc`` was started, for a command line the user can paste."""
    import sys

    return sys.argv[0] if Path(sys.argv[0]).name == "aoc" else "aoc"


def run_checks(config: Any, probes: Probes, *, config_error: str | None = None,
               config_path: str = "", bundle: str | None = None,
               state_dir: Path | None = None) -> list[Check]:
    """Every check, in order."""
    if not config_error:
        # what `aoc run` refuses at start-up (exit 78): a source spec no retry can fix, an
        # emulated display's path in a missing folder
        from aoc.app.startup import startup_checks
        from aoc.errors import ConfigError

        try:
            startup_checks(config, config.display.kind)
        except ConfigError as exc:
            config_error = str(exc)
    if config_error:
        conf = Check("config", FAIL, config_error, "fix the config file or key named above")
    else:
        conf = Check("config", OK, config_path or "built-in defaults")
    return [check_runtime(probes), check_libedgetpu(probes), check_tpu(probes, config),
            check_camera(probes), check_oled(probes, config), check_gpio(probes, config),
            check_model(probes, config, bundle), conf, check_state(state_dir)]


def cmd_doctor(args: argparse.Namespace, config: Any, host: Any, *,
               config_error: str | None = None, probes: Probes | None = None) -> int:
    """``aoc doctor``: print the checks; exit 1 when any FAILs."""
    probes = probes or Probes(on_pi=bool(getattr(host, "is_pi", False)))
    from aoc.config import DEFAULT_CONFIG_PATH

    where = str(args.config) if getattr(args, "config", None) else (
        str(DEFAULT_CONFIG_PATH) if DEFAULT_CONFIG_PATH.is_file() else "")
    checks = run_checks(config, probes, config_error=config_error, config_path=where,
                        bundle=getattr(args, "bundle", None),
                        state_dir=getattr(host, "state_dir", None))
    for c in checks:
        print(c.line())  # noqa: T201 - CLI output
    failed = [c.name for c in checks if c.status == FAIL]
    print(f"{len(failed)} check(s) failed: {', '.join(failed)}" if failed  # noqa: T201
          else "all checks passed (warnings are listed above)")
    return 1 if failed else 0
