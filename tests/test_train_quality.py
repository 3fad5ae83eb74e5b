"""aoc_train.quality: ties are misses, constant outputs and below-chance classes are caught."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aoc.errors import AocError
from aoc_train.errors import TrainError
from aoc_train.quality import (
    DegenerateModelError,
    QualityCheck,
    check_quality,
    predictions,
    require_quality,
)

CLASSES = ("anime", "cartoon", "neither")
ROOT = Path(__file__).resolve().parents[1]


def _good(n_per_class: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mostly right, confident-ish probabilities with some noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    logits = rng.normal(0, 1, (len(y), 3))
    logits[np.arange(len(y)), y] += 3.0
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True), y


def test_predictions_marks_ties_and_non_finite_rows_as_minus_one() -> None:
    probs = np.array([[0.2, 0.5, 0.3],
                      [1 / 3, 1 / 3, 1 / 3],
                      [0.4, 0.4, 0.2],   # tied top, not all equal
                      [0.4, 0.2, 0.4],
                      [0.1, 0.1, 0.8],   # tied bottom: not a tie of the top score
                      [np.nan, 0.5, 0.5],
                      [0.0, 0.0, 0.0]])
    assert predictions(probs).tolist() == [1, -1, -1, -1, 2, -1, -1]
    # uint8 outputs tie as exactly equal integers, as they come off a quantized model
    assert predictions(np.array([[85, 85, 85], [84, 86, 85]], np.uint8)).tolist() == [-1, 1]
    assert predictions(np.zeros((0, 3))).shape == (0,)


def test_ties_are_misses_so_a_constant_model_is_not_66_percent() -> None:
    """The bug: 1/3 everywhere scored as class 0 on every image."""
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    probs = np.full((len(y), 3), 1 / 3)
    q = check_quality(probs, y, CLASSES)
    assert q.accuracy == 0.0 and q.class_mean == 0.0
    assert q.recall == {"anime": 0.0, "cartoon": 0.0, "neither": 0.0}
    assert q.chance == pytest.approx(1 / 3) and q.output_spread == 0.0
    assert not q.ok
    assert any("constant" in s for s in q.problems)
    assert any("'anime' recall is 0.0 % of 4 held-out images, 4 of them tied" in s
               for s in q.problems)


def test_nearly_constant_outputs_are_degenerate_even_without_ties() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    probs = np.tile([0.3334, 0.3333, 0.3333], (6, 1))
    probs[:, 0] += np.linspace(0, 1e-4, 6)  # varies, but far below the minimum spread
    q = check_quality(probs, y, CLASSES)
    assert q.output_spread < 1e-3 and not q.ok
    assert any("constant" in s for s in q.problems)
    assert check_quality(probs, y, CLASSES, min_spread=1e-6).output_spread > 1e-6


@pytest.mark.parametrize(("spread", "constant"), [(0.9e-3, True), (1.1e-3, False)])
def test_constant_outputs_are_judged_at_the_minimum_spread(spread: float,
                                                            constant: bool) -> None:
    """A spread just under the 1e-3 minimum is a model that answers the same whatever it
    sees; a threshold ten times too low let such a model through to the device, and one too
    high would refuse a usable model whose outputs do move."""
    y = np.array([0, 1, 2, 0, 1, 2])
    probs = np.tile([0.34, 0.33, 0.33], (6, 1))
    wobble = spread * np.array([1, -1, 1, -1, 1, -1])  # std exactly ``spread``
    probs[:, 0] += wobble
    probs[:, 1] -= wobble
    q = check_quality(probs, y, CLASSES)
    assert q.output_spread == pytest.approx(spread)
    assert any("constant" in s for s in q.problems) is constant


def test_a_class_below_chance_is_a_problem_even_when_accuracy_looks_fine() -> None:
    probs, y = _good()
    q = check_quality(probs, y, CLASSES)
    assert q.ok, q.problems
    # "neither" is always called "anime": the other two classes keep the accuracy up
    probs = probs.copy()
    probs[y == 2] = [0.7, 0.2, 0.1]
    bad = check_quality(probs, y, CLASSES)
    assert bad.recall["neither"] == 0.0 and bad.accuracy > 0.5
    assert bad.problems == ("'neither' recall is 0.0 % of 10 held-out images: at or below "
                            "chance (33.3 %)",)
    assert not bad.ok


def test_recall_exactly_at_chance_is_a_problem() -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    probs = np.eye(3)[y] * 0.8 + 0.1
    probs[[3, 4]] = [0.8, 0.1, 0.1]  # 1 of 3 cartoons right: exactly chance
    q = check_quality(probs, y, CLASSES)
    assert q.recall["cartoon"] == pytest.approx(1 / 3) and not q.ok
    assert q.problems == ("'cartoon' recall is 33.3 % of 3 held-out images: at or below "
                          "chance (33.3 %)",)
    two = check_quality(np.array([[0.6, 0.4], [0.6, 0.4], [0.3, 0.7], [0.7, 0.3]]),
                        np.array([0, 0, 1, 1]), ("a", "b"))
    assert two.recall == {"a": 1.0, "b": 0.5} and two.chance == 0.5 and not two.ok


def test_good_model_passes() -> None:
    probs, y = _good(seed=3)
    q = require_quality(probs, y, CLASSES, where="int8 model")
    assert isinstance(q, QualityCheck) and q.ok and q.problems == ()
    assert q.accuracy == pytest.approx(float((probs.argmax(1) == y).mean()))
    assert q.class_mean == pytest.approx(np.mean(list(q.recall.values())))
    assert q.output_spread > 0.1


def test_a_class_with_no_held_out_images_is_a_problem() -> None:
    probs, y = _good()
    keep = y != 1
    q = check_quality(probs[keep], y[keep], CLASSES)
    assert not q.ok and np.isnan(q.recall["cartoon"])
    assert q.class_mean == pytest.approx(np.mean([q.recall["anime"], q.recall["neither"]]))
    assert q.problems == ("the data set lacks held-out images of 'cartoon', so its recall "
                          "cannot be measured",)
    empty = check_quality(np.zeros((0, 3)), np.zeros(0, int), CLASSES)
    assert not empty.ok and np.isnan(empty.accuracy) and len(empty.problems) == 4


def test_one_held_out_image_cannot_show_that_outputs_vary() -> None:
    q = check_quality(np.array([[0.9, 0.05, 0.05]]), np.array([0]), CLASSES)
    assert any("only one held-out image" in s for s in q.problems)


def test_non_finite_outputs_are_a_problem() -> None:
    probs, y = _good()
    probs = probs.copy()
    probs[0] = np.nan
    q = check_quality(probs, y, CLASSES)
    assert not q.ok and "1 of 30 held-out outputs contain NaN" in q.problems[0]


def test_require_quality_raises_with_where_problems_and_advice() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    with pytest.raises(DegenerateModelError) as info:
        require_quality(np.full((6, 3), 1 / 3), y, CLASSES, where="int8 model on 6 images")
    err = info.value
    assert isinstance(err, TrainError) and isinstance(err, ValueError)
    assert isinstance(err, AocError)
    text = str(err)
    assert text.startswith("int8 model on 6 images: the model is degenerate")
    assert "constant" in text and "'cartoon' recall is 0.0 %" in text
    assert "What to do:" in text and "pretrained" in text
    assert isinstance(err.check, QualityCheck) and not err.check.ok


def test_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(TrainError, match="do not match 2 labels and 3 classes"):
        check_quality(np.zeros((3, 3)), np.array([0, 1]), CLASSES)
    with pytest.raises(TrainError, match="0..2"):
        check_quality(np.zeros((1, 3)), np.array([3]), CLASSES)


def test_quality_imports_no_tensorflow() -> None:
    code = ("import sys\nimport aoc_train.quality\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    env = {"PYTHONPATH": f"{ROOT / 'device'}:{ROOT / 'training'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
