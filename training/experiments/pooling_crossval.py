"""Leave-one-source-out scores of the head-only recipe on other poolings of ``Conv_1``.

The shipped head sees the *mean* over the 7x7 grid of the backbone's last activations. A
small anime face in a wide wallpaper is diluted by that mean, while the data's anime is
mostly tight face crops; max or second-moment pooling respond to a pattern wherever it is
and however small. This script asks whether that helps on unseen sources: it recomputes the
``Conv_1`` block (1x1 conv, BatchNorm, ReLU6) from the cached activations of an
``aoc-train crossval --top-tune-from Conv_1`` run (through ``top_tune.split_backbone``,
the same layers the top-tune trains), pools it each way, and runs the same
head-only folds (``aoc_train.crossval.run_crossval``) on each. Every variant overwrites the
work folder's ``crossval.json``/``.md``/``-probs.npz``; the figures print at the end::

    PYTHONPATH=device:training python3 training/experiments/pooling_crossval.py \\
        /work/shared/data/aoc-train --out models/default --work-dir .cache/aoc-train/crossval \\
        --weights /work/shared/weights/mobilenet_v2_035_224_imagenet_no_top.weights.h5 \\
        --pool mean,max,mean+max,mean+sq
"""

from __future__ import annotations

import json
import sys

import numpy as np

from aoc_train.cli import build_parser, config_from_args
from aoc_train.crossval import all_activations, all_features, parse_folds, run_crossval
from aoc_train.model import build_model
from aoc_train.pipeline import Pipeline
from aoc_train.top_tune import split_backbone

HARD = ("pranav_anime", "ao7108_character_art", "sytwu_danbooru_faces",
        "visuallayer_tomjerry_frames", "pranav_cartoon", "techdude_human_faces")


def conv1_pools(upper, acts: np.ndarray, chunk: int = 512) -> dict[str, np.ndarray]:
    """Mean, max and mean-square over the grid of ``upper`` (the backbone from ``Conv_1`` on,
    top_tune.split_backbone) applied to ``acts`` (..., h, w, c_in); arrays (..., c_out)."""
    lead = acts.shape[:-3]
    flat = acts.reshape(-1, *acts.shape[-3:])
    out: dict[str, list[np.ndarray]] = {"mean": [], "max": [], "sq": []}
    for s in range(0, len(flat), chunk):
        y = upper(np.asarray(flat[s:s + chunk], np.float32), training=False).numpy()
        out["mean"].append(y.mean(axis=(1, 2)))
        out["max"].append(y.max(axis=(1, 2)))
        out["sq"].append((y * y).mean(axis=(1, 2)))
    return {k: np.concatenate(v).reshape(*lead, -1) for k, v in out.items()}


def main() -> None:
    argv = sys.argv[1:]
    pools = ["mean", "max", "mean+max", "mean+sq"]
    if "--pool" in argv:
        i = argv.index("--pool")
        pools = argv[i + 1].split(",")
        del argv[i:i + 2]
    # head only: the activations below Conv_1 are fetched by name, whatever the fit does
    a = build_parser().parse_args(["crossval", *argv, "--top-tune-from", ""])
    p = Pipeline(config_from_args(a), progress=False)
    p.scan()
    folds = parse_folds(a.folds, [r.source for r in p.dataset.records])
    acts_aug, acts_clean = all_activations(p, "Conv_1")
    _, upper = split_backbone(build_model(p.model_spec()), "Conv_1")
    aug, clean = conv1_pools(upper, acts_aug), conv1_pools(upper, acts_clean)
    # sanity: the mean pool is the build's own cached feature
    f_aug, _ = all_features(p)
    print(f"mean pool vs cached features: max |diff| "
          f"{np.abs(aug['mean'][:64] - f_aug[:64]).max():.4f}", flush=True)
    rows = {}
    for pool in pools:
        parts = pool.split("+")
        feats = (np.concatenate([aug[k] for k in parts], axis=-1),
                 np.concatenate([clean[k] for k in parts], axis=-1))
        s = run_crossval(p, folds, features=feats)
        acc = {f.sources[0]: f.accuracy for f in s.folds}
        drawing = [f.accuracy for f in s.folds if f.label != "neither"]
        rows[pool] = {"mean": s.mean_accuracy, "balanced": s.balanced_accuracy,
                      "drawing": float(np.mean(drawing)), **{h: acc[h] for h in HARD if h in acc}}
        print(pool, json.dumps({k: round(100 * v, 1) for k, v in rows[pool].items()}),
              flush=True)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
