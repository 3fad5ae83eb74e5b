"""aoc_train.model_card: the Keras path's card says what this build's data holds."""

from __future__ import annotations

from fakes.train_report_facts import facts

from aoc_train.model_card import model_card_md


def test_model_card_names_sources_and_limits() -> None:
    text = model_card_md(facts())
    assert "| s_cartoon | cartoon | 9 |" in text
    assert "Intended use" in text and "Limits" in text and "94.0 %" in text
    # the card says how the backbone was trained
    assert "Apache-2.0),\nfrozen below `Conv_1`" in text and "aoc-train crossval" in text



def test_the_card_describes_this_builds_data_not_the_research_data() -> None:
    """A user's 120 pictures were described as 'mostly The Simpsons', "'neither' comes from
    two sources only" and '63 real photographs of screens', each false for their data."""
    built = facts()
    built["classes"] = ["anime", "cartoon"]
    built["source_split"] = {
        "naruto": {"label": "anime", "train": 30, "val": 5, "test": 5},
        "ghibli": {"label": "anime", "train": 8, "val": 1, "test": 1},
        "spongebob": {"label": "cartoon", "train": 20, "val": 2, "test": 3},
    }
    text = model_card_md(built)
    for claim in ("Simpsons", "two sources only", "63 real photographs", "GitHub",
                  "ImageNet photos"):
        assert claim not in text
    assert '"anime" comes from 2 source(s); the largest, naruto, is 80 % of its 50' in text
    assert '"cartoon" comes from 1 source(s); the largest, spongebob, is 100 % of its 25' in text
    assert '"neither"' not in text
