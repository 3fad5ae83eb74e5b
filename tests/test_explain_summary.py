"""aoc.explain.summary: the JSON summary (cells in original-picture pixels) and most_wrong."""

from __future__ import annotations

import json

import numpy as np
from fakes.explain_models import FakeClassifier, mean_redness

from aoc.explain.place import placement
from aoc.explain.rise import Explanation, explain
from aoc.explain.summary import most_wrong, summarize


def hand_made(policy: str, size: tuple[int, int]) -> Explanation:
    cells = np.zeros((2, 8, 8), np.float32)
    cells[0, 3, 3], cells[0, 0, 7], cells[0, 7, 0] = 0.3, -0.2, 0.1
    cells[1] = -cells[0]
    return Explanation(labels=("red", "other"), scores=np.array([0.8, 0.2], np.float32),
                       classes=(0, 1), maps=cells, placement=placement(size, (64, 64), policy))


def test_regions_are_the_strongest_cells_in_original_pixels():
    summary = summarize(hand_made("stretch", (640, 320)), top=3)
    assert summary.top == "red" and summary.grid == (8, 8)
    assert [(r.row, r.col) for r in summary.regions] == [(3, 3), (0, 7), (7, 0)]
    first = summary.regions[0]
    assert first.box == (240, 120, 320, 160)  # cell 3,3 of 8x8 over 640x320
    assert first.effects == {"red": np.float32(0.3), "other": np.float32(-0.3)}


def test_centre_crop_boxes_lie_inside_the_crop_and_letterbox_padding_is_left_out():
    crop = summarize(hand_made("center_crop", (640, 320)), top=64)
    assert crop.seen_box == (160, 0, 480, 320)
    assert all(160 <= r.box[0] < r.box[2] <= 480 for r in crop.regions)
    boxed = summarize(hand_made("letterbox", (640, 320)), top=64)
    assert len(boxed.regions) == 32  # the picture fills 4 of the 8 rows of the input
    assert all(0 <= r.box[1] < r.box[3] <= 320 for r in boxed.regions)


def test_summary_of_a_real_run_is_json_and_names_method_and_budget():
    img = np.full((120, 200, 3), 128, np.uint8)
    img[:30, 150:] = (255, 0, 0)
    expl = explain(FakeClassifier(mean_redness, resize="letterbox"), img, budget=64, seed=3)
    record = json.loads(json.dumps(summarize(expl).to_dict()))
    assert record["method"] == "rise" and record["budget"] == 64 and record["seed"] == 3
    assert record["invocations"] == 65 and record["policy"] == "letterbox"
    left, top, right, bottom = record["regions"][0]["box"]
    assert left >= 125 and top < 30  # the red corner is the strongest cell
    assert set(record["regions"][0]["effect"]) == {"red", "other"}


def test_most_wrong_picks_the_most_confident_mistakes_per_class():
    truth = [0, 0, 0, 1, 1, 2]
    scores = np.array([[0.1, 0.9, 0.0],   # 0: wrong, sure
                       [0.9, 0.1, 0.0],   # 1: right
                       [0.3, 0.0, 0.7],   # 2: wrong, less sure
                       [0.8, 0.2, 0.0],   # 3: wrong
                       [0.0, 1.0, 0.0],   # 4: right
                       [0.0, 0.0, 1.0]])  # 5: right
    assert most_wrong(truth, scores, per_class=1) == [0, 3]
    assert most_wrong(truth, scores) == [0, 2, 3]
    assert most_wrong([0, 1], np.eye(2)) == []


def test_mapped_classes_that_share_a_label_keep_apart():
    expl = hand_made("stretch", (64, 64))
    twins = Explanation(labels=("crane", "crane"), scores=expl.scores, classes=(0, 1),
                        maps=expl.maps, placement=expl.placement)
    summary = summarize(twins)
    assert summary.top == "crane #0" and set(summary.scores) == {"crane #0", "crane #1"}
