"""Do the four quarters of the picture, embedded on their own, add what the whole misses?

Anime loses most through a TV by the picture's size in the frame (fine lines, small faces;
see "Where the gap through a TV comes from" in the notes), and whole anime frames are the
weakest part of the estimate. The backbone sees the centre square at 224x224 only. Here
each view's centre square (what ``center_crop`` cuts) is also split into 2x2 quarters, each
fitted to 224x224 by the device's own ``Preprocessor`` and embedded by the same compiled
backbone's CPU twin: four more invokes a frame (about 10 ms more on an Edge TPU). The head
then learns from the whole's embedding beside the quarters' mean or maximum, with the
shipped recipe (square root, LDA), leave one source out within a stratified subset (at
most ``--per-source`` images of each source, the same subset as ``fit_policy.py``).

    PYTHONPATH=device:training python3 training/experiments/tile_features.py \\
        /work/shared/data/aoc-train --work-dir .cache/aoc-train/head \\
        --backbone-dir /work/shared/reference/coral --per-source 40
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from aoc_train.data import read_rgb
from aoc_train.embed import Embedder, image_seed, make_views
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig
from aoc_train.loso import fold_names, run_loso, summarise


def subset(sources: list[str], per_source: int, seed: int) -> np.ndarray:
    """At most ``per_source`` images of each source, chosen at random (sorted indices)."""
    rng = np.random.default_rng(seed)
    src = np.asarray(sources)
    keep = []
    for s in sorted(set(sources)):
        idx = np.flatnonzero(src == s)
        keep.extend(rng.choice(idx, min(per_source, idx.size), replace=False).tolist())
    return np.array(sorted(keep))


def quarters(view: np.ndarray) -> list[np.ndarray]:
    """The 2x2 quarters of the view's centred square (contiguous copies)."""
    h, w = view.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    half = side // 2
    return [np.ascontiguousarray(view[y0 + dy:y0 + dy + half, x0 + dx:x0 + dx + half])
            for dy in (0, half) for dx in (0, half)]


def _embed_chunk(args) -> np.ndarray:
    backbone, root, records, seed, whole = args
    out = np.zeros((len(records), 5, 4, backbone.dim), np.uint8)  # image, whole + 4, view
    with Embedder(backbone) as embed:
        for i, r in enumerate(records):
            image = np.asarray(read_rgb(root / r.file))
            views = make_views(image, np.random.default_rng(image_seed(seed, r)),
                               backbone.width)
            for v, view in enumerate(views):
                if whole:  # else taken from the build's cache (checked on the first chunk)
                    out[i, 0, v] = embed(np.ascontiguousarray(view))
                for t, part in enumerate(quarters(view)):
                    out[i, 1 + t, v] = embed(part)
    return out


def embed_tiles(pre, idx: np.ndarray, cache: Path, seed: int, workers: int) -> np.ndarray:
    """(n, 5, 4 views, dim) uint8: the whole and its four quarters, every view (cached).

    On more than 3,000 images the whole is embedded for the first chunk only (the check
    against the build's cache), and taken from that cache for the rest."""
    out_file = cache / f"tiles-{len(idx)}-{seed}.npy"
    if out_file.is_file():
        return np.load(out_file)
    records = [pre.dataset.records[i] for i in idx]
    chunks = [records[i:i + 50] for i in range(0, len(records), 50)]
    t0 = time.monotonic()
    parts = []
    every_whole = len(idx) <= 3000
    with Pool(workers) as pool:
        jobs = [(pre.backbone, pre.dataset.root, c, seed, every_whole or k == 0)
                for k, c in enumerate(chunks)]
        for n, part in enumerate(pool.imap(_embed_chunk, jobs)):
            parts.append(part)
            logging.info("%d/%d chunks, %.0f s", n + 1, len(chunks), time.monotonic() - t0)
    q = np.concatenate(parts)
    np.save(out_file, q)
    return q


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--per-source", type=int, default=40, help="0: every image")
    ap.add_argument("--arms", help="comma-separated arm names (default: all)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = HeadBuildConfig(data_dir=args.data_dir, out=Path("unused"), work_dir=args.work_dir,
                          backbone_dir=args.backbone_dir, head=HeadConfig(), seed=args.seed)
    pre = prepare(cfg)
    idx = (np.arange(len(pre.labels)) if args.per_source == 0
           else subset(pre.sources, args.per_source, args.seed))
    cache = args.work_dir / "tile_features"
    cache.mkdir(exist_ok=True)
    q = embed_tiles(pre, idx, cache, args.seed, args.workers)
    cached = np.rint(pre.emb[idx] / pre.backbone.output_scale).astype(np.uint8)
    checked = len(idx) if len(idx) <= 3000 else 50
    if not np.array_equal(q[:checked, 0], cached[:checked]):
        raise SystemExit("the whole-picture embeddings do not reproduce the build's cache")
    q[:, 0] = cached
    f = pre.backbone.dequantize(q)  # (n, 5, views, dim)
    whole, tiles = f[:, 0], f[:, 1:]
    # built when chosen: on every image each is over a gigabyte
    n, dim = f.shape[0], f.shape[-1]

    def stacked() -> np.ndarray:  # quarters as views 4..19 (tile t of view v: 4 + 4t + v)
        return np.concatenate([whole, tiles.reshape(n, 16, dim)], axis=1)

    arms = {
        "whole (shipped)": lambda: whole,
        "whole + mean of quarters": lambda: np.concatenate([whole, tiles.mean(axis=1)], -1),
        "whole + max of quarters": lambda: np.concatenate([whole, tiles.max(axis=1)], -1),
        "mean of whole and quarters": lambda: f.mean(axis=1),
        "quarters' mean alone": lambda: tiles.mean(axis=1),
        # quarters as extra training views only: the device still embeds the whole, once
        "whole; learns from quarters too": stacked,
        "whole; learns from TV views' quarters too": stacked,
    }
    extra_views = {
        "whole; learns from quarters too": tuple(range(20)),
        # quarters of the two TV views (tile t of view v is at 4 + 4 * t + v)
        "whole; learns from TV views' quarters too": (0, 1, 2, 3, *(4 + 4 * t + v
                                                                for t in range(4)
                                                                for v in (2, 3))),
    }
    labels = pre.labels[idx]
    sources = [pre.sources[i] for i in idx]
    folds = fold_names(labels, sources, seed=args.seed)
    rows = {}
    chosen = args.arms.split(",") if args.arms else list(arms)
    for name in chosen:
        emb = arms[name]()
        config = HeadConfig()
        if name in extra_views:
            config = replace(config, views=extra_views[name])
        held = run_loso(np.ascontiguousarray(emb, np.float32), labels, folds, pre.classes,
                        config=config)
        rows[name] = summarise(held)
        logging.info("done %s", name)
    print(f"\n{len(idx)} images ({args.per_source} at most per source), "
          f"{len(set(sources))} sources, leave one source out within the subset\n")
    print("| features | clean class mean | TV class mean | clean source mean | TV source mean | "
          + " | ".join(f"TV {c}" for c in pre.classes) + " |")
    print("|---" * (5 + len(pre.classes)) + "|")
    for name, s in rows.items():
        sm = {k: 100 * float(np.mean(list(s[k]["source_mean"].values()))) for k in ("clean", "tv")}
        cells = [100 * s["clean"]["class_mean"], 100 * s["tv"]["class_mean"], sm["clean"],
                 sm["tv"], *(100 * s["tv"]["recall"][c] for c in pre.classes)]
        print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
