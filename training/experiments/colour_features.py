"""Do hand-made colour and edge statistics add to the V1 embedding? Leave one source out.

The V1 embedding is ImageNet's pooled features; flat saturated fills, thick dark outlines
and few distinct colours (a Western cartoon) against shading and gradients (anime) may be
only weakly in it. For every view of every image (the same views as the cached
embeddings: ``embed.make_views`` with each image's own random stream), fitted to 224x224
by the device's ``Preprocessor``, this computes 38 non-negative statistics: saturation
and value histograms (8 bins each), a hue histogram weighted by saturation (12), a
histogram of gradient magnitudes (7), and colourfulness, the share of distinct 12-bit
colours and the share of dark edge pixels. The shipped LDA recipe then learns from the
embedding and the statistics side by side (both through the square root; the statistics
scaled to ``--scale`` times the embedding's mean variance per dimension), 58 folds.

    PYTHONPATH=device:training python3 training/experiments/colour_features.py \\
        /work/shared/data/aoc-train --work-dir .cache/aoc-train/head \\
        --backbone-dir /work/shared/reference/coral --scale 0.3,1,3
"""

from __future__ import annotations

import argparse
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from aoc.inference.preprocess import Preprocessor
from aoc_train.data import read_rgb
from aoc_train.embed import image_seed, make_views
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig
from aoc_train.loso import fold_names, run_loso, summarise

DIM = 38
_GRAD_BINS = np.array([0, 2, 4, 8, 16, 32, 64, 1e9])
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def statistics(rgb: np.ndarray) -> np.ndarray:
    """The 38 colour and edge statistics of one (H, W, 3) uint8 frame, all >= 0."""
    hsv = np.asarray(Image.fromarray(rgb).convert("HSV"))
    h, s, v = (hsv[..., i].ravel() for i in range(3))
    n = h.size
    sat = np.bincount(s >> 5, minlength=8) / n
    val = np.bincount(v >> 5, minlength=8) / n
    w = s.astype(np.float64) / 255.0
    hue = np.bincount((h.astype(np.int32) * 12) >> 8, weights=w, minlength=12)
    hue = hue / max(float(w.sum()), 1e-6)
    g = rgb.astype(np.float32) @ _LUMA
    mag = np.abs(np.diff(g, axis=1))[:-1] + np.abs(np.diff(g, axis=0))[:, :-1]
    grad = np.histogram(mag, bins=_GRAD_BINS)[0] / mag.size
    q = (rgb >> 4).astype(np.int32)
    colours = np.unique((q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]).size / 4096.0
    dark_edges = float(np.mean((hsv[:-1, :-1, 2] < 48) & (mag > 32)))
    return np.concatenate([sat, val, hue, grad, [w.mean(), colours, dark_edges]])


def _chunk(args: tuple) -> np.ndarray:
    root, records, seed, spec = args
    pre = Preprocessor(spec)
    out = np.zeros((len(records), 4, DIM), np.float32)
    for i, r in enumerate(records):
        image = np.asarray(read_rgb(root / r.file))
        views = make_views(image, np.random.default_rng(image_seed(seed, r)), spec.width)
        for v, view in enumerate(views):
            out[i, v] = statistics(pre.fit(np.ascontiguousarray(view)))
    return out


def all_statistics(pre, seed: int, cache: Path) -> np.ndarray:
    """(N, 4, 38) statistics of every view (cached in ``cache``)."""
    if cache.is_file():
        return np.load(cache)
    records = list(pre.dataset.records)
    spec = pre.backbone.preprocess_spec()
    step = 250
    jobs = [(pre.dataset.root, records[i:i + step], seed, spec)
            for i in range(0, len(records), step)]
    t0 = time.monotonic()
    parts = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        for k, part in enumerate(pool.map(_chunk, jobs)):
            parts.append(part)
            logging.warning("statistics: %d/%d chunks, %.0f s", k + 1, len(jobs),
                            time.monotonic() - t0)
    out = np.concatenate(parts)
    np.save(cache, out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--scale", default="1", help="comma-separated variance ratios")
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    cfg = HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"), work_dir=a.work_dir,
                          backbone_dir=a.backbone_dir, head=HeadConfig(), seed=a.seed)
    pre = prepare(cfg)
    stats = all_statistics(pre, a.seed, a.work_dir / f"colour-stats-{len(pre.labels)}.npy")
    config = HeadConfig()
    # the variance each block has after the square root the head applies
    emb_var = float(np.sqrt(pre.emb[:, 0]).var(0).mean())
    stat_var = np.sqrt(stats[:, 0]).var(0)
    rows = {"shipped (embedding alone)": pre.summary}
    folds = fold_names(pre.labels, pre.sources, seed=a.seed)
    alone = run_loso(stats, pre.labels, folds, pre.classes, config=config)
    rows["statistics alone"] = summarise(alone)
    for scale in (float(s) for s in a.scale.split(",")):
        # each statistic scaled so that, after the head's square root, its variance is
        # ``scale`` x the embedding's mean variance per dimension
        k = scale * emb_var / np.maximum(stat_var, 1e-12)
        x = np.concatenate([pre.emb, stats * k[None, None, :].astype(np.float32)], axis=2)
        held = run_loso(x, pre.labels, folds, pre.classes, config=config)
        rows[f"embedding + statistics, variance x{scale:g}"] = summarise(held)
    classes = pre.classes
    print("| features | clean class mean | TV class mean | clean source mean | TV source mean |"
          + "".join(f" TV {c} |" for c in classes))
    print("|---" * (5 + len(classes)) + "|")
    for name, s in rows.items():
        sm = {k: 100 * float(np.mean(list(s[k]["source_mean"].values()))) for k in ("clean", "tv")}
        cells = [100 * s["clean"]["class_mean"], 100 * s["tv"]["class_mean"], sm["clean"],
                 sm["tv"], *(100 * s["tv"]["recall"][c] for c in classes)]
        print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
