"""Shared test fixtures.

The whole session runs with HOME, XDG_* and STATE_DIRECTORY pointing into a temporary
folder (set in :func:`pytest_configure`, before test modules are imported, so module-level
copies of ``os.environ`` and every subprocess get it too). The session fixture
:func:`no_writes_outside_tmp` snapshots the repository tree and the appliance's folders in
the real home before the run and FAILS the run if any of them changed after it.
"""

from __future__ import annotations

import importlib.abc
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.bundle_parts import make_bundle_dir, write_sources

ROOT = Path(__file__).resolve().parents[1]
# AOC_SHARED points elsewhere, e.g. from a git worktree whose parent has no shared/.
SHARED = Path(os.environ.get("AOC_SHARED") or ROOT.parent / "shared")

ISOLATED_VARS = ("HOME", "STATE_DIRECTORY", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
                 "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR")
"""Where the app, its libraries and subprocesses could write state: all point into a
temporary folder for the session."""
CACHE_NAMES = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".cache",
                         ".hypothesis", ".git", ".venv", "venv", "build", "dist"})
"""Folders of the repository that tools legitimately write (not the tests' business);
``.cache`` holds aoc-train work folders, which a developer's build may fill meanwhile."""
APP_HOME_DIRS = (".local/state/anime-or-cartoon", ".config/anime-or-cartoon",
                 ".local/share/anime-or-cartoon", ".cache/anime-or-cartoon")
"""The appliance's folders in a real home (outside systemd the last-good record lives in
the first)."""

_SESSION: dict[str, object] = {}


def _tree(root: Path, *, skip: frozenset[str] = CACHE_NAMES) -> dict[str, tuple[int, int]]:
    """``relative path -> (size, mtime_ns)`` of every file under ``root`` (caches skipped)."""
    found: dict[str, tuple[int, int]] = {}
    if not root.is_dir():
        return found
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip and not d.endswith(".egg-info")]
        for name in files:
            if name.startswith(".coverage") or name.endswith(".pyc"):
                continue
            path = Path(folder) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            found[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


def _snapshot(real_home: Path) -> dict[str, dict[str, tuple[int, int]]]:
    snap = {f"repo:{ROOT}": _tree(ROOT)}
    for rel in APP_HOME_DIRS:
        snap[f"home:{real_home / rel}"] = _tree(real_home / rel, skip=frozenset())
    top = {p.name: (0, 0) for p in real_home.iterdir()
           if p.name.lower().startswith(("aoc", "anime"))} if real_home.is_dir() else {}
    snap[f"home top level:{real_home}"] = top
    return snap


def _changes(before: dict[str, dict[str, tuple[int, int]]],
             after: dict[str, dict[str, tuple[int, int]]]) -> list[str]:
    out = []
    for where, old in before.items():
        new = after.get(where, {})
        for rel in sorted(set(old) | set(new)):
            if rel not in old:
                out.append(f"created {where.partition(':')[2]}/{rel}")
            elif rel not in new:
                out.append(f"deleted {where.partition(':')[2]}/{rel}")
            elif old[rel] != new[rel]:
                out.append(f"modified {where.partition(':')[2]}/{rel}")
    return out


def pytest_configure(config: pytest.Config) -> None:
    """Point HOME, XDG_* and STATE_DIRECTORY at a temporary folder before collection, and
    in a quick run refuse TensorFlow imports."""
    if _SESSION:
        return
    _guard_tensorflow(config)
    real_home = Path(os.environ.get("HOME") or Path.home())
    base = Path(tempfile.mkdtemp(prefix="aoc-test-home-"))
    saved = {var: os.environ.get(var) for var in ISOLATED_VARS}
    home = base / "home"
    values = {"HOME": home, "STATE_DIRECTORY": base / "state",
              "XDG_CONFIG_HOME": home / ".config", "XDG_CACHE_HOME": home / ".cache",
              "XDG_DATA_HOME": home / ".local/share", "XDG_STATE_HOME": home / ".local/state",
              "XDG_RUNTIME_DIR": base / "run"}
    for var, path in values.items():
        path.mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(path)
    for var in ("INVOCATION_ID", "JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                "WATCHDOG_PID"):
        os.environ.pop(var, None)  # a test run from a systemd unit is not the appliance
    _SESSION.update(base=base, saved=saved, real_home=real_home,
                    before=_snapshot(real_home))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put the environment back and remove the temporary home."""
    if not _SESSION:
        return
    for var, value in _SESSION["saved"].items():  # type: ignore[union-attr]
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    shutil.rmtree(_SESSION["base"], ignore_errors=True)  # type: ignore[arg-type]
    _SESSION.clear()


@pytest.fixture(scope="session", autouse=True)
def no_writes_outside_tmp() -> Iterator[Path]:
    """The session's temporary home; FAILS the run if a test wrote to the repository or to
    the appliance's folders in the real home (caches such as __pycache__ excluded)."""
    assert _SESSION, "pytest_configure did not isolate the environment"
    for var in ISOLATED_VARS:
        assert os.environ[var].startswith(str(_SESSION["base"])), var
    yield _SESSION["base"]  # type: ignore[misc]
    changed = _changes(_SESSION["before"], _snapshot(_SESSION["real_home"]))  # type: ignore[arg-type]
    if changed:
        pytest.fail("tests wrote outside the temporary folders (isolate HOME, STATE_DIRECTORY "
                    "and XDG_*, write under tmp_path):\n  " + "\n  ".join(changed[:20]),
                    pytrace=False)


class TensorFlowInQuickRun(RuntimeError):
    """A test without the ``training`` marker imported TensorFlow or Keras."""


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    """Refuses TensorFlow and Keras. Not an ImportError on purpose: importorskip and the
    code's optional imports would swallow that, and a test that needs TensorFlow but lacks
    the ``training`` marker would slip into the quick run (and make it slow where
    TensorFlow is installed) unnoticed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("tensorflow", "keras"):
            raise TensorFlowInQuickRun(
                f"{name} imported in a run that excludes 'training' tests: mark the test "
                "with pytest.mark.training (or the file with pytestmark)")
        return None


def _guard_tensorflow(config: pytest.Config) -> None:
    # the quick command (-m "not training and not slow") must not import TensorFlow at all
    if "not training" in (config.option.markexpr or ""):
        sys.meta_path.insert(0, _NoTensorFlow())


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared, or skip: a user's clone has none."""
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (only the developers' machines have it)")
    return SHARED


@pytest.fixture()
def coral(shared_dir: Path) -> Path:
    """Coral's reference models in ../shared (classifier and embedding extractor), or skip."""
    folder = shared_dir / "reference" / "coral"
    if not (folder / "mobilenet_v1_0.25_128_quant.tflite").is_file():
        pytest.skip("Coral reference model absent from ../shared")
    return folder


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the root logger's handlers and level back after every test: the CLIs configure
    logging, and a handler left on a test's captured stderr breaks the next test's logging
    ('I/O operation on closed file')."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    """The files of a small valid bundle (tests/fakes/bundle_parts.py), not yet a bundle."""
    return write_sources(tmp_path)


@pytest.fixture
def bundle_dir(tmp_path: Path, sources: dict[str, Path]) -> Path:
    """A small valid bundle written from :func:`sources`."""
    return make_bundle_dir(tmp_path, sources)
