"""Leave-one-source-out figures of head variants on Coral's compiled embedding extractor.

Each variant changes one thing of the shipped recipe (``HeadConfig``): how the head is
fitted (closed-form LDA or cross-entropy), which views it learns from (with or without the
camera-at-TV views), the covariance shrinkage, and how much a large source weighs. All use
the same cached embeddings, so a variant costs one leave-one-source-out run (a minute for
LDA). Prints a markdown table; ``--json`` writes the summaries.

    PYTHONPATH=device:training python3 training/experiments/head_variants.py \\
        /work/shared/data/aoc-train --work-dir .cache/aoc-train/default \\
        --backbone-dir /work/shared/reference/coral --variant shipped,no-tv
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from aoc.inference.postprocess import softmax
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig
from aoc_train.loso import summarise

SHIPPED = HeadConfig()
VARIANTS = {
    "shipped": SHIPPED,
    "no-sqrt": replace(SHIPPED, power=1.0),
    "power-0.25": replace(SHIPPED, power=0.25),
    "power-0.35": replace(SHIPPED, power=0.35),
    "power-0.7": replace(SHIPPED, power=0.7),
    "no-tv": replace(SHIPPED, views=(0, 1)),
    "clean-only": replace(SHIPPED, views=(0,)),
    "tv-twice": replace(SHIPPED, views=(0, 1, 2, 3, 2, 3)),
    "tv-thrice": replace(SHIPPED, views=(0, 1, 2, 3, 2, 3, 2, 3)),
    "aug-tv": replace(SHIPPED, views=(1, 2, 3)),
    "tv-only": replace(SHIPPED, views=(2, 3)),  # a head for camera sources alone
    "shrink-0.1": replace(SHIPPED, shrinkage=0.1),
    "shrink-0.5": replace(SHIPPED, shrinkage=0.5),
    "shrink-0.7": replace(SHIPPED, shrinkage=0.7),
    "sources-sqrt": replace(SHIPPED, source_power=0.5),
    "sources-equal": replace(SHIPPED, source_power=0.0),
    # cross-entropy by Adam instead of the closed form: minutes per fold, not seconds
    "softmax": replace(SHIPPED, kind="softmax", steps=150),
    # one hidden ReLU layer of 64 (dense-v2 runs it): about 40 s per fold on this machine
    "mlp-64": replace(SHIPPED, kind="softmax", hidden=64, steps=150),
}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _row(name: str, s: dict) -> list[str]:
    classes = s["classes"]
    src_mean = {k: sum(s[k]["source_mean"].values()) / len(classes) for k in ("clean", "tv")}
    return [name, _pct(s["clean"]["class_mean"]), _pct(s["tv"]["class_mean"]),
            _pct(src_mean["clean"]), _pct(src_mean["tv"]),
            *(_pct(s["clean"]["recall"][c]) for c in classes),
            *(_pct(s["tv"]["recall"][c]) for c in classes)]


# The hidden evaluation has two parts: web images (fan art, clip art, thumbnails, photos)
# and film and TV frames of unseen shows. These sources hold whole film or TV frames (episode
# frames, GIF frames of shows, film and sitcom stills); every other source counts as web
# images (face crops, fan and official art, clip art, wallpapers, web images of a show,
# photos). The split follows ../shared/README.md and is approximate: a show's web images
# also hold some frames.
FRAME_SOURCES = frozenset({
    "tsubasa_jordim", "pokemon_jordim", "ltla_animegifs", "marshmallow_gifs",
    "cartero_actiongifs", "foxie_gifs", "yuna_kissgifs", "reactionapi_gifs",
    "scenegallery_gifs", "anime4k_frames", "apisr_frames", "onepiece_realesrgan",
    "ghibli_dawnboy",
    "iagocarmona_simpsons_frames", "visuallayer_tomjerry_frames", "spongebob_jordim",
    "gumball_jordim", "tomjerry_jordim", "smurfs_jordim", "catdog_jordim", "advtime_jordim",
    "familyguy_jordim", "southpark_jordim", "arcane_dawnboy",
    "cricket_tvframes", "drinking_scenes", "friends_faces", "inscene_office_bbt",
    "shottype_stills", "movienet_stills", "bensreaction_gifs", "vsr_test2", "spiderman2_actors",
})


def _only(held, keep: np.ndarray):
    """``held`` with the images not in ``keep`` unscored."""
    return replace(held, clean=np.where(keep[:, None], held.clean, np.nan),
                   tv=np.where(keep[:, None, None], held.tv, np.nan))


def _by_part(name: str, held) -> list[str]:
    """Markdown rows of ``held`` for each part of the hidden evaluation, clean and TV:
    accuracy over the part's images, class mean and recall per class."""
    rows = []
    frames = np.array([s in FRAME_SOURCES for s in held.sources])
    for part, keep in (("web images", ~frames), ("film and TV frames", frames)):
        sub = summarise(_only(held, keep))
        srcs = sorted({s for s, k in zip(held.sources, keep, strict=True) if k})
        for view in ("clean", "tv"):
            v = sub[view]
            rows.append(f"| {name} | {part} ({len(srcs)} sources, {int(keep.sum())} images) "
                        f"| {view} | {_pct(v['accuracy'])} | {_pct(v['class_mean'])} | "
                        + " | ".join(_pct(v["recall"][c]) for c in sub["classes"]) + " |")
    return rows


def _mean_of_shots(tv: np.ndarray, *, geometric: bool) -> np.ndarray:
    """(N, shots, C) held-out probabilities -> each picture's mean over its shots, repeated
    so that every shot carries it."""
    if geometric:  # the normalised geometric mean is the softmax of the mean log
        mean = softmax(np.log(tv + 1e-30).mean(axis=1, keepdims=True))
    else:
        mean = tv.mean(axis=1, keepdims=True)
    return np.repeat(mean, tv.shape[1], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--variant", default=",".join(VARIANTS),
                    help="comma-separated names of: " + ", ".join(VARIANTS))
    ap.add_argument("--average", default="",
                    help="A+B: also a row for the mean of the held-out probabilities of two "
                         "variants run here (information only: one dense head cannot "
                         "express it)")
    ap.add_argument("--two-shots", action="store_true",
                    help="also rows for each variant's two camera frames of every picture "
                         "averaged (mean and geometric mean of the held-out probabilities): "
                         "an upper bound for what the device's smoothing adds")
    ap.add_argument("--by-part", action="store_true",
                    help="also a table per part of the hidden evaluation (web images; film "
                         "and TV frames): accuracy, class mean and recall, clean and TV")
    ap.add_argument("--without-duplicates", action="store_true",
                    help="also a row per variant scoring only held-out images with no "
                         "duplicate in another source (the build scores every image)")
    ap.add_argument("--json", type=Path, help="write the summaries here")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows, out, held = [], {}, {}
    for name in a.variant.split(","):
        cfg = HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"), work_dir=a.work_dir,
                              backbone_dir=a.backbone_dir, head=VARIANTS[name])
        pre = prepare(cfg)
        out[name], held[name] = pre.summary, pre.held
        rows.append(_row(name, pre.summary))
        if a.two_shots:
            for label, tv in (("mean", _mean_of_shots(pre.held.tv, geometric=False)),
                              ("geometric mean", _mean_of_shots(pre.held.tv, geometric=True))):
                key = f"{name}, {label} of two camera frames"
                out[key] = summarise(replace(pre.held, tv=tv))
                rows.append(_row(key, out[key]))
            shots = pre.held.tv.argmax(-1)
            print(f"{name}: the two camera frames of a picture disagree on "
                  f"{100 * np.mean(shots[:, 0] != shots[:, 1]):.1f} % of pictures")
        if a.without_duplicates:
            dup = pre.shared
            key = f"{name}, without the {int(dup.sum())} images duplicated in another source"
            out[key] = summarise(_only(pre.held, ~dup))
            rows.append(_row(key, out[key]))
        print(f"done {name}", flush=True)
    if a.average:
        first, second = (held[n] for n in a.average.split("+"))
        mean = replace(first, clean=(first.clean + second.clean) / 2,
                       tv=(first.tv + second.tv) / 2, temperature=1.0)
        out[a.average] = summarise(mean)
        rows.append(_row(a.average, out[a.average]))
    classes = next(iter(out.values()))["classes"]
    head = ["variant", "clean class mean", "TV class mean", "clean source mean",
            "TV source mean",
            *(f"clean {c}" for c in classes), *(f"TV {c}" for c in classes)]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if a.by_part:
        print("\n| variant | part | view | accuracy | class mean | "
              + " | ".join(f"recall {c}" for c in classes) + " |\n|" + "---|" * (5 + len(classes)))
        for name, h in held.items():
            print("\n".join(_by_part(name, h)))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
