"""aoc_train.device_check: scores beyond rounding from the training-time ones stop the build
with a message that names the stale cache (end to end: test_train_head_build)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aoc_train.device_check import CACHE_TOLERANCE, require_fresh_cache
from aoc_train.errors import TrainError


def _check(diff: float) -> dict:
    return {"images": 32, "max_abs_diff": diff, "same_top1": 0.5}


def test_scores_within_rounding_pass() -> None:
    require_fresh_cache(_check(0.0), Path("work"))
    require_fresh_cache(_check(CACHE_TOLERANCE), Path("work"))


def test_scores_beyond_rounding_name_the_cache_and_the_fix() -> None:
    with pytest.raises(TrainError, match=r"work/embeddings-\* was computed; delete") as info:
        require_fresh_cache(_check(0.4), Path("work"))
    assert "largest difference 0.400" in str(info.value)
    assert isinstance(info.value, RuntimeError)
