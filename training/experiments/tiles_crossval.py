"""Leave-one-source-out scores of the shipped recipe when the picture is also read in tiles.

The data's anime is mostly tight face crops; in an anime wallpaper or screen the faces are
small, and on the backbone's 7x7 grid they cover less than a cell. Reading the picture
again as four overlapping corner tiles (each ``--tile`` of the side, resized to the input)
shows the small faces at the size training saw them. This script asks whether that helps on
unseen sources: per fold it trains the head and the ``Conv_1`` top-tune exactly as
``aoc-train crossval --top-tune-from Conv_1`` does, scores the held-out clean
views and their tiles, and prints the accuracy of several ways of combining them. Tile
activations are cached beside the crossval caches::

    PYTHONPATH=device:training python3 training/experiments/tiles_crossval.py \\
        /work/shared/data/aoc-train --out models/default --work-dir .cache/aoc-train/crossval \\
        --weights /work/shared/weights/mobilenet_v2_035_224_imagenet_no_top.weights.h5
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import numpy as np
from PIL import Image

from aoc_train.cli import build_parser, config_from_args
from aoc_train.crossval import fit_fold_head, fold_split, parse_folds, tune_fold_top
from aoc_train.crossval_arrays import all_activations, all_features, all_views
from aoc_train.pipeline import Pipeline
from aoc_train.quality import predictions
from aoc_train.split import balanced_weights

HARD = ("pranav_anime", "ao7108_character_art", "sytwu_danbooru_faces",
        "visuallayer_tomjerry_frames", "pranav_cartoon", "techdude_human_faces")


def corner_tiles(view: np.ndarray, share: float) -> np.ndarray:
    """Four corner crops of ``share`` of the side of a square (s, s, 3) view, each resized
    back to s (bilinear, as the device's default resize)."""
    s = view.shape[0]
    t = round(s * share)
    img = Image.fromarray(view)
    boxes = [(x, y, x + t, y + t) for y in (0, s - t) for x in (0, s - t)]
    return np.stack([np.asarray(img.resize((s, s), Image.Resampling.BILINEAR, box=b))
                     for b in boxes])


def tile_activations(p: Pipeline, share: float) -> np.ndarray:
    """(n, 4, h, w, c) activations below ``Conv_1`` of every clean view's tiles, cached."""
    from aoc_train.crossval_arrays import cache_path
    from aoc_train.model import build_model
    from aoc_train.top_tune import activations, split_backbone
    from aoc_train.views import cached_arrays

    def compute() -> dict[str, np.ndarray]:
        _, clean = all_views(p)
        model = build_model(p.model_spec())
        lower, _ = split_backbone(model, "Conv_1")
        parts = []
        for s in range(0, len(clean), 256):
            tiles = np.stack([corner_tiles(v, share) for v in clean[s:s + 256]])
            parts.append(activations(model, lower, tiles))
            print(f"tiles {s + len(tiles)} / {len(clean)}", flush=True)
        return {"tiles": np.concatenate(parts)}

    path = cache_path(p, f"tiles{int(100 * share)}-Conv_1")
    return cached_arrays(path, compute)["tiles"]


RULES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "full": lambda full, tiles: full,
    "tiles mean": lambda full, tiles: tiles.mean(axis=1),
    "full + tiles, equal": lambda full, tiles: (full + tiles.mean(axis=1)) / 2,
    "mean of 5": lambda full, tiles: (full + tiles.sum(axis=1)) / 5,
    "geometric mean of 5": lambda full, tiles: np.exp(
        (np.log(full + 1e-6) + np.log(tiles + 1e-6).sum(axis=1)) / 5),
}


def main() -> None:
    argv = sys.argv[1:]
    share = 0.6
    if "--tile" in argv:
        i = argv.index("--tile")
        share = float(argv[i + 1])
        del argv[i:i + 2]
    a = build_parser().parse_args(["crossval", *argv])
    c = config_from_args(a)
    p = Pipeline(c, progress=False)
    p.scan()
    recs, classes, labels = list(p.dataset.records), list(p.dataset.classes), p.dataset.label_ids()
    folds = parse_folds(a.folds, [r.source for r in recs])
    f_aug, f_clean = all_features(p)
    a_aug, a_clean = all_activations(p, c.fit.top_tune_from)
    a_tiles = tile_activations(p, share)

    from aoc_train.top_tune import top_probs

    acc: dict[str, dict[str, float]] = {r: {} for r in RULES}
    label_of: dict[str, str] = {}
    for fold in folds:
        split = fold_split(recs, fold, classes, seed=c.seed, val_fraction=c.val_fraction)
        te = list(split.test)
        w = balanced_weights(recs, list(split.train), classes, source_power=c.source_power)
        head_w = fit_fold_head(p, split, (f_aug, f_clean), labels, w)
        model = tune_fold_top(p, split, head_w, w, (a_aug, a_clean), labels)
        full = top_probs(model, c.fit.top_tune_from, a_clean[te])
        tiles = top_probs(model, c.fit.top_tune_from,
                          a_tiles[te].reshape(-1, *a_tiles.shape[2:])).reshape(len(te), 4, -1)
        name = ",".join(fold)
        label_of[name] = recs[te[0]].label
        for rule, combine in RULES.items():
            acc[rule][name] = float((predictions(combine(full, tiles)) == labels[te]).mean())
        print(name, {r: round(100 * acc[r][name], 1) for r in RULES}, flush=True)
    rows = {}
    for rule, per_fold in acc.items():
        by_class = {cl: np.mean([v for f, v in per_fold.items() if label_of[f] == cl])
                    for cl in classes}
        drawing = [v for f, v in per_fold.items() if label_of[f] != "neither"]
        rows[rule] = {"mean": float(np.mean(list(per_fold.values()))),
                      "balanced": float(np.mean(list(by_class.values()))),
                      "drawing": float(np.mean(drawing)),
                      **{h: per_fold[h] for h in HARD if h in per_fold}}
        print(rule, json.dumps({key: round(100 * v, 1) for key, v in rows[rule].items()}),
              flush=True)


if __name__ == "__main__":
    main()
