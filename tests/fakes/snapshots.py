"""Loading a folder's ``make_snapshots.py`` (the script that regenerates its PNGs) as a module,
so tests compare against exactly the cases it draws."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def load_snapshot_maker(folder: Path, name: str) -> ModuleType:
    """``folder / "make_snapshots.py"`` imported under ``name``."""
    spec = importlib.util.spec_from_file_location(name, folder / "make_snapshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
