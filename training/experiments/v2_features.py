"""Frozen ImageNet MobileNetV2 1.0 features against the shipped Coral V1 embeddings, same LDA.

For every image (or a seeded subsample per source) the four views of
:mod:`aoc_train.embed` are made again with the same per-image seeds (so tv1/tv2 are the
identical frames), fitted by the device's :class:`Preprocessor` for a 224x224 uint8 spec
(Coral's (1/128, 128) input quantization: centre crop, ``area_linear``), scaled to [-1, 1)
as ``(q - 128) / 128`` (what Coral's quantized V2 sees) and run through Keras
MobileNetV2(alpha=1.0) with the weights dequantized from Coral's
``mobilenet_v2_1.0_224_quant.tflite``, BatchNorm in inference mode, global average pooling:
a 1280-d float feature per view, cached as float16 per chunk of 256 images under
``<work-dir>/v2-1.0-<key>/`` (an interrupted run resumes). Then leave-one-source-out with the
shipped head recipe (``HeadConfig()``: LDA on the square root, shrinkage 0.3) over the same
folds, for V1 (the cached shipped embeddings) and V2 on exactly the same images and views,
and optionally both concatenated (square root of each, standardised, one LDA).

    PYTHONPATH=device:training .venv/bin/python training/experiments/v2_features.py \\
        /work/shared/data/aoc-train --work-dir /work/main/.cache/aoc-train/head \\
        --backbone-dir /work/shared/reference/coral \\
        --weights /work/shared/weights/\\
mobilenet_v2_100_224_imagenet_no_top_from_coral_quant.weights.h5 \\
        --views 0,1,2,3 --v2-variants --concat --json v2.json

To spread the embedding over two cores, first run two processes with ``--threads 1
--shard 0/2`` and ``--shard 1/2`` (the one finishing last assembles the features and runs
the LOSO), then the command above reads the cache.

Measured 2026-12-07 on this machine (2 CPU cores, TensorFlow 2.21, Keras 3.15), all 15,468
images, all four views: one process with 2 threads took 114 ms per image (67 ms making the
four views and fitting them, 47 ms V2 forward passes, 11.8 ms per frame in batches of 64);
two shard processes with 1 thread each took about 160 ms per image each (about 20 ms per
frame), about 20 minutes of wall time for the whole set (about 79 ms per image). The
LOSO runs take 10-20 s each (about 70 s for the 2,304-d concatenation).

Result (class mean clean / TV; source mean clean / TV): V1 shipped 90.6 / 83.4; 81.6 /
74.5 (the cached figures reproduced exactly). V2 1.0 90.5 / 80.4; 81.3 / 71.4: no better
clean, 3.0 points worse through the TV simulation (shrinkage 0.1 or no square root change
V2 by at most 0.6). V1 + V2 concatenated 90.9 / 84.2; 82.7 / 75.5: +0.3 / +0.8 class mean,
+1.1 / +1.0 source mean, for two backbones' cost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from aoc.inference.preprocess import Preprocessor
from aoc_train.data import ImageRecord, read_rgb
from aoc_train.embed import CHUNK, VIEWS, image_seed, make_views
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig
from aoc_train.loso import fold_names, run_loso, summarise

log = logging.getLogger(__name__)

WORST = ("ghibli_dawnboy", "doraemon_jainam", "shinchan_jainam", "rir001_animescenery",
         "arcane_dawnboy", "cricket_tvframes", "pokemon_jordim", "tsubasa_jordim")
_VERSION = "v2feat-v1"


def subsample(records: list[ImageRecord], per_source: int, seed: int) -> np.ndarray:
    """Indices of at most ``per_source`` images of each source (seeded), in record order."""
    idx = np.arange(len(records))
    if not per_source:
        return idx
    src = np.array([r.source for r in records])
    rng = np.random.default_rng(seed)
    keep = []
    for s in sorted(set(src)):
        mine = idx[src == s]
        keep.extend(mine if len(mine) <= per_source
                    else rng.choice(mine, per_source, replace=False))
    return np.sort(np.array(keep))


def build_model(weights: Path, threads: int):
    """Keras MobileNetV2 1.0 without top, global average pooling, inference mode."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    base = keras.applications.MobileNetV2(input_shape=(224, 224, 3), alpha=1.0,
                                          include_top=False, weights=None)
    base.load_weights(str(weights))
    base.trainable = False
    pooled = keras.layers.GlobalAveragePooling2D()(base.output)
    model = keras.Model(base.input, pooled)

    @tf.function(jit_compile=False, reduce_retracing=True)
    def run(x):
        return model(x, training=False)

    return run


def _chunk_views(root: Path, records: list[ImageRecord], seed: int, views: tuple[int, ...],
                 pre: Preprocessor) -> np.ndarray:
    """(n, len(views), 224, 224, 3) uint8 device-fitted frames of the chosen views."""
    out = np.zeros((len(records), len(views), 224, 224, 3), np.uint8)
    for i, r in enumerate(records):
        image = np.asarray(read_rgb(root / r.file))
        made = make_views(image, np.random.default_rng(image_seed(seed, r)), 224)
        for j, v in enumerate(views):
            pre(np.ascontiguousarray(made[v]), out[i, j])
    return out


def v2_features(run, root: Path, records: list[ImageRecord], spec, *, cache_dir: Path,
                key: str, seed: int, views: tuple[int, ...], batch: int,
                max_chunks: int = 0, shard: tuple[int, int] = (0, 1)) -> np.ndarray | None:
    """(N, 4, 1280) float32 features (views not computed are NaN), cached per chunk."""
    folder = Path(cache_dir) / f"v2-1.0-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    pre = Preprocessor(spec)
    chunks = [records[i:i + CHUNK] for i in range(0, len(records), CHUNK)]
    todo = [k for k in range(len(chunks)) if not (folder / f"{k:05d}.npy").is_file()
            and k % shard[1] == shard[0]]
    print(f"[embed] {len(chunks)} chunks, {len(todo)} of them to compute here, in {folder}",
          flush=True)
    done = 0
    for k in todo:
        if max_chunks and done >= max_chunks:
            break
        t0 = time.monotonic()
        frames = _chunk_views(root, chunks[k], seed, views, pre)
        t1 = time.monotonic()
        flat = frames.reshape(-1, 224, 224, 3)
        feats = np.zeros((len(flat), 1280), np.float16)
        for b in range(0, len(flat), batch):
            x = (flat[b:b + batch].astype(np.float32) - 128.0) / 128.0
            feats[b:b + batch] = np.asarray(run(x)).astype(np.float16)
        t2 = time.monotonic()
        arr = feats.reshape(len(chunks[k]), len(views), 1280)
        tmp = folder / f"{k:05d}.partial.npy"
        np.save(tmp, arr)
        os.replace(tmp, folder / f"{k:05d}.npy")
        done += 1
        n = len(chunks[k])
        print(f"[embed] chunk {k}: {n} images, views {t1 - t0:.1f} s, V2 {t2 - t1:.1f} s "
              f"({1000 * (t2 - t0) / n:.0f} ms/image, {1000 * (t2 - t1) / len(flat):.1f} "
              f"ms/frame)", flush=True)
    if any(not (folder / f"{k:05d}.npy").is_file() for k in range(len(chunks))):
        return None
    part = np.concatenate([np.load(folder / f"{k:05d}.npy") for k in range(len(chunks))])
    out = np.full((len(records), len(VIEWS), 1280), np.nan, np.float32)
    out[:, list(views)] = part.astype(np.float32)
    return out


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def row(name: str, s: dict) -> list[str]:
    classes = s["classes"]
    src_mean = {k: sum(s[k]["source_mean"].values()) / len(classes) for k in ("clean", "tv")}
    per = [f"{_pct(s['sources'][w]['clean'])} / {_pct(s['sources'][w]['tv'])}"
           if w in s["sources"] else "-" for w in WORST]
    return [name, _pct(s["clean"]["class_mean"]), _pct(s["tv"]["class_mean"]),
            _pct(src_mean["clean"]), _pct(src_mean["tv"]),
            *(f"{_pct(s['clean']['recall'][c])} / {_pct(s['tv']['recall'][c])}"
              for c in classes), *per]


def standardised_sqrt(*embs: np.ndarray) -> np.ndarray:
    """sqrt of each (N, V, D) block, each feature standardised over the non-NaN views, blocks
    concatenated (the LDA head then runs with power 1, i.e. on these rows as they are)."""
    blocks = []
    for e in embs:
        z = np.sqrt(np.maximum(e, 0))
        flat = z.reshape(-1, z.shape[-1])
        ok = ~np.isnan(flat[:, 0])
        mu, sd = flat[ok].mean(0), flat[ok].std(0) + 1e-6
        blocks.append((z - mu) / sd)
    return np.concatenate(blocks, axis=-1).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--views", default="0,1,2,3", help="views to embed (0 clean, 1 augmented, "
                    "2, 3 TV); the heads train on these, held-out images are scored on 0 and 2,3")
    ap.add_argument("--per-source", type=int, default=0,
                    help="at most this many images per source (seeded), 0 for all")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-chunks", type=int, default=0,
                    help="compute at most this many chunks and stop (timing)")
    ap.add_argument("--shard", default="0/1",
                    help="i/n: compute only chunks k with k %% n == i (run n processes with "
                         "--threads 1 on n cores; a last run without it assembles)")
    ap.add_argument("--concat", action="store_true", help="also V1+V2 in one LDA")
    ap.add_argument("--v2-variants", action="store_true",
                    help="also V2 with the head's shrinkage 0.1 and without the square root, "
                         "in case the shipped recipe (tuned on V1) is unfair to V2")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    views = tuple(int(v) for v in a.views.split(","))
    if not {0, 2, 3} <= set(views):
        ap.error("held-out images are scored on views 0, 2 and 3: --views must include them")

    cfg = HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"), work_dir=a.work_dir,
                          backbone_dir=a.backbone_dir, seed=a.seed)
    pre = prepare(cfg)  # the shipped V1: records, labels, sources, embeddings, LOSO (cached)
    spec = pre.backbone.preprocess_spec()
    records = list(pre.dataset.records)
    keep = subsample(records, a.per_source, a.seed)
    sub = [records[i] for i in keep]
    h = hashlib.sha256(f"{_VERSION}|{a.weights.name}|{a.seed}|{views}|{spec}".encode())
    for r in sub:
        h.update(r.sha256.encode())
    key = h.hexdigest()[:16]
    print(f"[data] {len(sub)} of {len(records)} images, views {views}, key {key}", flush=True)

    run = build_model(a.weights, a.threads)
    t0 = time.monotonic()
    v2 = v2_features(run, pre.dataset.root, sub, spec, cache_dir=a.work_dir, key=key, seed=a.seed,
                     views=views, batch=a.batch, max_chunks=a.max_chunks,
                     shard=tuple(int(x) for x in a.shard.split("/")))
    print(f"[embed] {time.monotonic() - t0:.0f} s this run", flush=True)
    if v2 is None:
        print("[embed] not all chunks computed yet; run again to resume")
        return

    labels = pre.labels[keep]
    sources = [pre.sources[i] for i in keep]
    folds = fold_names(labels, sources, seed=a.seed)
    classes = pre.classes
    head = replace(HeadConfig(), views=views)
    v1 = pre.emb[keep].astype(np.float32)
    out, rows = {}, []
    runs = [("V1 shipped (Coral MobileNet V1 1.0 embedding)", v1, head),
            ("V2 1.0 (Keras, frozen, pooled)", v2, head)]
    if a.v2_variants:
        runs += [("V2 1.0, shrinkage 0.1", v2, replace(head, shrinkage=0.1)),
                 ("V2 1.0, no square root", v2, replace(head, power=1.0))]
    if a.concat:
        runs.append(("V1 + V2 (sqrt, standardised, concatenated)", standardised_sqrt(v1, v2),
                     replace(head, power=1.0)))
    for name, emb, hc in runs:
        t = time.monotonic()
        # power 1.0 (the concatenation): input_power is then the identity, signed rows are fine
        held = run_loso(np.nan_to_num(emb), labels, folds, classes, config=hc)
        s = summarise(held)
        out[name] = s
        rows.append(row(name, s))
        print(f"[loso] {name}: {time.monotonic() - t:.0f} s", flush=True)
    hdr = ["features", "clean class mean", "TV class mean", "clean source mean",
           "TV source mean", *(f"{c} recall clean / TV" for c in classes),
           *(f"{w} clean / TV" for w in WORST)]
    print("| " + " | ".join(hdr) + " |\n|" + "---|" * len(hdr))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if a.json:
        a.json.write_text(json.dumps({"images": len(sub), "views": views, "key": key,
                                      "summaries": out}, indent=1))


if __name__ == "__main__":
    main()
