"""Report, model card, metrics and provenance of a compiled-backbone + head bundle."""

from __future__ import annotations

import io
import json
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aoc.inference.resize import DEVICE_RESAMPLE

from .bundle_stages import git_commit
from .data import read_rgb, source_counts
from .embed import VIEWS
from .loso import HeldOut
from .report import md_table, pct

# Coral's published time for MobileNet V1 (224) on the USB Accelerator over USB 3, and on
# its "embedded CPU" (quad Cortex-A53), from coral.ai's Edge TPU benchmarks table.
CORAL_V1_TPU_MS = 2.4
CORAL_V1_EMBEDDED_CPU_MS = 164
# Assumed ratio of one Pi 4 Cortex-A72 core to one core of this x86-64 host for XNNPACK int8
# convolutions: an estimate, not a measurement (no Pi here); the range
# device/docs/performance.md uses for its Pi 4 figures.
PI4_CPU_FACTORS = (6.0, 10.0)


def split_sources(summary: Mapping[str, Any]) -> list[str]:
    """Held-out groups that are random thirds of a class's only source (``x/unlisted#2``),
    as the build recorded them (a source may have '#' in its own name)."""
    return sorted(summary.get("random_thirds", ()))


def _folds_text(summary: Mapping[str, Any]) -> str:
    """How the held-out groups were made: leave-one-source-out, or partly random thirds."""
    split = split_sources(summary)
    if not split:
        return "leave-one-source-out: each source held out in turn, pooled"
    return ("leave-one-source-out, except classes with a single source, held out by random "
            "thirds of it (" + ", ".join(split) + "): those thirds share the source's style, "
            "so their figures are optimistic and do not predict unseen sources")


def estimate_text(summary: Mapping[str, Any]) -> str:
    """What the held-out figures are (:func:`_folds_text`), and how many held-out pictures
    were trained on all the same, as copies in another source."""
    text = _folds_text(summary)
    shared = summary.get("shared_pictures", 0)
    if shared:
        text += (f"; {shared} pictures also appear (copied or re-encoded) in another source, "
                 "trained on when they were held out: their scores are optimistic")
    return text


def metrics(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's ``metrics``: held-out (leave-one-source-out) figures and timings."""
    s, check = facts["summary"], facts["device_check"]
    return {
        "estimate": estimate_text(s),
        "loso_clean_class_mean": s["clean"]["class_mean"],
        "loso_clean_accuracy": s["clean"]["accuracy"],
        "loso_clean_recall": s["clean"]["recall"],
        "loso_tv_class_mean": s["tv"]["class_mean"],
        "loso_tv_accuracy": s["tv"]["accuracy"],
        "loso_tv_recall": s["tv"]["recall"],
        "int8_vs_float": "backbone int8 on both targets (Coral's graph); head float32: no gap",
        "device_same_top1": check["same_top1"],
        "backbone_invoke_ms_host_cpu": check["backbone_invoke_ms_host_cpu"],
        "head_us_host_cpu": check["head_us_host_cpu"],
        "edgetpu_invoke_ms_estimate": CORAL_V1_TPU_MS,
        "build_wall_seconds": facts["wall_seconds"],
    }


def provenance(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's ``provenance``."""
    cfg, ds, bb = facts["config"], facts["dataset"], facts["backbone"]
    return {
        "tool": "aoc-train", "kind": "compiled backbone + head",
        "versions": {"python": platform.python_version(), "numpy": np.__version__},
        "git_commit": git_commit(), "data_dir": str(cfg.data_dir),
        "sources": source_counts(ds.records), "seed": cfg.seed,
        "backbone": {"name": bb.name, "origin": bb.origin},
        "head": {**cfg.head.__dict__, "layers": list(facts["head"].layer_sizes)},
        "views": list(VIEWS), "command": cfg.command,
        # the filter the embeddings were computed with; the device resizes with
        # aoc.inference.resize.DEVICE_RESAMPLE, so they match when this is that name
        "resize_filter": bb.resample,
    }


TV_GRID_PICTURES = ("01_anime_character.png", "02_cartoon_character.png",
                    "03_mix_anime_cartoon.png", "04_portrait_photo.png")
"""The demo's own pictures (project renders and a public-domain photograph, see
``aoc/assets/demo/CREDITS.md``) the report's grid of simulated TV views is made of: a bundle
may be shipped and committed, the training images may not."""


def mistakes_folder(work: Path) -> Path:
    """Where a build leaves its grids of held-out mistakes: beside its cache, never in the
    bundle (they show training images)."""
    return work / "report"


def _tv_grid_png(facts: Mapping[str, Any]) -> bytes:
    from aoc.sources.demo_source import DEMO_DIR

    from .tvsim import tv_grid

    pics = [np.asarray(read_rgb(DEMO_DIR / name)) for name in TV_GRID_PICTURES]
    buf = io.BytesIO()
    # each picture three times: three draws of the simulation (tv_grid seeds each tile)
    tv_grid(pics * 3, facts["config"].seed, cols=4).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _speed_table(check: Mapping[str, Any]) -> str:
    cpu_ms = check["backbone_invoke_ms_host_cpu"]
    return md_table(["stage", "where", "time"], [
        ["backbone invoke, CPU twin", "this host, 1 thread (measured)", f"{cpu_ms:.1f} ms"],
        ["backbone invoke, CPU twin",
         f"Pi 4 CPU, 1 thread (estimate: this host x{PI4_CPU_FACTORS[0]:.0f} to "
         f"x{PI4_CPU_FACTORS[1]:.0f}, an assumed ratio, as device/docs/performance.md)",
         f"about {cpu_ms * PI4_CPU_FACTORS[0]:.0f} to {cpu_ms * PI4_CPU_FACTORS[1]:.0f} ms"],
        ["backbone invoke, CPU", "Coral's published 'embedded CPU' (Cortex-A53, older TFLite)",
         f"{CORAL_V1_EMBEDDED_CPU_MS} ms"],
        ["backbone invoke, Edge TPU", "USB Accelerator (estimate: Coral's published figure)",
         f"about {CORAL_V1_TPU_MS} ms"],
        ["head", "this host (measured)", f"{check['head_us_host_cpu']:.1f} us"],
    ])


def _interval(bounds: Sequence[float] | None) -> str:
    return "-" if not bounds else f"{pct(bounds[0])} to {pct(bounds[1])}"


def report_md(facts: Mapping[str, Any]) -> str:
    """report.md: what the model is, its honest held-out figures, timings, how to rebuild."""
    s, check, cfg, bb = facts["summary"], facts["device_check"], facts["config"], facts["backbone"]
    classes = s["classes"]
    head_rows = [[name, pct(s[name]["accuracy"]), pct(s[name]["class_mean"]),
                  _interval(s[name].get("class_mean_interval")),
                  *(pct(s[name]["recall"][c]) for c in classes),
                  *(pct(s[name]["source_mean"][c]) for c in classes)]
                 for name in ("clean", "tv")]
    src_rows = [[name, v["label"], v["images"], pct(v["clean"]), pct(v["tv"])]
                for name, v in sorted(s["sources"].items(), key=lambda kv: (kv[1]["label"], kv[0]))]
    layers = " -> ".join(str(n) for n in facts["head"].layer_sizes)
    mistakes_dir = mistakes_folder(Path(cfg.work_dir))
    split_note = (f"\n**Not all leave-one-source-out:** "
                  f"{_folds_text(s)}. Add a "
                  "`manifest.csv` naming each image's source, or put each source's images in "
                  "a sub-folder of its class folder.\n" if split_sources(s) else "")
    shared = s.get("shared_pictures", 0)
    split_note += (f"\n**Pictures in two sources:** {shared} held-out pictures also appear "
                   "(copied or re-encoded) in another source, which the head was fitted on "
                   "when they were scored: their scores are optimistic. Remove the copies, or "
                   "keep each picture in one source.\n" if shared else "")
    skipped = list(facts["dataset"].skipped)
    skipped_md = "" if not skipped else (
        f"\n**Skipped files** ({len(skipped)}: unreadable or not images; nothing learnt from "
        "them):" + "".join(f"\n- `{f.file}`: {f.reason}" for f in skipped[:50])
        + (f"\n- ... and {len(skipped) - 50} more" if len(skipped) > 50 else "") + "\n")
    return f"""# Model report: {Path(cfg.out).name}

Kind: **compiled backbone + head**. The backbone is {bb.name} ({bb.origin}); the same int8
graph runs on the Edge TPU (`model_edgetpu.tflite`, compiled by Coral) or on the CPU
(`model.tflite`), so a Coral runs it with no compiler anywhere. The head (`head.npz`,
{layers}, softmax) runs in numpy on the CPU, on the dequantized embedding.

## Held-out estimate: leave one source out
Every source (one collector, or one show of one collector) is held out in turn; a head is
fitted on all other sources and scores the held-out images, clean and through the
camera-at-TV simulation (two simulated camera frames per image, see `report/tv_views.png`).
Ties count as misses. "recall" pools images; "source mean" averages the sources of a class,
so a small collector counts as much as a large one. The interval comes from resampling each
class's sources with replacement (2,000 draws): how much the class mean rests on which shows
happen to be in the data.
{split_note}{skipped_md}
{md_table(["view", "accuracy", "class mean", "95 % interval", *(f"recall {c}" for c in classes),
         *(f"source mean {c}" for c in classes)], head_rows)}

### Per held-out source
{md_table(["source", "class", "images", "clean", "through a TV"], src_rows)}

![simulated camera-at-TV views](report/tv_views.png)

The grid shows the simulation on the demo's own pictures (`aoc/assets/demo`, free to
ship), three draws each: the training images may not be shipped inside a bundle.

### What the model looks at when it is wrong
The held-out images the leave-one-source-out heads got most confidently wrong, per true
class, clean and through a TV, with maps of which parts of the picture pushed the shipped
model's top class up or down (`aoc explain`: random masks through the device's classifier),
are drawn at each build. They show training images, so they are not part of the bundle:
they are `{mistakes_dir}/mistakes_clean.png` and `mistakes_tv.png` where the bundle was built.

## int8 against float
The backbone is Coral's int8 graph on both targets and the head is float32, so the device
computes exactly what training computed. There is no float model to set beside it: Coral
ships this extractor quantized only, and the head learns from the int8 embeddings, so every
figure in this report is the int8 model's own. The embeddings were computed through the device's
own preprocessing with the resize filter `{bb.resample}` (the device's is
`{DEVICE_RESAMPLE}`), and the device's own loader and classifier gave the same top-1 on
{round(check['same_top1'] * check['images'])} of {check['images']} images checked (largest
score difference {check['max_abs_diff']:.5f}).

## Speed
{_speed_table(check)}

Build wall time: {facts['wall_seconds'] / 60:.1f} min (cached stages take seconds).

## Rebuild
`{cfg.command or "aoc-train build DATA --backbone coral-mobilenet-v1-embedding --out DIR"}`

{("## Notes" + chr(10) + chr(10) + cfg.notes) if cfg.notes else ""}
"""


def model_card_md(facts: Mapping[str, Any]) -> str:
    """model_card.md: intended use, data, figures, limits, all from this build's data."""
    s, ds = facts["summary"], facts["dataset"]
    per_class = {c: sorted({r.source for r in ds.records if r.label == c}) for c in ds.classes}
    fewest = min(per_class, key=lambda c: len(per_class[c]))
    worst = sorted(s["sources"].items(), key=lambda kv: kv[1]["tv"])[:3]
    worst_text = ", ".join(f"{name} ({v['label']}, {pct(v['tv'])} through a TV)"
                           for name, v in worst)
    both = ('"Both" is shown when anime and cartoon scores are close, not learnt as a class.'
            if {"anime", "cartoon"} <= {c.lower() for c in ds.classes} else
            "The appliance shows its anime/cartoon bars and verdicts only for classes named "
            "anime and cartoon; with these labels it shows the top label and its score.")
    n_fewest = len(per_class[fewest])
    chance = 1.0 / len(ds.classes)
    blind = [c for c in ds.classes if (s["tv"]["recall"].get(c) or 0.0) <= chance]
    tv_warning = (f"\n- **Through a camera at a TV** {', '.join(blind)} "
                  f"{'is' if len(blind) == 1 else 'are'} recognised no better than chance "
                  f"({', '.join(pct(s['tv']['recall'].get(c) or 0.0) for c in blind)} recall): "
                  "pointed at a screen, this model will not tell them." if blind else "")
    figures = ("leave one source out" if not split_sources(s)
               else "partly random thirds of a single source: optimistic, see report.md")
    return f"""# Model card: {Path(facts['config'].out).name}

- **What it does**: gives the probability of each class ({', '.join(ds.classes)}) for a
  picture, or for a TV seen through a camera.
- **Model**: Coral's MobileNet V1 1.0 224 embedding extractor (Edge TPU and CPU twins,
  Apache-2.0) plus a {' -> '.join(str(n) for n in facts['head'].layer_sizes)} numpy head.
- **Data**: {len(ds.records)} images from {len(source_counts(ds.records))} sources (the
  training images are not part of the bundle).
- **Held-out figures** ({figures}, class mean): clean {pct(s['clean']['class_mean'])},
  through a simulated camera at a TV {pct(s['tv']['class_mean'])}.
- **Limits**: a style with few sources is learnt from few examples ({fewest}: {n_fewest}
  source(s)); figures on shows unlike any source will be lower. Weakest held-out sources:
  {worst_text}. {both}{tv_warning}
"""


def extra_files(facts: Mapping[str, Any], work: Path, held: HeldOut) -> dict[str, Any]:
    """report.md, model_card.md, report/tv_views.png, report/loso.json."""
    return {
        "report.md": report_md(facts),
        "model_card.md": model_card_md(facts),
        "report/tv_views.png": _tv_grid_png(facts),
        "report/loso.json": json.dumps(facts["summary"], indent=1, sort_keys=True),
    }
