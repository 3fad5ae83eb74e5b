"""aoc_train.collage: collages of pictures from one source (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest

from aoc_train.collage import LAYOUTS, collage


def flat(value: tuple[int, int, int], h: int = 60, w: int = 90) -> np.ndarray:
    """A picture of one colour, so the collage's regions can be told apart."""
    return np.broadcast_to(np.array(value, np.uint8), (h, w, 3)).copy()


RED, GREEN, BLUE, WHITE = (250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 250)


def share(image: np.ndarray, colour: tuple[int, int, int]) -> float:
    """The share of pixels within 30 of ``colour`` on every channel."""
    return float(np.mean(np.all(np.abs(image.astype(int) - colour) < 30, axis=-1)))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_fills_the_square_and_contains_the_first_image(layout: str) -> None:
    images = [flat(RED), flat(GREEN), flat(BLUE), flat(WHITE)]
    out = collage(images, np.random.default_rng(0), 64, layout=layout)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert share(out, RED) > 0.1  # the image the view belongs to is always in it
    covered = sum(share(out, c) for c in (RED, GREEN, BLUE, WHITE))
    assert covered > 0.97  # nothing but the pictures (bilinear edges aside)
    if layout == "inset":
        assert 0.1 < share(out, RED) < 0.4 and share(out, GREEN) > 0.6
    elif layout == "pair":
        assert abs(share(out, RED) - 0.5) < 0.05 and abs(share(out, GREEN) - 0.5) < 0.05
    else:
        for c in (RED, GREEN, BLUE, WHITE):
            assert abs(share(out, c) - 0.25) < 0.05


def test_layouts_vary_with_the_stream_and_pictures_repeat_when_few() -> None:
    rng = np.random.default_rng(7)
    outs = [collage([flat(RED), flat(GREEN)], rng, 48) for _ in range(30)]
    red_shares = {round(share(o, RED), 1) for o in outs}
    assert len(red_shares) >= 3  # inset, halves and grids give different shares
    grid = collage([flat(RED)], np.random.default_rng(0), 48, layout="grid")
    assert share(grid, RED) > 0.97  # one picture: four crops of it


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one image"):
        collage([], np.random.default_rng(0), 32)
    with pytest.raises(ValueError, match="unknown collage layout 'spiral'"):
        collage([flat(RED)], np.random.default_rng(0), 32, layout="spiral")
