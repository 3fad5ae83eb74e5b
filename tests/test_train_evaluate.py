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


def test_score_counts_a_tied_top_score_as_a_miss() -> None:
    """A constant model (1/3 each) must not score class 0's share as accuracy."""
    from aoc_train.quality import predictions

    classes = ("anime", "cartoon", "neither")
    true = np.array([0, 0, 1, 2])
    probs = np.array([[1 / 3] * 3, [0.6, 0.2, 0.2], [0.1, 0.1, 0.8], [0.45, 0.1, 0.45]])
    s = score(predictions(probs), true, ["a", "a", "b", "c"], classes)
    assert s.accuracy == pytest.approx(1 / 4) and s.ties == 2
    assert s.per_class == {"anime": 0.5, "cartoon": 0.0, "neither": 0.0}
    # ties are in no column of the confusion matrix (rows sum to the decided images)
    assert s.confusion == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]
    assert s.to_dict()["ties"] == 2
    constant = score(predictions(np.full((6, 3), 1 / 3)), np.array([0, 0, 0, 0, 1, 2]),
                     ["s"] * 6, classes)
    assert constant.accuracy == 0.0 and constant.ties == 6


class _TiedClassifier:
    """A stand-in for the device classifier (and the float model) whose top score is
    always tied between the first two classes."""

    runtime_name = "fake"

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __enter__(self) -> _TiedClassifier:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def classify(self, image: np.ndarray) -> np.ndarray:
        return np.array([0.4, 0.4, 0.2], np.float32)

    def preprocess(self, image: np.ndarray) -> None:
        pass

    def invoke(self) -> None:
        pass


def test_evaluate_counts_tied_outputs_as_misses(tmp_path, monkeypatch) -> None:
    """A model that cannot decide between the first two classes must not be reported (in
    eval.json, the report and the model card) as right on every image of the first class."""
    import types

    from fakes.labelled_images import make_tree

    import aoc.inference.bundle
    import aoc.inference.classifier
    from aoc_train import evaluate as ev
    from aoc_train.data import scan_dataset

    root = make_tree(tmp_path / "data", per_source=2)
    records = list(scan_dataset(root).records)
    monkeypatch.setattr(aoc.inference.bundle, "load_bundle",
                        lambda path: types.SimpleNamespace(input=None))
    monkeypatch.setattr(aoc.inference.classifier, "open_classifier", _TiedClassifier)
    monkeypatch.setattr(ev, "FloatModel", _TiedClassifier)
    result = ev.evaluate(tmp_path / "bundle", tmp_path / "model_float.tflite", root, records,
                         ("a", "b", "c"), screen_strength=0)
    for name in ("int8", "float", "int8_screen", "float_screen"):
        assert result[name]["accuracy"] == 0.0
        assert result[name]["per_class"]["a"] == 0.0
        assert result[name]["ties"] == len(records)
        assert result[name]["confusion"] == [[0, 0, 0]] * 3
    assert result["agreement_int8_float"] == 1.0  # a tie agrees with a tie
