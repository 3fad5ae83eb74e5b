"""aoc_train.head_report: what the held-out figures are called."""

from __future__ import annotations

from aoc_train.head_report import estimate_text, split_sources


def test_random_thirds_of_a_single_source_are_not_called_leave_one_source_out():
    """Without a manifest a class has one source, split in random thirds: 85.7 % there
    against 61.9 % for the same images under true leave-one-source-out."""
    whole = {"sources": {"a1": {}, "a2": {}, "b1": {}, "b2": {}}}
    assert split_sources(whole) == []
    assert estimate_text(whole).startswith("leave-one-source-out: each source")
    thirds = {"sources": {"a1": {}, "a2": {}, "b/unlisted#1": {}, "b/unlisted#2": {},
                          "b/unlisted#3": {}}}
    assert split_sources(thirds) == ["b/unlisted#1", "b/unlisted#2", "b/unlisted#3"]
    text = estimate_text(thirds)
    assert "random thirds" in text and "b/unlisted#1" in text and "optimistic" in text


def test_the_tv_grid_is_made_of_the_demos_own_pictures(tmp_path):
    """The grid went into the bundle made of training images (research data that may not
    be shipped, and a user's own photos); it reads only the demo's pictures now."""
    import io
    from types import SimpleNamespace

    from PIL import Image

    from aoc_train.head_report import TV_GRID_PICTURES, _tv_grid_png

    facts = {"config": SimpleNamespace(seed=1234),
             "dataset": SimpleNamespace(root=tmp_path / "no-such-data", records=())}
    grid = Image.open(io.BytesIO(_tv_grid_png(facts)))
    assert grid.size == (4 * 240, 3 * 180)  # each of the four pictures three times
    assert len(TV_GRID_PICTURES) == 4
