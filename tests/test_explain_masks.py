"""Tests for aoc.explain.masks: seeded masks, greying, cell means and the ridge read-out."""

from __future__ import annotations

import numpy as np

from aoc.explain.masks import (
    DEFAULT_FILL,
    cell_edges,
    cell_means,
    cells_to_input,
    masked,
    ridge_effects,
    rise_masks,
)


def test_masks_of_a_smaller_budget_are_the_first_of_a_larger_one():
    small = rise_masks(5, (40, 30), rng=np.random.default_rng(3))
    large = rise_masks(9, (40, 30), rng=np.random.default_rng(3))
    assert small.shape == (5, 30, 40) and np.array_equal(small, large[:5])
    assert 0.0 <= large.min() and large.max() <= 1.0 and 0.3 < large.mean() < 0.7


def test_keep_sets_how_much_is_visible():
    rng = np.random.default_rng(0)
    assert rise_masks(20, (32, 32), rng=rng, keep=0.2).mean() < rise_masks(
        20, (32, 32), rng=rng, keep=0.8).mean()


def test_masked_keeps_the_visible_part_and_greys_the_rest():
    picture = np.full((4, 6, 3), 200, np.uint8)
    mask = np.zeros((4, 6), np.float32)
    mask[:, :3] = 1.0
    mask[0, 5] = 0.5
    out = masked(picture, mask)
    assert out.dtype == np.uint8
    assert (out[:, :3] == 200).all() and (out[1:, 3:] == DEFAULT_FILL).all()
    assert (out[0, 5] == 164).all()  # half way between 200 and the grey 128


def test_cell_helpers():
    assert cell_edges(10, 3).tolist() == [0, 3, 7, 10]
    masks = np.zeros((1, 6, 8), np.float32)
    masks[0, :3, :4] = 1.0
    assert cell_means(masks, 2).tolist() == [[1.0, 0.0, 0.0, 0.0]]
    blocks = cells_to_input(np.array([[1.0, 2.0], [3.0, 4.0]]), (8, 6))
    assert blocks.shape == (6, 8) and blocks[0, 0] == 1 and blocks[5, 7] == 4


def test_ridge_recovers_known_effects_and_gives_a_constant_cell_none():
    rng = np.random.default_rng(5)
    features = rng.random((400, 4))
    features[:, 3] = 1.0  # a cell that never changes, like letterbox padding
    truth = np.array([[0.5, -0.2, 0.0, 0.0], [-0.5, 0.2, 0.1, 0.0]])
    scores = features @ truth.T + 0.01 * rng.standard_normal((400, 2))
    effects = ridge_effects(features, scores, ridge=1e-3)
    assert effects.shape == (2, 4)
    assert np.allclose(effects[:, :3], truth[:, :3], atol=0.02)
    assert np.allclose(effects[:, 3], 0.0)
    shrunk = ridge_effects(features, scores, ridge=10.0)
    assert np.abs(shrunk).sum() < np.abs(effects).sum()  # the ridge pulls effects to 0
