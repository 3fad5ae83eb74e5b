"""aoc.explain.rise: masks, placement and mapping back, the signed cell maps, through fakes and
through real TFLite models on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes.explain_models import FakeClassifier, mean_redness, top_left_brightness

from aoc.explain.rise import (
    ExplainError,
    MapBuilder,
    explain,
)
from aoc.inference.bundle import bare_bundle, load_bundle
from aoc.inference.bundle_spec import RESIZE_POLICIES
from aoc.inference.classifier import open_classifier

MODELS = Path(__file__).parent / "data" / "models"
RED, GREY = (255, 0, 0), (128, 128, 128)


def noise_with_bright_top_left(h: int = 64, w: int = 64) -> np.ndarray:
    img = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[: h // 2, : w // 2] = 255
    return img


def share_in(cells: np.ndarray, rows: slice, cols: slice) -> float:
    weight = np.abs(cells)
    return float(weight[rows, cols].sum() / weight.sum())


# --- the synthetic quadrant model -----------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_model_that_sees_one_quadrant_gets_a_map_on_that_quadrant(seed):
    clf = FakeClassifier(top_left_brightness)
    expl = explain(clf, noise_with_bright_top_left(), seed=seed)  # the default budget
    cells = expl.map_of("red")
    # nearly all the weight is on the quadrant; what is not leaks into the next cells
    assert share_in(cells, slice(0, 4), slice(0, 4)) > 0.82
    assert share_in(cells, slice(0, 5), slice(0, 5)) > 0.88
    outside = np.abs(cells).copy()
    outside[:4, :4] = 0
    assert cells[:4, :4].min() > 3 * outside.max()
    assert cells[:4, :4].mean() > 0.02  # showing the bright quadrant raises the score
    assert np.allclose(expl.map_of("other"), -cells, atol=1e-6)  # the scores sum to 1


def test_invocations_are_the_budget_plus_one():
    clf = FakeClassifier(top_left_brightness)
    expl = explain(clf, noise_with_bright_top_left(), budget=40)
    assert clf.calls == 41 == expl.invocations
    assert expl.method == "rise" and expl.budget == 40 and "RISE 40 masks" in expl.describe()


def test_same_seed_same_map_and_chunking_does_not_matter():
    img = noise_with_bright_top_left()
    a = explain(FakeClassifier(top_left_brightness), img, budget=64, seed=7)
    b = explain(FakeClassifier(top_left_brightness), img, budget=64, seed=7, chunk=5)
    c = explain(FakeClassifier(top_left_brightness), img, budget=64, seed=8)
    assert np.array_equal(a.maps, b.maps)
    assert not np.array_equal(a.maps, c.maps)


def test_bad_settings_are_refused():
    clf = FakeClassifier(top_left_brightness)
    with pytest.raises(ExplainError, match="budget"):
        explain(clf, noise_with_bright_top_left(), budget=1)


# --- placement and mapping back -------------------------------------------------------------


@pytest.mark.parametrize("policy", RESIZE_POLICIES)
def test_the_map_of_a_wide_picture_points_at_the_red_patch(policy):
    w, h = 320, 120
    img = np.full((h, w, 3), GREY, np.uint8)
    img[10:60, 170:230] = RED
    clf = FakeClassifier(mean_redness, input_size=(64, 64), resize=policy)
    expl = explain(clf, img, budget=200)
    assert expl.placement.policy == policy and expl.placement.image_size == (w, h)
    back = expl.on_image("red")
    assert back.shape == (h, w)
    peak = np.unravel_index(np.nanargmax(back), back.shape)
    assert 0 <= peak[0] < 75 and 150 <= peak[1] < 250
    weight = np.nan_to_num(np.abs(back))
    assert weight[:75, 150:250].sum() / weight.sum() > 0.7


# --- real TFLite models on the CPU ----------------------------------------------------------


def test_real_int8_model_maps_the_red_quadrant():
    """tests/data/models/uint8 scores the mean colour: red raises 'anime'."""
    img = np.full((48, 64, 3), GREY, np.uint8)
    img[:24, :32] = RED
    with open_classifier(load_bundle(MODELS / "uint8"), prefer="cpu") as clf:
        expl = explain(clf, img, budget=256)
    assert expl.labels[expl.top] == "anime" and expl.classes == (0, 1, 2)
    anime = expl.map_of("anime")
    assert share_in(anime, slice(0, 4), slice(0, 4)) > 0.85
    rest = np.abs(anime).copy()
    rest[:4, :4] = 0
    # every cell of the red quadrant pushes anime up, far more than any grey cell moves it
    assert anime[:4, :4].min() > 4 * rest.max()
    assert (expl.map_of("cartoon")[:4, :4] < 0).all()


def test_coral_bare_classifier_maps_its_five_best_classes(coral):
    from PIL import Image

    bundle = bare_bundle(coral / "mobilenet_v1_0.25_128_quant.tflite",
                         coral / "imagenet_labels.txt")
    cat = np.asarray(Image.open(coral / "cat.bmp").convert("RGB"))
    with open_classifier(bundle, prefer="cpu") as clf:
        expl = explain(clf, cat, budget=32)
    assert len(expl.classes) == 5 and expl.top in expl.classes
    assert "cat" in expl.labels[expl.top]
    assert np.isfinite(expl.maps).all() and expl.on_image().shape == cat.shape[:2]


def test_map_builder_in_small_steps_gives_the_same_map():
    img = noise_with_bright_top_left()
    builder = MapBuilder(FakeClassifier(top_left_brightness), img, budget=30, seed=4)
    steps = 0
    while not builder.step(7):
        steps += 1
    assert steps == 4 and builder.classified == 30 and builder.done
    whole = explain(FakeClassifier(top_left_brightness), img, budget=30, seed=4)
    assert np.array_equal(builder.result().maps, whole.maps)
