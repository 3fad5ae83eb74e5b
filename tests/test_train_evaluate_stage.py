"""Tests for aoc_train.evaluate_stage: the quality gate on saved held-out probabilities and
the evaluate stage's key (no TensorFlow: a real Pipeline over a tiny tree, nothing fitted)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from fakes.labelled_images import picture, write_tree

from aoc_train.config import BuildConfig
from aoc_train.errors import DegenerateModelError, TrainError
from aoc_train.evaluate_stage import check_quality, evaluate_key
from aoc_train.pipeline import EVAL_PROBS, Pipeline

CLASSES = ("anime", "cartoon", "neither")


@pytest.fixture
def pipeline(tmp_path) -> Pipeline:
    write_tree(tmp_path / "data", {c: [f"{c}_source"] for c in CLASSES},
               lambda label, seed: picture(seed, size=32), per_source=3, ext="png")
    config = BuildConfig(data_dir=tmp_path / "data", out=tmp_path / "out",
                         work_dir=tmp_path / "work", classes=CLASSES)
    return Pipeline(config, progress=False)


def _save(p: Pipeline, probs: np.ndarray, true: np.ndarray) -> None:
    np.savez(p.work / EVAL_PROBS, int8=probs.astype(np.float32), true=true)


def test_missing_probabilities_name_the_file_and_the_command(pipeline):
    with pytest.raises(TrainError, match="aoc-train evaluate") as info:
        check_quality(pipeline)
    assert str(pipeline.work / EVAL_PROBS) in str(info.value)


def test_a_model_that_separates_the_classes_passes(pipeline):
    true = np.array([0, 0, 1, 1, 2, 2])
    probs = np.full((6, 3), 0.1)
    probs[np.arange(6), true] = 0.8
    _save(pipeline, probs, true)
    q = check_quality(pipeline)
    assert q.ok and q.class_mean == pytest.approx(1.0)


def test_constant_outputs_are_refused_saying_no_bundle_was_written(pipeline):
    _save(pipeline, np.full((6, 3), 1 / 3), np.array([0, 0, 1, 1, 2, 2]))
    with pytest.raises(DegenerateModelError) as info:
        check_quality(pipeline)
    text = str(info.value)
    assert f"no bundle written to {pipeline.config.out}" in text
    assert "random initialisation (no --weights)" in text and "--weights" in text
    assert info.value.check is not None and not info.value.check.ok


def test_with_weights_given_the_random_start_is_not_blamed(pipeline):
    pipeline.config = replace(pipeline.config, weights="backbone.weights.h5")
    _save(pipeline, np.full((6, 3), 1 / 3), np.array([0, 0, 1, 1, 2, 2]))
    with pytest.raises(DegenerateModelError) as info:
        check_quality(pipeline)
    assert "random initialisation (no --weights)" not in str(info.value)


def test_the_key_follows_the_exported_model_and_the_seed(pipeline):
    before = evaluate_key(pipeline)
    stamp = pipeline.work / "stamps" / "export.json"
    stamp.parent.mkdir(parents=True)
    stamp.write_text(json.dumps({"key": "exported-1"}))
    after_export = evaluate_key(pipeline)
    assert after_export != before and after_export.startswith("exported-1")
    pipeline.config = replace(pipeline.config, seed=7)
    assert evaluate_key(pipeline) != after_export
