"""Adapter: find the installed TFLite runtime and load the Edge TPU delegate.

The runtime modules are imported lazily, inside functions, so ``import aoc.inference.runtime`` needs
nothing but the standard library. The search order is the fastest first:

1. ``ai_edge_litert.interpreter`` (``pip install ai-edge-litert``; XNNPACK, numpy 2 ready),
2. ``tflite_runtime.interpreter`` (the old tflite-runtime wheel; breaks under numpy 2).

TensorFlow's own interpreter is never tried: the appliance does not import TensorFlow (it
is huge and slow to import on a Pi).

Every dependency is injectable (``import_module=``, ``load_delegate=``) so the Edge TPU path
is testable without a TPU.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.metadata
import logging
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from aoc.errors import BackendError, EdgeTpuUnavailable

log = logging.getLogger(__name__)

#: (runtime name, interpreter module, distribution name for the version)
_CANDIDATES: tuple[tuple[str, str, str], ...] = (
    ("ai-edge-litert", "ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite-runtime", "tflite_runtime.interpreter", "tflite-runtime"),
)

#: Default libedgetpu file name per OS (as Coral's own pycoral picks it).
EDGETPU_LIBRARIES = {
    "Linux": "libedgetpu.so.1",
    "Darwin": "libedgetpu.1.dylib",
    "Windows": "edgetpu.dll",
}
EDGETPU_LIBRARY = EDGETPU_LIBRARIES.get(platform.system(), "libedgetpu.so.1")

LoadDelegate = Callable[..., Any]


class RuntimeNotFound(BackendError):
    """No TFLite runtime is installed (or none could be imported)."""


@dataclass(frozen=True)
class Runtime:
    """The TFLite runtime in use.

    ``module`` is the interpreter module: it has ``Interpreter`` and ``load_delegate``.
    """

    name: str
    version: str
    module: ModuleType | Any

    @property
    def label(self) -> str:
        """``"ai-edge-litert 2.3.0"``: for reasons and logs."""
        return f"{self.name} {self.version}"


def _version(module: Any, distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        # tensorflow-cpu installs the "tensorflow" package under another distribution name.
        top = sys.modules.get(module.__name__.split(".")[0], module)
        return str(getattr(top, "__version__", "unknown"))


def find_runtime(
    *,
    import_module: Callable[[str], Any] = importlib.import_module,
) -> Runtime:
    """Return the fastest installed TFLite runtime.

    Raises :class:`RuntimeNotFound` naming what was tried and what to install.
    """
    failures: list[str] = []
    for name, module_name, distribution in _CANDIDATES:
        try:
            module = import_module(module_name)
        except ImportError as exc:
            failures.append(f"{module_name}: {exc}")
            continue
        except (AttributeError, OSError) as exc:
            # tflite-runtime 2.14 built against numpy 1 fails like this under numpy 2.
            failures.append(f"{module_name}: {type(exc).__name__}: {exc}")
            continue
        runtime = Runtime(name=name, version=_version(module, distribution), module=module)
        log.debug("TFLite runtime: %s", runtime.label)
        return runtime
    raise RuntimeNotFound(
        "no TFLite runtime could be imported (TensorFlow is never tried: the device does not "
        "import it): run `pip install ai-edge-litert` (do not install `pycoral` from PyPI, it "
        "is an unrelated package). Tried: " + "; ".join(failures)
    )


def load_edgetpu_delegate(
    device: str = "usb",
    *,
    library: str = EDGETPU_LIBRARY,
    runtime: Runtime | None = None,
    load_delegate: LoadDelegate | None = None,
) -> Any:
    """Load the Edge TPU delegate for ``device`` (``usb``, ``usb:0``, ``pci:0`` or ``""``).

    ``load_delegate`` defaults to the runtime's own ``load_delegate``. A missing libedgetpu
    (OSError) and a missing TPU (ValueError) become :class:`EdgeTpuUnavailable` saying what
    to do.
    """
    if load_delegate is None:
        load_delegate = (runtime or find_runtime()).module.load_delegate
        # Probe first: the runtimes' Delegate objects, half-built when the library is
        # missing, print an "Exception ignored in __del__" traceback to stderr.
        load_delegate = _probing(load_delegate)
    options = {"device": device} if device else {}
    where = f"device '{device}'" if device else "any device"
    try:
        delegate = load_delegate(library, options)
    except OSError as exc:
        raise EdgeTpuUnavailable(
            f"libedgetpu not found (OSError: {exc}): install libedgetpu1-std from "
            "Coral's apt repository"
        ) from exc
    except ValueError as exc:
        raise EdgeTpuUnavailable(
            f"no Edge TPU found at {where}: plug in the Coral USB Accelerator / check "
            "`lsusb` for 1a6e:089a or 18d1:9302"
        ) from exc
    except RuntimeError as exc:
        raise EdgeTpuUnavailable(
            f"the Edge TPU delegate failed at {where} ({exc}): re-plug the accelerator"
        ) from exc
    log.info("Edge TPU delegate loaded from %s for %s", library, where)
    return delegate


def _probing(load_delegate: LoadDelegate) -> LoadDelegate:
    def probe_then_load(library: str, options: dict[str, str]) -> Any:
        ctypes.CDLL(library)  # raises OSError when libedgetpu is not installed
        return load_delegate(library, options)

    return probe_then_load


def make_interpreter(
    runtime: Runtime,
    model_path: str | Path,
    *,
    delegates: Sequence[Any] = (),
    num_threads: int | None = None,
) -> Any:
    """Build (but do not allocate) an interpreter for ``model_path``.

    Errors are the runtime's own (ValueError for a bad file); :mod:`aoc.inference.classifier`
    translates them into messages naming the file.
    """
    kwargs: dict[str, Any] = {"model_path": str(model_path)}
    if delegates:
        kwargs["experimental_delegates"] = list(delegates)
    if num_threads is not None:
        kwargs["num_threads"] = num_threads
    return runtime.module.Interpreter(**kwargs)


EDGETPU_USB_IDS = (("1a6e", "089a"), ("18d1", "9302"))


def usb_edgetpus(usb_root: Path = Path("/sys/bus/usb/devices")) -> list[tuple[Path, str, str]]:
    """The sysfs entries of attached USB Edge TPUs, with their vendor and product IDs."""
    try:
        entries = sorted(usb_root.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        try:
            vid = (entry / "idVendor").read_text().strip()
            pid = (entry / "idProduct").read_text().strip()
        except OSError:
            continue
        if (vid, pid) in EDGETPU_USB_IDS:
            found.append((entry, vid, pid))
    return found


def find_edgetpus(usb_root: Path = Path("/sys/bus/usb/devices"),
                  dev_root: Path = Path("/dev")) -> list[str]:
    """Attached Edge TPUs: ``usb:1a6e:089a`` (not yet initialised), ``usb:18d1:9302``,
    ``pci:/dev/apex_0``."""
    found = [f"usb:{vid}:{pid}" for _, vid, pid in usb_edgetpus(usb_root)]
    return found + [f"pci:{p}" for p in sorted(dev_root.glob("apex_*"))]


_KIND_NAMES = {"usb": "a USB Accelerator", "pci": "an M.2 or PCIe Edge TPU"}


def missing_edgetpu(device: str, found: Sequence[str]) -> str | None:
    """Why libedgetpu will find no Edge TPU for ``[inference] edgetpu_device`` (``usb``,
    ``usb:N``, ``pci``, ``pci:N``) among ``found`` (:func:`find_edgetpus`), or ``None``
    when one of its kind is attached.

    libedgetpu opens only the kind it is given, so a lone M.2 Coral with the default
    ``usb`` fails like a missing one; the reason then names the setting to change.
    """
    kind, _, index = device.partition(":")
    mine = [f for f in found if f.startswith(kind + ":")]
    if mine and (not index or int(index) < len(mine)):
        return None
    if mine:
        return (f"no Edge TPU {device} found: {len(mine)} {kind.upper()} Edge TPU(s) "
                f"attached ({', '.join(mine)}), numbered from 0; set [inference] "
                f"edgetpu_device = \"{kind}\" or \"{kind}:{len(mine) - 1}\"")
    others = [f for f in found if not f.startswith(kind + ":")]
    if others:
        other = others[0].split(":", 1)[0]
        return (f"no {kind.upper()} Edge TPU found, but {_KIND_NAMES[other]} is attached "
                f"({others[0]}); set [inference] edgetpu_device = \"{other}\" to use it")
    return ("no Edge TPU found (USB 1a6e:089a / 18d1:9302 or /dev/apex_0); plug in the "
            "Coral accelerator")
