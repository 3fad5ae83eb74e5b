"""A fine-tuned MobileNetV2 1.0 against the shipped Coral V1 + LDA, on grouped source folds.

Each image's four views (``aoc_train.embed.make_views``, the shipped V1 cache's per-image
seeds: the first image of every chunk is re-embedded by the V1 twin and must match that
cache exactly) are fitted by the device's ``Preprocessor``, scaled as Coral's quantized V2
input ``(q - 128) / 128`` and run through Keras MobileNetV2(alpha=1.0) with the weights
dequantized from Coral's model; the inputs of ``block_16_expand`` and ``Conv_1`` are cached
as float16 per chunk under ``<work-dir>/v2-top-<key>/`` (resumable), tuned folds likewise.
Folds: each class's sources, largest first (seeded ties), go to the group with the fewest
images of that class; each of ``--groups`` groups is held out once. Arms on the same folds:
(a) the shipped head (``HeadConfig()``, LDA, cached V1 embedding); (b) that LDA on frozen V2
pooled features; (b') the package's ``train_head`` softmax head on them; (c) ``Conv_1`` /
(d) ``block_16`` + ``Conv_1`` tuned from (b') by ``tune_top`` (Adam, label smoothing 0.1,
one view of each image per epoch, best validation-loss epoch kept). All learn from the
clean, augmented and both TV views, classes equal and images equal within a class (the
shipped ``source_power`` 1). The softmax arms leave a hash-chosen 10 % of the training
groups' images (``fold_split``'s rule) for early stopping on their clean and TV views.
Held-out images are scored clean and on both TV views, as ``loso.summarise``; ties miss.

    PYTHONPATH=device:training nice -n 10 .venv/bin/python training/experiments/finetune_v2.py \\
        /work/shared/data/aoc-train --work-dir .cache/aoc-train/head \\
        --backbone-dir /work/shared/reference/coral --weights /work/shared/weights/\\
mobilenet_v2_100_224_imagenet_no_top_from_coral_quant.weights.h5 --json /tmp/finetune/r.json

(first two processes ``--threads 1 --shard 0/2 --cache-only`` and ``--shard 1/2``: 27 min;
then 22 min: 1 min a fold for (c), 2 for (d), about 10 and 21 s an epoch on two cores).
Measured 2026-12-07, 6 groups (group seed 0), 5 epochs, lr 3e-4 (class mean clean / TV;
source mean clean / TV; TV recall anime / cartoon / neither):

- (a) V1 + LDA, shipped: 89.5 / 82.2; 80.5 / 73.3; 77.9 / 85.2 / 83.4
- (b) V2 frozen + LDA: 89.5 / 79.5; 80.3 / 70.9; 76.0 / 83.5 / 79.0
- (b') V2 frozen + softmax: 87.6 / 79.4; 80.6 / 71.1; 77.0 / 81.9 / 79.3
- (c) V2, Conv_1 tuned: 88.1 / 80.9; 80.1 / 72.0; 80.2 / 82.8 / 79.6
- (d) V2, block_16 + Conv_1 tuned: 89.0 / 81.7; 81.4 / 72.2; 82.1 / 80.2 / 82.8
- (d) - (a), points [95 % interval, sources resampled]: clean class mean -0.4 [-2.4, +2.0],
  TV class mean -0.5 [-2.8, +1.5], TV source mean -1.1 [-3.3, +1.2]

``--epochs 10`` (validation loss still fell at epoch 5; 45 min): (c) 87.8 / 80.7; 79.6 /
72.6; (d) 89.1 / 82.1; 82.4 / 73.4; 83.6 / 82.1 / 80.4, (d) - (a): clean class mean -0.3
[-2.4, +2.7], TV class mean -0.1 [-2.3, +2.1], clean source mean +2.0 [-0.4, +4.7], TV
source mean +0.2 [-2.0, +2.3]. Tuning moves the boundary towards anime (anime TV frames
up, Western cartoons down); at best it ties the shipped V1 + LDA. With one source a fold
the script reproduces the build's 90.6 / 83.4 (V1) and the frozen V2's 90.5 / 80.4.
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

from aoc.inference.head import input_power
from aoc.inference.preprocess import Preprocessor
from aoc_train.crossval import head_probs
from aoc_train.data import read_rgb
from aoc_train.embed import CHUNK, CLEAN, TV, Embedder, image_seed, make_views
from aoc_train.fit import FitConfig, train_head
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig, lda_head, sample_weights, source_stats
from aoc_train.loso import HeldOut, summarise
from aoc_train.quality import predictions
from aoc_train.split import unit_hash

CUTS = ("block_16_expand", "Conv_1")  # cached: the inputs of these layers
_VERSION = "v2top-v1"


def source_groups(labels: np.ndarray, sources: list[str], n: int, seed: int) -> np.ndarray:
    """The group (0..n-1) of every image: each class's sources spread over the groups."""
    src = np.asarray(sources)
    rng = np.random.default_rng(seed)
    group_of: dict[str, int] = {}
    for c in np.unique(labels):
        names, counts = np.unique(src[labels == c], return_counts=True)
        order = rng.permutation(len(names))
        order = order[np.argsort(-counts[order], kind="stable")]
        load = np.zeros(n)
        for k in order:
            g = int(rng.permutation(np.flatnonzero(load == load.min()))[0])
            group_of[names[k]] = g
            load[g] += counts[k]
    return np.array([group_of[s] for s in sources])


def v2_models(weights: Path, threads: int):
    """The package's Keras model with a MobileNetV2 1.0 backbone, and ``lower``: backbone
    input ([-1, 1]) -> the inputs of :data:`CUTS` (inference mode, a tf.function)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from aoc_train.model import BACKBONE_LAYER, ModelSpec, build_model

    model = build_model(ModelSpec(alpha=1.0, weights=str(weights)))
    bb = model.get_layer(BACKBONE_LAYER)
    lower = keras.Model(bb.input, [bb.get_layer(c).input for c in CUTS])
    return model, tf.function(lambda x: lower(x, training=False), autograph=False,
                              reduce_retracing=True)


def cache_acts(lower, pre, folder: Path, seed: int, batch: int, shard: tuple[int, int]) -> bool:
    """Cache the activations of every chunk of ``shard``; True when all chunks exist."""
    records, root = list(pre.dataset.records), pre.dataset.root
    prep = Preprocessor(pre.backbone.preprocess_spec())
    n_chunks = -(-len(records) // CHUNK)
    todo = [k for k in range(n_chunks) if k % shard[1] == shard[0]
            and not (folder / f"{k:05d}-{CUTS[1]}.npy").is_file()]
    print(f"[cache] {n_chunks} chunks, {len(todo)} to compute here, in {folder}", flush=True)
    with Embedder(pre.backbone) as v1:
        for k in todo:
            t0 = time.monotonic()
            idx = range(k * CHUNK, min(len(records), (k + 1) * CHUNK))
            frames = np.zeros((len(idx), 4, 224, 224, 3), np.uint8)
            for i, r in enumerate(records[idx.start:idx.stop]):
                image = np.asarray(read_rgb(root / r.file))
                views = make_views(image, np.random.default_rng(image_seed(seed, r)), 224)
                for v, view in enumerate(views):
                    prep(np.ascontiguousarray(view), frames[i, v])
                    if i == 0 and not np.array_equal(
                            pre.backbone.dequantize(v1(np.ascontiguousarray(view))),
                            pre.emb[idx[0], v]):
                        raise SystemExit(f"view {v} of {r.file} differs from the V1 cache")
            flat = frames.reshape(-1, 224, 224, 3)
            outs = [[] for _ in CUTS]
            for b in range(0, len(flat), batch):
                x = (flat[b:b + batch].astype(np.float32) - 128.0) / 128.0
                for o, y in zip(outs, lower(x), strict=True):
                    o.append(np.asarray(y).astype(np.float16))
            for name, o in zip(CUTS, outs, strict=True):
                arr = np.concatenate(o).reshape((len(idx), 4) + o[0].shape[1:])
                np.save(folder / f"{k:05d}-{name}.partial.npy", arr)
                os.replace(folder / f"{k:05d}-{name}.partial.npy", folder / f"{k:05d}-{name}.npy")
            print(f"[cache] chunk {k}: {len(idx)} images, {time.monotonic() - t0:.1f} s "
                  "(views checked against the V1 cache)", flush=True)
    return all((folder / f"{k:05d}-{CUTS[1]}.npy").is_file() for k in range(n_chunks))


def load_acts(folder: Path, name: str, n: int) -> np.ndarray:
    return np.concatenate([np.load(folder / f"{k:05d}-{name}.npy")
                           for k in range(-(-n // CHUNK))])


def pooled_features(model, c1: np.ndarray, folder: Path, batch: int = 512) -> np.ndarray:
    """(N, 4, 1280) frozen V2 features (Conv_1 -> ReLU6 -> average pool), cached."""
    from aoc_train.top_tune import split_backbone

    path = folder / "pooled.npy"
    if path.is_file():
        return np.load(path)
    _, upper = split_backbone(model, "Conv_1")
    flat = c1.reshape((-1,) + c1.shape[2:])
    out = np.zeros((len(flat), 1280), np.float32)
    for b in range(0, len(flat), batch):
        y = upper(np.asarray(flat[b:b + batch], np.float32), training=False)
        out[b:b + batch] = np.asarray(y).mean(axis=(1, 2))
    out = out.reshape(c1.shape[:2] + (1280,))
    np.save(path, out)
    return out


def _score(probs: np.ndarray, test: np.ndarray, clean: np.ndarray, tv: np.ndarray) -> None:
    clean[test], tv[test] = probs[:, CLEAN[0]], probs[:, list(TV)]


def lda_arm(emb, labels, sources, groups, config: HeadConfig):
    """Held-out (clean (N, C), tv (N, 2, C)) of the shipped LDA recipe on grouped folds."""
    stats = source_stats(input_power(emb, config.power), labels, sources, config.views)
    group_of = dict(zip(sources, groups, strict=True))
    clean, tv = np.zeros((len(labels), 3), np.float32), np.zeros((len(labels), 2, 3), np.float32)
    for g in np.unique(groups):
        keep = np.array([group_of[n] != g for n in stats.names])
        head = lda_head(stats, keep, 3, shrinkage=config.shrinkage,
                        source_power=config.source_power, power=config.power)
        test = np.flatnonzero(groups == g)
        _score(head(emb[test].reshape(-1, emb.shape[-1])).reshape(len(test), 4, 3), test,
               clean, tv)
    return clean, tv


def tuned_arms(model, feats, acts: dict, labels, sources, groups, val, fit: FitConfig, log,
               cache: Path):
    """The softmax head on frozen features of every fold, then each of ``acts`` ({first
    layer: (N, 4, ...) activations}) tuned from it, fold by fold; held-out (clean, tv) per
    arm. Each fold's result is cached under ``cache`` (a later run with more arms resumes)."""
    from aoc_train.model import HEAD_LAYER
    from aoc_train.top_tune import top_probs, tune_top

    init = [w.copy() for w in model.get_weights()]
    src, n = np.asarray(sources), len(labels)
    out = {}
    for first in ["head", *acts]:
        out[first] = clean, tv = np.zeros((n, 3), np.float32), np.zeros((n, 2, 3), np.float32)
        for g in np.unique(groups):
            test = np.flatnonzero(groups == g)
            tr, va = np.flatnonzero((groups != g) & ~val), np.flatnonzero((groups != g) & val)
            if set(src[test]) & (set(src[tr]) | set(src[va])):
                raise SystemExit(f"fold {g}: a held-out source is in training")
            path = cache / f"{first}-{g}.npz"
            if not path.is_file():
                t0 = time.monotonic()
                w = sample_weights(labels[tr], src[tr], 3, source_power=1.0)
                vy = np.repeat(labels[va], 3)
                if first == "head":
                    head_w, hist = train_head(
                        feats[tr].reshape(-1, 1280), np.repeat(labels[tr], 4), np.repeat(w, 4),
                        feats[va][:, [0, 2, 3]].reshape(-1, 1280), vy, num_classes=3,
                        dropout=0.2, config=fit)
                    probs = head_probs(feats[test].reshape(-1, 1280), head_w)
                else:
                    with np.load(cache / f"head-{g}.npz") as z:
                        head_w = [z["kernel"], z["bias"]]
                    model.set_weights(init)
                    model.get_layer(HEAD_LAYER).set_weights(head_w)
                    a = acts[first]
                    hist = tune_top(model, a[tr], labels[tr], w,
                                    a[va][:, [0, 2, 3]].reshape((-1,) + a.shape[2:]), vy,
                                    num_classes=3, dropout=0.2,
                                    config=replace(fit, top_tune_from=first))
                    probs = top_probs(model, first, a[test].reshape((-1,) + a.shape[2:]))
                np.savez(path, probs=probs, **(dict(kernel=head_w[0], bias=head_w[1])
                                               if first == "head" else {}))
                log(f"[fold {g}] {first}: {len(test)} held out, {len(tr)} train, {len(va)} "
                    f"val; val_loss {[round(v, 3) for v in hist['val_loss']]}, "
                    f"{time.monotonic() - t0:.0f} s")
            with np.load(path) as z:
                _score(z["probs"].reshape(len(test), 4, 3), test, clean, tv)
    model.set_weights(init)
    return out


def paired_interval(ha: HeldOut, hb: HeldOut, draws: int = 2000, seed: int = 0) -> dict:
    """Points of (b - a) for class and source means, clean and TV, and a 95 % interval from
    resampling each class's sources with replacement (the same draw for both arms)."""
    rng, src, out = np.random.default_rng(seed), np.asarray(ha.sources), {}
    names = sorted(set(ha.sources))
    for view in ("clean", "tv"):
        hits = np.array([[np.sum(predictions((h.clean if view == "clean" else h.tv)[src == s]
                                             .reshape(-1, 3)) == h.labels[src == s][0])
                          for s in names] for h in (ha, hb)], np.float64)  # (2, S)
        frames = np.array([np.sum(src == s) * (1 if view == "clean" else 2) for s in names])
        cls = np.array([ha.labels[src == s][0] for s in names])
        cm, sm = np.zeros((draws + 1, 3)), np.zeros((draws + 1, 3))
        for c in range(3):
            sel = np.flatnonzero(cls == c)
            pick = np.vstack([sel, sel[rng.integers(0, len(sel), (draws, len(sel)))]])
            d = hits[1, pick] - hits[0, pick]
            cm[:, c] = d.sum(1) / frames[pick].sum(1)
            sm[:, c] = (d / frames[pick]).mean(1)
        for k, x in (("class", cm.mean(1)), ("source", sm.mean(1))):
            out[f"{view} {k} mean"] = [100 * float(v) for v in
                                      (x[0], np.percentile(x[1:], 2.5), np.percentile(x[1:], 97.5))]
    return out


def table(held: dict[str, HeldOut], drop: np.ndarray | None = None) -> list[str]:
    """Markdown rows per arm (``drop``: images left unscored)."""
    lines = []
    for name, h in held.items():
        if drop is not None:
            h = HeldOut(h.classes, h.labels, h.sources, np.where(drop[:, None], np.nan, h.clean),
                        np.where(drop[:, None, None], np.nan, h.tv))
        s = summarise(h)
        m = [100 * float(np.mean(list(s[k]["source_mean"].values()))) for k in ("clean", "tv")]
        cells = [100 * s["clean"]["class_mean"], 100 * s["tv"]["class_mean"], *m,
                 *(100 * s["tv"]["recall"][c] for c in s["classes"])]
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--groups", type=int, default=6)
    ap.add_argument("--group-seed", type=int, default=0)
    ap.add_argument("--arms", default="Conv_1,block_16_expand",
                    help="layers to tune from, comma-separated ('' for the frozen arms only)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--cache-only", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    t_start = time.monotonic()

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)

    pre = prepare(HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"), work_dir=a.work_dir,
                                  backbone_dir=a.backbone_dir, seed=a.seed), say=log)
    records = list(pre.dataset.records)
    h = hashlib.sha256(f"{_VERSION}|{a.weights.name}|{a.seed}|{CUTS}|"
                       f"{pre.backbone.preprocess_spec()}".encode())
    for r in records:
        h.update(r.sha256.encode())
    folder = a.work_dir / f"v2-top-{h.hexdigest()[:16]}"
    folder.mkdir(parents=True, exist_ok=True)
    model, lower = v2_models(a.weights, a.threads)
    done = cache_acts(lower, pre, folder, a.seed, a.batch,
                      tuple(int(x) for x in a.shard.split("/")))
    log(f"[cache] {time.monotonic() - t_start:.0f} s so far")
    if a.cache_only or not done:
        return
    labels, sources, n = pre.labels, pre.sources, len(records)
    c1 = load_acts(folder, "Conv_1", n)
    feats = pooled_features(model, c1, folder)
    log(f"[features] pooled frozen V2 {feats.shape}, {time.monotonic() - t_start:.0f} s so far")
    groups = source_groups(labels, sources, a.groups, a.group_seed)
    for g in range(a.groups):
        names = sorted({s for s, x in zip(sources, groups, strict=True) if x == g})
        log(f"[groups] {g}: {int(np.sum(groups == g))} images: {', '.join(names)}")
    val = np.array([unit_hash(a.seed + 1, r.sha256) < 0.1 for r in records])
    held: dict[str, HeldOut] = {}

    def keep(name: str, clean: np.ndarray, tv: np.ndarray) -> None:
        held[name] = HeldOut(pre.classes, labels, tuple(sources), clean, tv)
        s = summarise(held[name])
        log(f"[arm] {name}: class mean clean {s['clean']['class_mean']:.3f} "
            f"tv {s['tv']['class_mean']:.3f}")

    per_source = np.unique(sources, return_inverse=True)[1]  # the build's 58 folds
    for name, e in (("V1", pre.emb), ("V2", feats)):  # build: V1 90.6 / 83.4, V2 90.5 / 80.4
        s = summarise(HeldOut(pre.classes, labels, tuple(sources),
                              *lda_arm(e, labels, sources, per_source, HeadConfig())))
        log(f"[check] {name} LDA, one source a fold: clean {s['clean']['class_mean']:.4f}, tv "
            f"{s['tv']['class_mean']:.4f} (build: {pre.summary['clean']['class_mean']:.4f})")
    keep("(a) V1 embedding + LDA (shipped)", *lda_arm(pre.emb, labels, sources, groups,
                                                      HeadConfig()))
    keep("(b) V2 1.0 frozen + LDA", *lda_arm(feats, labels, sources, groups, HeadConfig()))
    arms = [x for x in a.arms.split(",") if x]
    acts = {x: c1 if x == "Conv_1" else load_acts(folder, x, n) for x in arms}
    fit = FitConfig(top_tune_epochs=a.epochs, top_tune_lr=a.lr, seed=a.seed)
    t0 = time.monotonic()
    cache = folder / f"folds-{a.groups}g{a.group_seed}-s{a.seed}-e{a.epochs}-lr{a.lr}"
    cache.mkdir(exist_ok=True)
    out = tuned_arms(model, feats, acts, labels, sources, groups, val, fit, log, cache)
    log(f"[tune] {time.monotonic() - t0:.0f} s for all folds")
    keep("(b') V2 1.0 frozen + softmax head", *out["head"])
    for x in arms:
        keep(f"({'c' if x == 'Conv_1' else 'd'}) V2 1.0 tuned from {x} + softmax head", *out[x])
    base = next(iter(held))
    hdr = ["arm", "clean class mean", "TV class mean", "clean source mean", "TV source mean",
           *(f"TV {c}" for c in pre.classes)]
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr), *table(held), "",
             f"without the {int(pre.shared.sum())} images that also sit in another source:",
             *table(held, pre.shared), "", f"difference from {base}, points [95 % interval]:"]
    diffs = {name: paired_interval(held[base], h) for name, h in held.items() if name != base}
    lines += [f"- {name}: " + "; ".join(f"{k} {p:+.1f} [{lo:+.1f}, {hi:+.1f}]"
                                        for k, (p, lo, hi) in d.items())
              for name, d in diffs.items()]
    print("\n".join(lines), flush=True)
    log(f"[done] {time.monotonic() - t_start:.0f} s")
    if a.json:
        summaries = {name: summarise(h) for name, h in held.items()}
        a.json.write_text(json.dumps({"groups": groups.tolist(), "summaries": summaries,
                                      "differences": diffs, "table": lines}, indent=1))
        np.savez_compressed(a.json.with_suffix(".npz"), **{
            f"{i}_{k}": getattr(ho, k) for i, ho in enumerate(held.values())
            for k in ("clean", "tv")})


if __name__ == "__main__":
    main()
