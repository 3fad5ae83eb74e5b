"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes.bundle_parts import make_bundle_dir, write_sources

ROOT = Path(__file__).resolve().parents[1]
# AOC_SHARED points elsewhere, e.g. from a git worktree whose parent has no shared/.
SHARED = Path(os.environ.get("AOC_SHARED") or ROOT.parent / "shared")


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
