"""Do test-time views help? Leave-one-source-out figures of averaging the head over several
views of one camera frame: the frame as the device sees it, its horizontal mirror, and a
centre zoom (the middle ``f`` of the device's square centre crop, then the device's resize).

Every view here is one the device could make itself from the same frame: the mirror is the
fitted 224x224 input flipped left-right (no second resize), the zoom a crop of the camera
frame fed through the device's own :class:`~aoc.inference.preprocess.Preprocessor`. For each
image the shipped views are made again exactly (``embed.make_views`` with the per-image
seed, so ``tv1``/``tv2`` are the very frames of the shipped cache) and the extra views of
``clean``, ``tv1`` and ``tv2`` are embedded by the backbone's CPU twin, cached by chunk in
``<work-dir>/tta-<key>/`` (an interrupted run resumes).

The estimate is the shipped one (``loso``): one LDA head (``HeadConfig()``) per fold of
``loso.fold_names``, temperature fitted on the held-out single-view logits, figures by
``loso.summarise`` (ties are misses). Each held-out image is scored on a set of test views
whose probabilities (``prob``) or logits (``logit``) are averaged; the head learns either
the shipped four views or those plus the extra views of ``clean``/``tv1``/``tv2``.
Prints a markdown table; ``--json`` writes every summary. The nine extra views of the
15,468 images took 43 minutes with 2 workers on a 2-core machine shared with another job
(``timing.json`` in the cache folder); with the cache, a re-run takes two minutes::

    cd /work/wt/tta-views && PYTHONPATH=device:training .venv/bin/python \\
        training/experiments/test_time_views.py /work/shared/data/aoc-train \\
        --work-dir /work/main/.cache/aoc-train/head --backbone-dir /work/shared/reference/coral
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from aoc.inference.head import input_power
from aoc.inference.postprocess import softmax
from aoc.inference.preprocess import Preprocessor, crop_box
from aoc_train.data import ImageRecord, read_rgb
from aoc_train.embed import (
    CHUNK,
    TV,
    VIEWS,
    Backbone,
    Embedder,
    cache_key,
    embed_records,
    image_seed,
    make_views,
)
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig, fit_temperature, lda_head, source_stats
from aoc_train.loso import HeldOut, summarise

log = logging.getLogger("test_time_views")

BASES = ("clean", "tv1", "tv2")  # the shipped views that get extra test-time views
ZOOMS = (0.7, 0.85)  # share of the device's square centre crop kept by a zoom view
TRANSFORMS = ("mirror", *(f"zoom{z:g}" for z in ZOOMS))
EXTRA = tuple(f"{b}_{t}" for b in BASES for t in TRANSFORMS)
_VERSION = "tta-v1"


def zoom_crop(frame: np.ndarray, fraction: float, size: tuple[int, int]) -> np.ndarray:
    """The middle ``fraction`` of the centre crop the device takes of ``frame`` for a model of
    ``size`` (width, height): a window of the camera frame, for the device's resize."""
    h, w = frame.shape[:2]
    left, top, right, bottom = crop_box((w, h), size)
    cw, ch = right - left, bottom - top
    zw, zh = max(1, round(cw * fraction)), max(1, round(ch * fraction))
    x0, y0 = left + (cw - zw) // 2, top + (ch - zh) // 2
    return frame[y0:y0 + zh, x0:x0 + zw]


def extra_views(frame: np.ndarray, pre: Preprocessor) -> list[np.ndarray]:
    """:data:`TRANSFORMS` of one frame, each an input the device could feed the backbone."""
    fitted = pre.fit(frame)  # what the device writes into the input tensor
    out = [np.ascontiguousarray(fitted[:, ::-1])]
    out += [np.ascontiguousarray(zoom_crop(frame, z, pre.size)) for z in ZOOMS]
    return out


def _embed_chunk(args: tuple[Backbone, Path, list[ImageRecord], int]) -> np.ndarray:
    backbone, root, records, seed = args
    pre = Preprocessor(backbone.preprocess_spec())
    out = np.zeros((len(records), len(EXTRA), backbone.dim), np.uint8)
    with Embedder(backbone) as embed:
        for i, r in enumerate(records):
            image = np.asarray(read_rgb(root / r.file))
            views = make_views(image, np.random.default_rng(image_seed(seed, r)), backbone.width)
            k = 0
            for base in BASES:
                for view in extra_views(np.ascontiguousarray(views[VIEWS.index(base)]), pre):
                    out[i, k] = embed(view)
                    k += 1
    return out


def check_views(backbone: Backbone, root: Path, records: Sequence[ImageRecord], seed: int,
                shipped: np.ndarray) -> None:
    """Raise unless the views made again here embed exactly as the shipped cache (uint8)
    and the fitted frame embeds exactly as the frame (the mirror's premise)."""
    pre = Preprocessor(backbone.preprocess_spec())
    with Embedder(backbone) as embed:
        for i, r in enumerate(records):
            image = np.asarray(read_rgb(root / r.file))
            views = make_views(image, np.random.default_rng(image_seed(seed, r)), backbone.width)
            for v, view in enumerate(views):
                view = np.ascontiguousarray(view)
                got = embed(view)
                if not np.array_equal(got, shipped[i, v]):
                    raise SystemExit(f"{r.file} view {VIEWS[v]}: not the cached embedding")
                if not np.array_equal(embed(pre.fit(view)), got):
                    raise SystemExit(f"{r.file} view {VIEWS[v]}: fit() differs from the device")


def embed_extra(backbone: Backbone, root: Path, records: Sequence[ImageRecord], *,
                cache_dir: Path, seed: int, workers: int) -> np.ndarray:
    """(N, len(EXTRA), dim) uint8 embeddings of the extra views, cached by chunk."""
    h = hashlib.sha256(f"{_VERSION}|{cache_key(backbone, records, seed)}|{EXTRA}".encode())
    folder = Path(cache_dir) / f"tta-{h.hexdigest()[:16]}"
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [list(records[i:i + CHUNK]) for i in range(0, len(records), CHUNK)]
    todo = [k for k in range(len(chunks)) if not (folder / f"{k:05d}.npy").is_file()]
    log.warning("extra views %s: %d of %d chunks to compute in %s", EXTRA, len(todo),
                len(chunks), folder)
    if todo:
        t0 = time.monotonic()
        jobs = [(backbone, Path(root), chunks[k], seed) for k in todo]
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            for n, (k, arr) in enumerate(zip(todo, pool.map(_embed_chunk, jobs), strict=True)):
                tmp = folder / f"{k:05d}.partial.npy"
                np.save(tmp, arr)
                os.replace(tmp, folder / f"{k:05d}.npy")
                log.warning("chunk %d (%d/%d) after %.0f s", k, n + 1, len(todo),
                            time.monotonic() - t0)
        seconds = time.monotonic() - t0
        log.warning("embedded %d chunks in %.0f s", len(todo), seconds)
        timing = folder / "timing.json"
        runs = json.loads(timing.read_text()) if timing.is_file() else []
        runs.append({"chunks": len(todo), "images": sum(len(chunks[k]) for k in todo),
                     "views_per_image": len(EXTRA), "workers": workers, "seconds": seconds})
        timing.write_text(json.dumps(runs, indent=1))
    return np.concatenate([np.load(folder / f"{k:05d}.npy") for k in range(len(chunks))])


def column(name: str) -> int:
    """Index of a view in the combined (shipped + extra) embedding array."""
    return VIEWS.index(name) if name in VIEWS else len(VIEWS) + EXTRA.index(name)


def held_out_logits(emb: np.ndarray, labels: np.ndarray, folds: Sequence[str], k: int,
                    train_views: Sequence[int], config: HeadConfig) -> np.ndarray:
    """(N, V, k) logits of every view of every image from the head of its fold."""
    stats = source_stats(input_power(emb, config.power), labels, folds, train_views)
    src = np.asarray(folds)
    out = np.full((len(labels), emb.shape[1], k), np.nan, np.float32)
    for fold in sorted(set(folds)):
        head = lda_head(stats, np.array([n != fold for n in stats.names]), k,
                        shrinkage=config.shrinkage, source_power=config.source_power,
                        power=config.power)
        test = np.flatnonzero(src == fold)
        out[test] = head.logits(emb[test].reshape(-1, emb.shape[-1])).reshape(
            len(test), emb.shape[1], k)
    return out


def averaged(logits: np.ndarray, temperature: float, how: str) -> np.ndarray:
    """Probabilities from (..., views, k) logits averaged over the views axis."""
    if how == "logit":
        return softmax(logits.mean(-2) / temperature)
    return softmax(logits / temperature).mean(-2)


TEST_SETS = {  # name: the views averaged for each scored view ("" is the view itself)
    "single": ("",),
    "+mirror": ("", "mirror"),
    **{f"+zoom{z:g}": ("", f"zoom{z:g}") for z in ZOOMS},
    **{f"+mirror+zoom{z:g}": ("", "mirror", f"zoom{z:g}") for z in ZOOMS},
    # one invoke on a tighter crop instead of the device's: is it the zoom or the average?
    **{f"zoom{z:g} alone": (f"zoom{z:g}",) for z in ZOOMS},
}
TRAIN_SETS = {  # name: the transforms whose views the head also learns from
    "shipped": (),
    "+mirror": ("mirror",),
    **{f"+zoom{z:g}": (f"zoom{z:g}",) for z in ZOOMS},
    **{f"+mirror+zoom{z:g}": ("mirror", f"zoom{z:g}") for z in ZOOMS},
}


def source_delta(s: dict, base: dict, name: str, *, draws: int = 2000,
                 seed: int = 0) -> tuple[float, float, float]:
    """Change of the ``name`` ("clean"/"tv") source mean of summary ``s`` over ``base``, with
    a 95 % interval from resampling the sources within each class (paired: the same sources
    for both)."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[float]] = {}
    for src, v in s["sources"].items():
        by_class.setdefault(v["label"], []).append(v[name] - base["sources"][src][name])
    diffs = [np.array(v) for v in by_class.values()]
    point = float(np.mean([d.mean() for d in diffs]))
    boot = np.mean([[d[rng.integers(0, len(d), len(d))].mean() for d in diffs]
                    for _ in range(draws)], axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return point, float(lo), float(hi)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--check", type=int, default=8,
                    help="first check this many images' views against the shipped cache")
    ap.add_argument("--train", default=",".join(TRAIN_SETS),
                    help="comma-separated training view sets of: " + ", ".join(TRAIN_SETS))
    ap.add_argument("--json", type=Path, help="write the summaries here")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    config = HeadConfig()
    cfg = HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"), work_dir=a.work_dir,
                          backbone_dir=a.backbone_dir, head=config)
    pre = prepare(cfg)
    records = list(pre.dataset.records)
    seed = cfg.seed
    shipped_q = embed_records(pre.backbone, pre.dataset.root, records, cache_dir=a.work_dir,
                              seed=seed)  # the cached uint8 embeddings, read back
    if a.check:
        pick = np.random.default_rng(0).choice(len(records), a.check, replace=False)
        check_views(pre.backbone, pre.dataset.root, [records[i] for i in pick], seed,
                    shipped_q[pick])
        log.warning("views of %d images made again: identical to the shipped cache", a.check)
    extra = embed_extra(pre.backbone, pre.dataset.root, records, cache_dir=a.work_dir,
                        seed=seed, workers=a.workers)
    emb = np.concatenate([pre.emb, pre.backbone.dequantize(extra)], axis=1)
    del extra
    labels, classes, k = pre.labels, pre.classes, len(pre.classes)
    folds = list(pre.held.sources)  # loso.fold_names, as prepare() used them
    rows, out = [], {}
    shipped_summary = pre.summary
    for train_name in a.train.split(","):
        train_views = [*config.views, *(column(f"{b}_{t}") for t in TRAIN_SETS[train_name]
                                        for b in BASES)]
        logits = held_out_logits(emb, labels, folds, k, train_views, config)
        single = [column(v) for v in ("clean", *(VIEWS[t] for t in TV))]
        # as loso.run_loso: one scalar from the held-out single-view logits, clean then TV
        temperature = fit_temperature(
            np.concatenate([logits[:, single[0]], logits[:, single[1:]].reshape(-1, k)]),
            np.concatenate([labels, np.repeat(labels, len(TV))]))
        for test_name, transforms in TEST_SETS.items():
            several = len(transforms) > 1
            for how in ("prob", "logit") if several else ("prob",):
                def group(base: str, transforms: tuple[str, ...] = transforms) -> list[int]:
                    return [column(f"{base}_{t}" if t else base) for t in transforms]
                clean = averaged(logits[:, group("clean")], temperature, how)
                tv = np.stack([averaged(logits[:, group(VIEWS[t])], temperature, how)
                               for t in TV], axis=1)
                s = summarise(HeldOut(classes, labels, tuple(folds), clean, tv, temperature))
                name = f"train {train_name} / test {test_name}" + (f" ({how})" if several
                                                                   else "")
                out[name] = s
                src_mean = {n: float(np.mean(list(s[n]["source_mean"].values())))
                            for n in ("clean", "tv")}
                base = out.get("train shipped / test single", s)
                d, lo, hi = source_delta(s, base, "tv")
                rows.append([train_name, test_name, how if several else "-",
                             str(len(transforms)),
                             _pct(s["clean"]["class_mean"]), _pct(s["tv"]["class_mean"]),
                             _pct(src_mean["clean"]), _pct(src_mean["tv"]),
                             f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]",
                             *(_pct(s["clean"]["recall"][c]) for c in classes),
                             *(_pct(s["tv"]["recall"][c]) for c in classes)])
                print("| " + " | ".join(rows[-1]) + " |", flush=True)
        if train_name == "shipped":  # the own loop must give the shipped estimate exactly
            mine = out["train shipped / test single"]
            for n in ("clean", "tv"):
                if abs(mine[n]["class_mean"] - shipped_summary[n]["class_mean"]) > 1e-9:
                    raise SystemExit(f"baseline {n} {mine[n]['class_mean']} is not the shipped "
                                     f"{shipped_summary[n]['class_mean']}")
            log.warning("baseline reproduces the shipped estimate (temperature %.3f / %.3f)",
                        temperature, pre.held.temperature)
    head = ["train views", "test views", "average", "invokes", "clean class mean",
            "TV class mean", "clean source mean", "TV source mean",
            "TV source mean vs shipped [95 % CI]",
            *(f"clean {c}" for c in classes), *(f"TV {c}" for c in classes)]
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
