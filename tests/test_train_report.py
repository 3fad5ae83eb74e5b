"""aoc_train.report and aoc_train.figures: report texts carry the figures; PNGs are written
from synthetic pictures only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes.train_report_facts import CLASSES
from fakes.train_report_facts import facts as _facts
from PIL import Image

from aoc_train import figures
from aoc_train.model_card import model_card_md
from aoc_train.report import report_md


def test_report_md_states_split_figures_and_skips() -> None:
    text = report_md(_facts())
    for needle in ("94.0 %", "91.0 %", "95.0 %", "1.25 ms", "-1.00 points", "`s_cartoon`",
                   "anime/bad.jpg", "10.0 min", "| s_cartoon | cartoon | 0 | 0 | 9 |",
                   "report/confusion.png", "report/augmentation.png", "1 near"):
        assert needle in text, needle


def test_report_says_when_a_build_resumed_earlier_stages() -> None:
    fresh = report_md(_facts())  # 10 min wall, 2 min of stages: a fresh run
    assert "resuming" not in fresh and "its stages took 2.0 min" in fresh
    resumed = report_md(_facts() | {"wall_seconds": 3.0})
    assert "**0.1 min**" in resumed
    assert "resuming earlier runs" in resumed and "**2.0 min** in all" in resumed


def test_model_card_says_which_part_of_the_backbone_was_trained() -> None:
    facts = _facts()
    fit = facts["config"]["fit"]
    assert "frozen below `Conv_1`, which was fine-tuned with the head" in model_card_md(facts)
    assert "up to 5 epochs at learning rate 0.0003" in report_md(facts)
    facts["config"]["fit"] = {**fit, "top_tune_from": ""}
    assert "frozen, with a trained softmax head" in model_card_md(facts)
    assert "no fine-tuning (backbone frozen" in report_md(facts)


def test_figures_write_pngs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the train extra draws these figures")
    conf = figures.confusion_png({"int8": [[3, 0, 0], [0, 3, 0], [0, 1, 2]]}, CLASSES,
                                 tmp_path / "c.png")
    hist = {"head": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "accuracy": [0.5, 0.8],
                     "val_accuracy": [0.4, 0.7]}, "top_tune": {}}
    curves = figures.curves_png(hist, tmp_path / "h.png")
    grid = figures.augmentation_grid_png(tmp_path / "g.png", side=32, rows=2, cols=3, seed=1)
    for p in (conf, curves):
        with Image.open(p) as img:
            assert img.format == "PNG" and img.size[0] > 100
    with Image.open(grid) as img:
        assert img.size == (96, 64)


def test_synthetic_picture_is_deterministic() -> None:
    a = figures.synthetic_picture(np.random.default_rng(3), 64)
    b = figures.synthetic_picture(np.random.default_rng(3), 64)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (64, 64, 3) and a.std() > 10


def test_report_and_card_name_the_starting_weights() -> None:
    """Without --weights (and no download) the backbone started from random initialisation;
    the texts must not claim ImageNet weights "from None"."""
    facts = _facts()
    facts["config"] = {**facts["config"], "weights": None}
    report, card = report_md(facts), model_card_md(facts)
    assert "random initialisation" in report and "from `None`" not in report
    assert "ImageNet weights" not in report
    assert "backbone from random initialisation (no pretrained weights)" in card
    assert "ImageNet" not in card.split("**Training data.**")[0]
    assert "derived from the Keras MobileNetV2 ImageNet weights" not in card
    facts["config"]["weights"] = "imagenet"
    assert "ImageNet weights downloaded by Keras" in report_md(facts)
    assert "ImageNet-pretrained backbone" in model_card_md(facts)
    facts["config"]["weights"] = "mobilenet_v2.weights.h5"
    assert "ImageNet weights from `mobilenet_v2.weights.h5`" in report_md(facts)


def test_report_counts_tied_top_scores() -> None:
    facts = _facts()
    assert "tied" not in report_md(facts)  # older eval.json without ties: nothing to say
    facts["evaluation"]["int8"] = {**facts["evaluation"]["int8"], "ties": 4}
    assert ("top score was tied between classes (counted as misses): float 0, int8 4, "
            "int8_screen 0.") in report_md(facts)


def test_a_test_split_with_no_source_held_out_is_not_called_source_held_out() -> None:
    """Without a manifest nothing is held out whole; the headline still read 'float top-1,
    source-held-out test' over a random fifth of every source."""
    facts = _facts()
    assert "float top-1, source-held-out test" in report_md(facts)
    facts["split"] = {**facts["split"], "holdout_sources": []}
    report, card = report_md(facts), model_card_md(facts)
    assert "source-held-out" not in report.split("## Headline")[1].split("\n\n")[1]
    assert "random in-source split, optimistic" in report
    assert "Test: random in-source split, optimistic" in card


def test_table_cells_cannot_add_columns_or_emphasis():
    """A source folder 'Gumball | Darwin' added a column to the report's table, and
    'intel *scenes*' turned into emphasis."""
    from aoc_train.report import md_table

    table = md_table(["source", "images"], [["cartoon/Gumball | Darwin", 20],
                                            ["neither/intel *scenes* _x_", 3]])
    rows = table.splitlines()[2:]
    assert rows[0] == r"| cartoon/Gumball \| Darwin | 20 |"
    assert rows[1] == r"| neither/intel \*scenes\* \_x\_ | 3 |"
