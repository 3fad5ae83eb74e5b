"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared, or skip: a user's clone has none."""
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (only the developers' machines have it)")
    return SHARED
