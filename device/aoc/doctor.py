"""Environment checks for ``aoc doctor``."""

from __future__ import annotations

from pathlib import Path

EDGETPU_USB_IDS = (("1a6e", "089a"), ("18d1", "9302"))


def find_edgetpus(usb_root: Path = Path("/sys/bus/usb/devices"),
                  dev_root: Path = Path("/dev")) -> list[str]:
    """Attached Edge TPUs: ``usb:1a6e:089a`` (not yet initialised), ``usb:18d1:9302``,
    ``pci:/dev/apex_0``."""
    found: list[str] = []
    try:
        entries = sorted(usb_root.iterdir())
    except OSError:
        entries = []
    for entry in entries:
        try:
            vid = (entry / "idVendor").read_text().strip()
            pid = (entry / "idProduct").read_text().strip()
        except OSError:
            continue
        if (vid, pid) in EDGETPU_USB_IDS:
            found.append(f"usb:{vid}:{pid}")
    found += [f"pci:{p}" for p in sorted(dev_root.glob("apex_*"))]
    return found
