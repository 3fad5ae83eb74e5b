"""Do more camera-at-TV views in training help? Two more per image, leave one source out.

The shipped head learns from four views of every image: clean, augmented and two simulated
camera-at-TV frames (``embed.make_views``). This script continues each image's own random
stream after those four views (so the first four are the shipped ones, byte for byte) to
draw two more TV frames, embeds them with the CPU twin through the device's preprocessing,
and compares the shipped head recipe learning from 4 and from 6 views over all 58 folds.
Held-out images are scored on the same clean view and the same two TV views as the shipped
estimate, so only what the head learns from changes.

    PYTHONPATH=device:training python3 training/experiments/more_tv_views.py \\
        /work/shared/data/aoc-train --work-dir .cache/aoc-train/head \\
        --backbone-dir /work/shared/reference/coral
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from aoc_train import tvsim
from aoc_train.data import read_rgb
from aoc_train.embed import Embedder, image_seed, make_views
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig
from aoc_train.loso import fold_names, run_loso, summarise

EXTRA = 2
CHUNK = 256


def _extra_chunk(args) -> np.ndarray:
    backbone, root, records, seed = args
    out = np.zeros((len(records), EXTRA, backbone.dim), np.uint8)
    with Embedder(backbone) as embed:
        for i, r in enumerate(records):
            image = np.asarray(read_rgb(root / r.file))
            rng = np.random.default_rng(image_seed(seed, r))
            make_views(image, rng, backbone.width)  # the shipped four: the stream moves on
            for k in range(EXTRA):
                out[i, k] = embed(np.ascontiguousarray(tvsim.tv_view(image, rng).frame))
    return out


def extra_views(pre, cache: Path, seed: int, workers: int) -> np.ndarray:
    """(N, EXTRA, dim) uint8 embeddings of the extra TV views, cached by chunk."""
    cache.mkdir(parents=True, exist_ok=True)
    records = list(pre.dataset.records)
    chunks = [records[i:i + CHUNK] for i in range(0, len(records), CHUNK)]
    todo = [k for k in range(len(chunks)) if not (cache / f"{k:05d}.npy").is_file()]
    t0 = time.monotonic()
    jobs = [(pre.backbone, pre.dataset.root, chunks[k], seed) for k in todo]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for n, (k, arr) in enumerate(zip(todo, pool.map(_extra_chunk, jobs), strict=True)):
            np.save(cache / f"{k:05d}.npy", arr)
            logging.info("chunk %d (%d/%d), %.0f s", k, n + 1, len(todo), time.monotonic() - t0)
    return np.concatenate([np.load(cache / f"{k:05d}.npy") for k in range(len(chunks))])


def check_stream(pre, seed: int, n: int = 3) -> None:
    """The random stream this script continues is the build's: its four views of the first
    ``n`` images embed to the cached bytes."""
    cached = np.rint(pre.emb[:n] / pre.backbone.output_scale).astype(np.uint8)
    with Embedder(pre.backbone) as embed:
        for i, r in enumerate(pre.dataset.records[:n]):
            image = np.asarray(read_rgb(pre.dataset.root / r.file))
            views = make_views(image, np.random.default_rng(image_seed(seed, r)),
                               pre.backbone.width)
            got = np.stack([embed(np.ascontiguousarray(v)) for v in views])
            if not np.array_equal(got, cached[i]):
                raise SystemExit(f"{r.file}: the four views do not reproduce the cache")


def row(name: str, s: dict) -> str:
    sm = {k: 100 * float(np.mean(list(s[k]["source_mean"].values()))) for k in ("clean", "tv")}
    cells = [100 * s["clean"]["class_mean"], 100 * s["tv"]["class_mean"], sm["clean"], sm["tv"],
             *(100 * v for v in s["tv"]["recall"].values())]
    return f"| {name} | " + " | ".join(f"{v:.1f}" for v in cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = HeadBuildConfig(data_dir=args.data_dir, out=Path("unused"), work_dir=args.work_dir,
                          backbone_dir=args.backbone_dir, head=HeadConfig(), seed=args.seed)
    pre = prepare(cfg)
    check_stream(pre, args.seed)
    extra = extra_views(pre, args.work_dir / "more_tv_views", args.seed, args.workers)
    emb = np.concatenate([pre.emb, pre.backbone.dequantize(extra)], axis=1)
    folds = fold_names(pre.labels, pre.sources, seed=args.seed)
    shipped = HeadConfig()
    arms = {
        "shipped: clean, augmented, 2 TV views": shipped,
        "clean, augmented, 4 TV views": replace(shipped, views=(0, 1, 2, 3, 4, 5)),
    }
    rows = {name: summarise(run_loso(emb, pre.labels, folds, pre.classes, config=config))
            for name, config in arms.items()}
    print("\n| head learns | clean class mean | TV class mean | clean source mean "
          "| TV source mean | TV anime | TV cartoon | TV neither |")
    print("|---" * 8 + "|")
    for name, s in rows.items():
        print(row(name, s))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
