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
                          "b/unlisted#3": {}},
              "random_thirds": ["b/unlisted#1", "b/unlisted#2", "b/unlisted#3"]}
    # a folder of the user's own with '#' in its name is a source, not a third
    assert split_sources({"sources": {"anime/#1-picks": {}, "cartoon/c#": {}}}) == []
    assert split_sources(thirds) == ["b/unlisted#1", "b/unlisted#2", "b/unlisted#3"]
    text = estimate_text(thirds)
    assert "random thirds" in text and "b/unlisted#1" in text and "optimistic" in text


def test_pictures_shared_between_sources_are_said_to_be_optimistic():
    whole = {"sources": {"a1": {}, "b1": {}}}
    assert "another source" not in estimate_text(whole)
    text = estimate_text({**whole, "shared_pictures": 112})
    assert "112 pictures also appear" in text and "optimistic" in text


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


def test_the_card_warns_of_a_class_a_tv_view_cannot_tell() -> None:
    """A bundle whose anime recall through a TV was at chance shipped with a card that only
    gave the class mean."""
    from pathlib import Path
    from types import SimpleNamespace

    from aoc_train.head_report import model_card_md

    records = [SimpleNamespace(label=c, source=f"{c}{k}") for c in ("anime", "cartoon", "neither")
               for k in (1, 2)]
    recall = {"anime": 0.3, "cartoon": 0.9, "neither": 0.8}
    summary = {"sources": {r.source: {"label": r.label, "tv": 0.5} for r in records},
               "clean": {"class_mean": 0.9, "recall": dict.fromkeys(recall, 0.9)},
               "tv": {"class_mean": 0.67, "recall": recall}}
    facts = {"summary": summary,
             "dataset": SimpleNamespace(records=records, classes=("anime", "cartoon", "neither")),
             "config": SimpleNamespace(out=Path("models/mine")),
             "head": SimpleNamespace(layer_sizes=(1024, 3))}
    card = model_card_md(facts)
    assert "**Through a camera at a TV** anime is recognised no better than chance (30.0 %" in card
    summary["tv"]["recall"] = dict.fromkeys(recall, 0.8)
    assert "no better than chance" not in model_card_md(facts)
