"""aoc_train.evaluate.score: accuracy overall, per class, per source, confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest

from aoc_train.evaluate import score


def test_score_counts_every_breakdown() -> None:
    classes = ("anime", "cartoon", "neither")
    true = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    sources = ["s1", "s1", "s2", "s3", "s3", "s4"]
    s = score(pred, true, sources, classes)
    assert s.accuracy == pytest.approx(4 / 6)
    assert s.per_class == pytest.approx({"anime": 2 / 3, "cartoon": 0.5, "neither": 1.0})
    assert s.per_source == pytest.approx({"s1": 1.0, "s2": 0.0, "s3": 0.5, "s4": 1.0})
    assert s.confusion == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert s.count == 6 and s.to_dict()["confusion"] == s.confusion


def test_score_skips_absent_classes() -> None:
    s = score(np.array([1]), np.array([1]), ["x"], ("a", "b", "c"))
    assert s.per_class == {"b": 1.0} and s.accuracy == 1.0
