"""``report.md`` and ``model_card.md`` of a bundle, from the build's recorded facts."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any


def pct(v: float | None) -> str:
    """A share as "12.3 %", or "n/a" when there is none."""
    return "n/a" if v is None or v != v else f"{100 * v:.1f} %"


def md_cell(value: Any) -> str:
    """``value`` as the text of a markdown table cell: a source named 'Gumball | Darwin'
    added a column, and '*scenes*' or '_x_' turned into emphasis."""
    text = re.sub(r"([\\|*`])", r"\\\1", str(value))
    # an underscore inside a word is never emphasis (advtime_jordim stays as written)
    return re.sub(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])", r"\\_", text)


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table (cells escaped by :func:`md_cell`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def score_tables(ev: Mapping[str, Any], classes: Sequence[str],
                 source_labels: Mapping[str, str]) -> str:
    """Per-class and per-source tables: float, int8, int8 through a simulated camera at a TV."""
    names = [("float", "float"), ("int8", "int8 (device path)"),
             ("int8_screen", "int8, camera at a TV")]
    overall = md_table(["", *[t for _, t in names]],
                     [["top-1 (all held-out)", *[pct(ev[n]["accuracy"]) for n, _ in names]]] +
                     [[c, *[pct(ev[n]["per_class"].get(c)) for n, _ in names]] for c in classes])
    sources = sorted(ev["int8"]["per_source"])
    per_source = md_table(["source", "class", *[t for _, t in names]],
                        [[s, source_labels.get(s, "?"), *[pct(ev[n]["per_source"].get(s))
                                                          for n, _ in names]] for s in sources])
    return f"{overall}\n\n{per_source}"


def _top_tune_text(cfg: Mapping[str, Any]) -> str:
    fit = cfg["fit"]
    top = fit.get("top_tune_from")
    if not top:
        return "no fine-tuning (backbone frozen)."
    return (f"no fine-tuning of the lower backbone. The backbone from "
            f"`{top}` on (BatchNorm frozen) was then trained with the head for up to "
            f"{fit['top_tune_epochs']} epochs at learning rate {fit['top_tune_lr']:g}, on cached "
            "activations of the frozen layers below, keeping the epoch with the lowest "
            "validation loss.")


def _pretrained(cfg: Mapping[str, Any]) -> bool:
    return bool(cfg.get("weights"))


def _weights_text(cfg: Mapping[str, Any]) -> str:
    """Where the backbone's starting weights came from, for the report."""
    weights = cfg.get("weights")
    if not weights:
        return "random initialisation (no pretrained weights: `--weights` was not given)"
    if weights == "imagenet":
        return "ImageNet weights downloaded by Keras"
    return f"ImageNet weights from `{weights}`"


def _ties_text(ev: Mapping[str, Any]) -> str:
    ties = {name: ev[name].get("ties", 0) for name in ("float", "int8", "int8_screen")
            if name in ev}
    if not any(ties.values()):
        return ""
    counts = ", ".join(f"{name} {n}" for name, n in ties.items())
    return (f"\nImages whose top score was tied between classes (counted as misses): "
            f"{counts}.")


def _notes(facts: Mapping[str, Any]) -> str:
    text = facts.get("notes") or ""
    return f"\n## Notes\n\n{text.strip()}\n" if text.strip() else ""


def _stage_minutes(facts: Mapping[str, Any]) -> float:
    return sum(r["seconds"] for r in facts.get("stages", [])) / 60


def _build_time(facts: Mapping[str, Any]) -> str:
    """How long the build took; a resumed run says that its stages came from earlier runs,
    so a report regenerated in seconds does not read as a seconds-long build."""
    wall, total = facts.get("wall_seconds", 0) / 60, _stage_minutes(facts)
    where = f"on this machine ({facts.get('cpu', '?')})"
    if total - wall > 0.5:
        return (f"Build wall time of this run: **{wall:.1f} min** {where}, resuming earlier "
                f"runs in the same work folder: its stages, as first computed, took "
                f"**{total:.1f} min** in all.")
    return (f"Build wall time of this run: **{wall:.1f} min** {where}; its stages took "
            f"{total:.1f} min in all.")


def _skipped_list(skipped: Sequence[Mapping[str, str]]) -> str:
    return "".join(f"\n- `{s['file']}`: {s['reason']}" for s in skipped[:50])


def test_kind(holdout_sources: Sequence[str]) -> str:
    """What the test split is: whole sources held out, or a random share of every source
    (the same collectors in training: optimistic)."""
    return ("source-held-out" if holdout_sources
            else "random in-source split, optimistic (no source held out)")


def _header_md(facts: Mapping[str, Any]) -> str:
    ev, fit = facts["evaluation"], facts.get("fit", {})
    kind = test_kind(facts["split"]["holdout_sources"])
    return f"""# {facts['name']}: training report

Built {facts['created']} with `{facts['command']}`
(git {facts.get('git_commit', '?')}, TensorFlow {facts.get('tensorflow', '?')}).
{_build_time(facts)}
The float model is in the bundle as `model_float.tflite` (listed with its sha256 in the
manifest under `models.float`): a reference for checking the int8 model against float; the
device never runs it.

## Headline

| figure | value |
|---|---|
| float top-1, {kind} test | {pct(ev['float']['accuracy'])} |
| int8 top-1, same images, device code path | {pct(ev['int8']['accuracy'])} |
| int8 minus float | {100 * ev['int8_vs_float']:+.2f} points |
| int8 top-1 through a simulated camera at a TV | {pct(ev['int8_screen']['accuracy'])} |
| robustness drop (clean minus TV) | {100 * ev['robustness_drop']:.2f} points |
| int8 invoke time, this CPU ({ev.get('runtime', '')}, 2 threads) | {ev['int8_invoke_ms']:.2f} ms |
| in-source validation accuracy (early-stopping split) | {pct(fit.get('val_acc'))} |
"""


def _data_md(facts: Mapping[str, Any]) -> str:
    split, cfg = facts["split"], facts["config"]
    dup = split.get("duplicates", [])
    counts = md_table(["source", "class", "train", "val", "test (held out)"],
                    [[s, v["label"], v["train"], v["val"], v["test"]]
                     for s, v in sorted(facts["source_split"].items())])
    return f"""## Data and split

Data: `{cfg['data_dir']}` ({facts['num_images']} readable images, \
{len(facts.get('skipped', []))} skipped).
Classes (label order): {', '.join(facts['classes'])}.

Held-out **test** split = every image of the sources
{', '.join(f'`{s}`' for s in split['holdout_sources']) or '(none)'}, plus
{pct(cfg['class_test_fraction'])} of each source of any class with no held-out source
(chosen by a hash of seed {cfg['seed']} and the image's sha256). **val** (early stopping only)
is {pct(cfg['val_fraction'])} of the remaining images; **train** is the rest.
{facts.get('split_rationale', '')}

Cross-split duplicates (exact sha256 or 256-bit difference hash within 12 bits) removed from
the evaluation side: **{len(dup)}** ({sum(1 for d in dup if d['kind'] == 'exact')} exact,
{sum(1 for d in dup if d['kind'] == 'near')} near).

{counts}
"""


def _results_md(facts: Mapping[str, Any]) -> str:
    ev = facts["evaluation"]
    return f"""## Held-out results

{score_tables(ev, facts['classes'], facts['source_labels'])}

Agreement between int8 and float predictions: {pct(ev['agreement_int8_float'])}.{_ties_text(ev)}
The int8 figures come from the bundle opened by the device's own loader
(`aoc.inference.bundle.load_bundle` + `aoc.inference.classifier.open_classifier`, CPU):
same resize (centre crop, the device's filter), quantization and dequantization as on the
appliance.
"Camera at a TV" = each held-out image shown on a simulated TV in a room and captured by a
simulated camera (`aoc_train.tvsim`: 40-90 % of the frame, bezel and room, up to 25 degrees,
moire and subpixels, glare, white balance and exposure, blur, noise, 320x240-640x480 capture,
JPEG, bars, subtitles and logos) with a fixed seed per image.

![confusion](report/confusion.png)

![curves](report/curves.png)
"""


def _training_md(facts: Mapping[str, Any]) -> str:
    cfg = facts["config"]
    return f"""## Training

MobileNetV2 alpha {cfg['alpha']}, {cfg['side']} px, {_weights_text(cfg)};
[-1, 1] rescaling inside the model (input = RGB 0..255). Features: global average pool of \
the last layer.
Head: dropout {cfg['dropout']} + softmax (L2 {cfg['fit'].get('head_l2', 1e-4):g} on its kernel),
trained on cached backbone features of {cfg['views']} fixed augmented views per
image; {_top_tune_text(cfg)}
Loss: cross-entropy with label smoothing {cfg['fit']['label_smoothing']}; per-sample weights
give each class equal weight and, within a class, each source a weight proportional to
(its image count) ** {cfg['source_power']}; early stopping on val loss. Seed {cfg['seed']}.

Augmentation (grid below is made from synthetic drawings, not from the training data):
random resized crop (30-100 % of the area), random downscale to 28-168 px and back (half
the views, all classes, so that softness and size cannot stand for "anime face crop"), flip,
palette changes (hue rotation, saturation, greyscale: against "yellow skin = cartoon"),
perspective with bezel, moire, scanlines, glare, white balance, exposure/gamma, defocus or
motion blur, sensor noise, JPEG.

![augmentation](report/augmentation.png)

Export: SavedModel -> TFLiteConverter, full-integer int8 (builtin int8 ops only), uint8
input (scale {facts['export']['input_scale']:.4g}, zero point
{facts['export']['input_zero_point']}) and uint8 softmax output, static batch 1, calibrated
on {cfg['calibration']} training images spread over all sources.
Edge TPU: {facts.get('edgetpu_text', 'n/a')}
"""


def _stages_md(facts: Mapping[str, Any]) -> str:
    stage_rows = [[r["stage"], "cached" if r["skipped"] else f"{r['seconds']:.0f} s"]
                  for r in facts.get("stages", [])]
    skipped = facts.get("skipped", [])
    return f"""## Stages

{md_table(['stage', 'time'], stage_rows)}

Skipped files: {len(skipped)}{_skipped_list(skipped)}
{_notes(facts)}"""


def report_md(facts: Mapping[str, Any]) -> str:
    """The bundle's report.md. ``facts`` is assembled by the pipeline's report stage."""
    return "\n".join([_header_md(facts), _data_md(facts), _results_md(facts),
                      _training_md(facts), _stages_md(facts)])


def training_words(fit: Mapping[str, Any]) -> str:
    """How the backbone was trained, in the report's words."""
    if fit.get("top_tune_from"):
        return f"frozen below `{fit['top_tune_from']}`, which was fine-tuned with the head"
    return "frozen, with a trained softmax head"


def backbone_words(cfg: Mapping[str, Any]) -> str:
    """Where the backbone's weights came from, in the report's words."""
    if _pretrained(cfg):
        if "from_coral" in str(cfg.get("weights")):  # ../shared's width 1.0 file
            return ("ImageNet-pretrained backbone (Coral's quantization-aware MobileNetV2, "
                    "dequantized into Keras; Apache-2.0)")
        return "ImageNet-pretrained backbone (Keras applications weights, Apache-2.0)"
    return "backbone from random initialisation (no pretrained weights)"


def weights_licence(cfg: Mapping[str, Any]) -> str:
    """The licence sentence of the model's weights."""
    if _pretrained(cfg):
        return "Model weights derived from the Keras MobileNetV2 ImageNet weights (Apache-2.0)."
    return ("The model weights come from random initialisation and this training alone; no "
            "pretrained weights went into them.")
