"""aoc.display.explain_view: the OLED's frozen-frame map, as pixel-exact snapshots, and
when render() shows it.

Regenerate snapshots with ``PYTHONPATH=device python3 tests/data/explain/make_snapshots.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.snapshots import load_snapshot_maker
from PIL import Image

from aoc.display.explain_view import cell_square
from aoc.display.render import render, to_text

DATA = Path(__file__).parent / "data" / "explain"


SNAP = load_snapshot_maker(DATA, "make_explain")


@pytest.mark.parametrize("name", sorted(SNAP.OLED_CASES))
def test_map_snapshot(name, tmp_path):
    state, size = SNAP.OLED_CASES[name]
    actual = render(state, size)
    expected_path = DATA / "snapshots" / f"{name}.png"
    expected = Image.open(expected_path).convert("1")
    if actual.tobytes() != expected.tobytes() or actual.size != expected.size:
        out = tmp_path / f"{name}.actual.png"
        actual.save(out)
        pytest.fail(f"render differs from {expected_path}; actual written to {out}\n"
                    f"{to_text(actual)}\n(if intended, run tests/data/explain/make_snapshots.py)")


def test_the_map_shows_only_on_the_first_view_of_a_frozen_reading_without_a_fault():
    state, size = SNAP.OLED_CASES["oled_map_128x64"]
    plain = state.replace(map_cells=None, map_label="")
    assert render(state, size).tobytes() != render(plain, size).tobytes()
    for other in (state.replace(view=1), state.replace(view=2), state.replace(frozen=False),
                  state.replace(message="camera lost")):
        bare = other.replace(map_cells=None, map_label="")
        assert render(other, size).tobytes() == render(bare, size).tobytes()


def test_cell_squares_grow_with_the_effect_and_hollow_ones_stay_visible():
    assert cell_square(0.1, 1.0, 8) == (0, True)  # below a fifth of the largest: blank
    assert cell_square(1.0, 1.0, 8) == (7, True)
    assert cell_square(0.5, 1.0, 8) == (4, True)
    assert cell_square(-0.25, 1.0, 8) == (3, False)  # hollow needs 3 pixels
    assert cell_square(-1.0, 1.0, 4) == (3, False)
    assert cell_square(0.5, 0.0, 8) == (0, True)
