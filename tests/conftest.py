"""Shared test fixtures."""

from __future__ import annotations

import importlib.abc
import os
import sys
from pathlib import Path

import pytest
from fakes.bundle_parts import make_bundle_dir, write_sources

ROOT = Path(__file__).resolve().parents[1]
# AOC_SHARED points elsewhere, e.g. from a git worktree whose parent has no shared/.
SHARED = Path(os.environ.get("AOC_SHARED") or ROOT.parent / "shared")


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


def pytest_configure(config: pytest.Config) -> None:
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


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    """The files of a small valid bundle (tests/fakes/bundle_parts.py), not yet a bundle."""
    return write_sources(tmp_path)


@pytest.fixture
def bundle_dir(tmp_path: Path, sources: dict[str, Path]) -> Path:
    """A small valid bundle written from :func:`sources`."""
    return make_bundle_dir(tmp_path, sources)
