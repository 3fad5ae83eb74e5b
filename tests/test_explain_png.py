"""aoc.explain.png: pixel-exact snapshots of an explanation and of the report grid (with
pictures, and the statement that there are none), plus properties of the drawing.

Regenerate snapshots with ``PYTHONPATH=device python3 tests/data/explain/make_snapshots.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes.snapshots import load_snapshot_maker
from PIL import Image

from aoc.display.render import text_width
from aoc.explain.png import EMPTY_TEXT, GridItem, explanation_png, grid_png, overlay

DATA = Path(__file__).parent / "data" / "explain"


SNAP = load_snapshot_maker(DATA, "make_explain")


def same_as_snapshot(actual: Image.Image, name: str, tmp_path: Path) -> None:
    expected_path = DATA / "snapshots" / f"{name}.png"
    expected = Image.open(expected_path).convert("RGB")
    actual = actual.convert("RGB")
    if actual.size != expected.size or actual.tobytes() != expected.tobytes():
        out = tmp_path / f"{name}.actual.png"
        actual.save(out)
        pytest.fail(f"drawing differs from {expected_path}; actual written to {out} (if the "
                    "change is intended, run tests/data/explain/make_snapshots.py and look)")


@pytest.mark.parametrize("name", sorted(SNAP.CASES))
def test_explanation_snapshot(name, tmp_path):
    same_as_snapshot(SNAP.CASES[name](), name, tmp_path)


def test_grid_snapshots_with_pictures_and_with_none(tmp_path):
    for name, path in SNAP.grid_cases(tmp_path).items():
        same_as_snapshot(Image.open(path), name, tmp_path)


def test_grid_with_mistakes_shows_them_and_without_says_there_are_none(tmp_path):
    pic, expl = SNAP.picture(), SNAP.explanation()
    shown = grid_png([GridItem(pic, "cartoon", expl, "x.png")] * 3, tmp_path / "g.png",
                     columns=2)
    empty = grid_png([], tmp_path / "e.png", empty_text="None of 40 pictures was wrong.")
    assert shown.count == 3 and "3 pictures" in shown.text
    assert empty.count == 0 and empty.text == "None of 40 pictures was wrong."
    big, small = Image.open(shown.path), Image.open(empty.path)
    assert big.height > small.height and big.width > 2 * 160
    reds = np.asarray(big)[..., 0].astype(int) - np.asarray(big)[..., 2]
    assert (reds > 100).sum() > 100  # the maps are drawn
    assert grid_png([], tmp_path / "d.png").text == EMPTY_TEXT


def test_overlay_colours_by_sign_and_darkens_what_was_not_seen():
    pic = np.full((2, 3, 3), 200, np.uint8)
    heat = np.array([[1.0, -1.0, 0.0], [np.nan, 0.5, -0.5]], np.float32)
    out = overlay(pic, heat, 1.0).astype(int)
    assert out[0, 0, 0] > out[0, 0, 2] + 100  # red
    assert out[0, 1, 2] > out[0, 1, 0] + 100  # blue
    assert out[0, 2, 0] == out[0, 2, 1] == out[0, 2, 2]  # grey where it does not matter
    assert out[1, 0].max() < 80  # dark where the model did not look


def test_a_long_file_name_is_cut_and_the_verdict_kept(tmp_path):
    pic, expl = SNAP.picture(), SNAP.explanation()
    short = explanation_png(pic, expl, tmp_path / "s.png", name="p")
    long = explanation_png(pic, expl, tmp_path / "l.png", name="frame_" * 40 + ".jpg")
    with Image.open(short) as a, Image.open(long) as b:
        top = expl.labels[expl.top]
        verdict = (0, 0, 8 + text_width(f"{expl.scores[expl.top]:.1%} {top}", 2), 30)
        assert a.crop(verdict).tobytes() == b.crop(verdict).tobytes()
        assert a.size == b.size


def test_explanation_png_is_written(tmp_path):
    path = explanation_png(SNAP.picture(), SNAP.explanation(), tmp_path / "p.png", name="p")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width >= 2 * 160


def test_mistakes_grid_explains_the_most_confident_mistakes_or_says_there_are_none(tmp_path):
    from fakes.explain_models import FakeClassifier, mean_redness

    from aoc.explain.png import mistakes_grid

    red = np.full((30, 40, 3), 128, np.uint8)
    red[:, :20] = (255, 0, 0)
    grey = np.full((30, 40, 3), 128, np.uint8)
    Image.fromarray(red).save(tmp_path / "red.png")
    clf = FakeClassifier(mean_redness, input_size=(32, 32))
    truth = [1, 0, 1]  # "red" is 0: picture 0 (red, said red) is wrong, so is picture 2
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]])
    result = mistakes_grid(clf, [tmp_path / "red.png", grey, red], truth, scores,
                           tmp_path / "m.png", budget=16)
    assert result.count == 2 and result.path.is_file()
    assert clf.calls == 2 * 17  # only the mistakes are explained
    none = mistakes_grid(clf, [red], [0], np.array([[0.9, 0.1]]), tmp_path / "n.png",
                         empty_text="No mistakes among 1 picture.")
    assert none.count == 0 and none.text == "No mistakes among 1 picture."


def test_held_out_mistakes_show_both_verdicts(tmp_path):
    """The report's grid said 'true: neither, said: 91% neither' under 'held-out mistakes':
    the map's model learnt from the picture; the held-out verdict now shows beside it."""
    from fakes.explain_models import FakeClassifier, mean_redness

    from aoc.explain.png import mistakes_grid

    red = np.full((30, 40, 3), 128, np.uint8)
    red[:, :20] = (255, 0, 0)
    clf = FakeClassifier(mean_redness, input_size=(32, 32))
    scores = np.array([[0.8, 0.2]])  # held out: said class 0 where the truth is 1
    plain = mistakes_grid(clf, [red], [1], scores, tmp_path / "p.png", budget=8)
    both = mistakes_grid(clf, [red], [1], scores, tmp_path / "h.png", budget=8,
                         held_out=True)
    assert "maps: shipped model" in both.text and "shipped" not in plain.text
    with Image.open(plain.path) as a, Image.open(both.path) as b:
        assert b.height > a.height  # one more line a tile: "held out: 80% ..."
