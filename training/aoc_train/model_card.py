"""The Keras path's model_card.md: intended use, data, figures and limits, all from the
build's own data (a user's bundle must not describe the research data set)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .report import backbone_words, pct, test_kind, training_words, weights_licence


def _limits_md(facts: Mapping[str, Any]) -> str:
    """The card's limits, from this build's data (not the research data's)."""
    per_class: dict[str, dict[str, int]] = {}
    for source, v in facts["source_split"].items():
        per_class.setdefault(v["label"], {})[source] = v["train"] + v["val"] + v["test"]
    lines = ["- Pictures from collectors and styles the data lacks score lower than the test "
             "above; hold out one whole source at a time with `aoc-train crossval` to "
             "measure it."]
    for label in facts["classes"]:
        counts = per_class.get(label, {})
        total = sum(counts.values())
        if not total:
            continue
        top, n = max(counts.items(), key=lambda kv: kv[1])
        lines.append(f"- \"{label}\" comes from {len(counts)} source(s); the largest, {top}, "
                     f"is {100 * n / total:.0f} % of its {total} images: styles unlike its "
                     "sources may be called another class.")
    lines.append("- The camera-at-TV figure comes from a simulation of a camera pointed at a "
                 "TV, not from photographs of screens.")
    if {"anime", "cartoon"} <= {c.lower() for c in facts["classes"]}:
        lines.append("- 3D-animated films, western comics, manhwa and anime-styled western "
                     "shows sit between the classes; expect mixed scores.")
    return "\n".join(lines)


def model_card_md(facts: Mapping[str, Any]) -> str:
    """The bundle's model_card.md."""
    ev = facts["evaluation"]
    sources = "\n".join(f"| {s} | {v['label']} | {v['train'] + v['val'] + v['test']} |"
                        for s, v in sorted(facts["source_split"].items()))
    return f"""# Model card: {facts['name']}

**What it does.** Classifies one RGB picture as {', '.join(facts['classes'])}
(softmax probabilities). Built for the "Anime or Cartoon?" appliance: a camera pointed at a
TV or monitor, a Coral Edge TPU (or the CPU) and a small OLED.

**Model.** MobileNetV2 (width {facts['config']['alpha']}, {facts['config']['side']} px input),
{backbone_words(facts['config'])},
{training_words(facts['config'].get('fit', {}))}. Full int8 TFLite, uint8 input
(raw RGB 0..255, centre-cropped and resized) and uint8 output.
{facts['export']['int8_kb']} KB.

**Intended use.** A fun, approximate reading of how anime-like or cartoon-like the picture
on a screen is. Not for decisions about people, content moderation or any use where a
wrong answer matters.

**Training data.** {facts['num_images']} images from {len(facts['source_split'])} sources
(not shipped with this bundle):

| source | class | images |
|---|---|---|
{sources}

**Licences.** {weights_licence(facts['config'])}
The training images are third-party copyrighted material used for research;
no image or thumbnail of them is part of this bundle. Check the data owners' terms before
any commercial use of the weights.

**Evaluation.** Test: {test_kind(facts['split']['holdout_sources'])}
({ev['int8']['count']} images): float
{pct(ev['float']['accuracy'])}, int8 {pct(ev['int8']['accuracy'])}, int8 through a simulated
camera at a TV {pct(ev['int8_screen']['accuracy'])}. See report.md for per-class and
per-source figures.

**Limits and known biases.**
{_limits_md(facts)}
"""
