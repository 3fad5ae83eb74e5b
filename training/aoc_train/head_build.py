"""``aoc-train build --backbone coral-mobilenet-v1-embedding``: a head on a compiled backbone.

data -> embeddings of every view (CPU twin, device preprocessing) -> leave-one-source-out
estimate -> quality gate -> head on all sources -> check through the device code -> bundle.

The backbone is Coral's own Edge-TPU-compiled MobileNet V1 embedding extractor with its CPU
twin, so the bundle runs on a Coral with no compiler anywhere. Every stage is cached in the
work folder: a resumed build takes seconds. No TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from aoc.inference.head import DenseHead, input_power

from . import head_report
from .data import Dataset, read_rgb, scan_dataset
from .device_check import device_check, require_fresh_cache
from .embed import CLEAN, Backbone, cache_key, coral_v1, embed_records
from .errors import DataError
from .head_fit import (
    HeadConfig,
    fit_head,
    lda_head,
    sample_weights,
    source_stats,
)
from .head_grids import mistake_grids
from .loso import HeldOut, copy_groups, fold_names, run_loso, summarise, training_rows
from .quality import FIX_FROZEN_BACKBONE, require_quality
from .split import shared_with_other_sources

log = logging.getLogger(__name__)

BACKBONES = ("mobilenet-v2", "coral-mobilenet-v1-embedding")


@dataclass(frozen=True)
class HeadBuildConfig:
    """What a compiled-backbone + head build needs."""

    data_dir: Path
    out: Path
    work_dir: Path
    backbone_dir: Path
    classes: tuple[str, ...] = ()
    seed: int = 1234
    workers: int = 2
    max_images: int = 0
    head: HeadConfig = field(default_factory=HeadConfig)
    notes: str = ""
    command: str = ""


def _subsample(ds: Dataset, n: int, seed: int) -> Dataset:
    if not n or n >= len(ds.records):
        return ds
    rng = np.random.default_rng(seed)
    keep = sorted(rng.choice(len(ds.records), n, replace=False))
    return Dataset(ds.root, ds.classes, tuple(ds.records[i] for i in keep), ds.skipped)


def _loso_cached(work: Path, key: str, emb: np.ndarray, labels: np.ndarray, sources: list[str],
                 classes: tuple[str, ...], config: HeadConfig,
                 progress: Callable[[Iterable], Iterable]) -> HeldOut:
    # the held-out scores also depend on which source (fold) and class each image has: a
    # regrouped manifest must not reuse them (the embeddings' key covers the pixels only)
    tag = hashlib.sha256(f"{key}|{json.dumps(asdict(config), sort_keys=True)}".encode())
    tag.update(json.dumps([list(map(int, labels)), list(sources)]).encode())
    path = work / f"loso-{tag.hexdigest()[:16]}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return HeldOut(classes, labels, tuple(sources), z["clean"], z["tv"],
                               float(z["temperature"]))
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("estimate cache %s is unreadable (%s); estimating again", path, exc)
    held = run_loso(emb, labels, sources, classes, config=config, progress=progress)
    tmp = path.with_suffix(".partial.npz")
    np.savez(tmp, clean=held.clean, tv=held.tv, temperature=held.temperature)
    tmp.replace(path)
    return held


@dataclass(frozen=True)
class Prepared:
    """Data, embeddings of every view and the leave-one-source-out estimate of a config."""

    dataset: Dataset
    classes: tuple[str, ...]
    labels: np.ndarray
    sources: list[str]
    backbone: Backbone
    emb: np.ndarray  # (N, views, dim) float32
    held: HeldOut
    summary: dict
    shared: np.ndarray  # (N,) bool: the picture also sits in another source of its class


def _check_folds(labels: np.ndarray, folds: Sequence[str], classes: Sequence[str], *,
                 because: str = "") -> None:
    """Every class needs a training source left whichever fold is held out: refuse now,
    before the embedding, rather than with a traceback after it (``because``: what else
    left too few images)."""
    for c, name in enumerate(classes):
        held = {f for f, label in zip(folds, labels, strict=True) if label == c}
        if len(held) < 2:
            count = int(np.sum(labels == c))
            raise DataError(
                f"class {name!r} has {count} image(s) in {len(held)} source(s){because}; "
                "leaving one source out needs at least two (or, without a manifest, three "
                "images to split)" + ("" if because else f": add images of {name!r} or "
                                      "leave the class out with --classes"))


def prepare(cfg: HeadBuildConfig, *, progress: Callable[[Iterable], Iterable] = lambda it: it,
            say: Callable[[str], None] = log.info) -> Prepared:
    """Scan, embed every view and estimate by leaving each source out; all cached."""
    work = Path(cfg.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    ds = scan_dataset(cfg.data_dir, classes=cfg.classes or None, cache_file=work / "scan.json",
                      progress=progress)
    scanned = len(ds.records)
    ds = _subsample(ds, cfg.max_images, cfg.seed)
    # the data is not at fault when --max-images is what left too little of it
    because = (f" (--max-images {cfg.max_images} kept {len(ds.records)} of {scanned} images: "
               "raise it, or 0 for all)" if len(ds.records) < scanned else "")
    classes = tuple(ds.classes)
    records = list(ds.records)
    sources = [r.source for r in records]
    if len(set(sources)) < 2:
        raise DataError(f"{cfg.data_dir}: leave-one-source-out needs at least two "
                        f"sources{because}; add a manifest.csv naming each image's source, or "
                        "put each source's images in a sub-folder of its class folder "
                        "(anime/naruto/)")
    labels = np.array([classes.index(r.label) for r in records])
    say(f"[data] {len(records)} images, {len(set(sources))} sources, classes {list(classes)}")
    names = {c.strip().lower() for c in classes}
    if not {"anime", "cartoon"} <= names:
        # the screen reads its bars and verdict from these two labels by name
        say(f"[data] note: the appliance shows anime and cartoon percentages and the "
            f"both/neither verdicts only for classes named anime and cartoon; with "
            f"{list(classes)} it shows the top label and its score")
    folds = fold_names(labels, sources, seed=cfg.seed, groups=copy_groups(records))
    _check_folds(labels, folds, classes, because=because)
    backbone: Backbone = coral_v1(cfg.backbone_dir)
    q = embed_records(backbone, ds.root, records, cache_dir=work, seed=cfg.seed,
                      workers=cfg.workers, progress=progress)
    emb = backbone.dequantize(q)
    say(f"[embed] {q.shape[0]} images x {q.shape[1]} views x {q.shape[2]}")
    key = cache_key(backbone, records, cfg.seed)
    split = sorted({f for f, s in zip(folds, sources, strict=True) if f != s})
    if split:
        say(f"[loso] classes with a single source are held out by random thirds: {split}")
    held = _loso_cached(work, key, emb, labels, folds, classes, cfg.head, progress)
    summary = summarise(held)
    summary["random_thirds"] = split  # fold names made here, not parsed from source names
    shared_mask = shared_with_other_sources(records, sources)
    shared = int(shared_mask.sum())
    summary["shared_pictures"] = shared
    if shared:
        say(f"[loso] {shared} images also appear in another source (copied or re-encoded): "
            "held out, they were still trained on, so their scores are optimistic; remove "
            "the copies, or keep each picture in one source")
    say(f"[loso] class mean clean {summary['clean']['class_mean']:.3f}, "
        f"through a TV {summary['tv']['class_mean']:.3f}")
    return Prepared(ds, classes, labels, sources, backbone, emb, held, summary, shared_mask)


def final_head(pre: Prepared, config: HeadConfig) -> DenseHead:
    """The head on every source (the LDA head with the held-out temperature)."""
    k = len(pre.classes)
    if config.kind == "lda":
        stats = source_stats(input_power(pre.emb, config.power), pre.labels, pre.sources,
                             config.views)
        return lda_head(stats, np.ones(len(stats.names), bool), k, shrinkage=config.shrinkage,
                        source_power=config.source_power, temperature=pre.held.temperature,
                        power=config.power)
    nv = len(config.views)
    weights = np.repeat(sample_weights(pre.labels, pre.sources, k,
                                       source_power=config.source_power), nv)
    rows = training_rows(pre.emb, np.arange(len(pre.labels)), config.views)
    return fit_head(rows, np.repeat(pre.labels, nv), weights, k, config)


def build(cfg: HeadBuildConfig, *, progress: Callable[[Iterable], Iterable] = lambda it: it,
          say: Callable[[str], None] = log.info) -> Path:
    """Run the whole build; return the bundle folder. Raises DegenerateModelError (no bundle
    written) when the held-out estimate is at or below chance for a class."""
    from aoc.inference.bundle import load_bundle
    from aoc.inference.bundle_spec import EdgeTpuInfo, InputSpec, OutputSpec
    from aoc.inference.bundle_write import check_bundle_target, write_bundle
    from aoc.inference.classifier import open_classifier

    t0 = time.monotonic()
    check_bundle_target(cfg.out)  # before the work: the folder is replaced whole at the end
    work = Path(cfg.work_dir)
    pre = prepare(cfg, progress=progress, say=say)
    ds, classes, labels = pre.dataset, pre.classes, pre.labels
    backbone, emb, held, summary = pre.backbone, pre.emb, pre.held, pre.summary
    records = list(ds.records)
    require_quality(held.clean, labels, classes,
                    where=f"leave-one-source-out estimate on {cfg.data_dir}",
                    fix=FIX_FROZEN_BACKBONE)

    head = final_head(pre, cfg.head)
    train_probs = head(emb[:, CLEAN[0]])
    require_quality(train_probs, labels, classes, where="the final head on its training images")

    staging = work / "staging"
    input_spec = InputSpec(width=backbone.width, height=backbone.height, dtype="uint8",
                           resize=backbone.resize, scale=backbone.input_scale,
                           zero_point=backbone.input_zero_point,
                           value_range=backbone.value_range)
    common = dict(
        cpu_model=backbone.cpu_model, edgetpu_model=backbone.edgetpu_model,
        edgetpu_info=EdgeTpuInfo(compiled=True, reason=f"backbone compiled by Coral: "
                                 f"{backbone.edgetpu_model.name}"),
        labels=classes, input_spec=input_spec,
        output_spec=OutputSpec(dtype="float32", kind="probabilities", scale=1.0, zero_point=0),
        backbone=backbone.manifest(), head=head, name=Path(cfg.out).resolve().name,
    )
    write_bundle(staging, provenance={}, metrics={}, **common)
    pick = np.random.default_rng(cfg.seed).choice(len(records), min(32, len(records)),
                                                  replace=False)
    images = [np.asarray(read_rgb(ds.root / records[i].file)) for i in pick]
    # the written bundle through the device's own loader and classifier, opened once
    with open_classifier(load_bundle(staging), prefer="cpu") as clf:
        check = device_check(clf, head, images, train_probs[pick])
        say(f"[device] same top-1 on {check['images']} images: {check['same_top1']:.3f}, "
            f"max |diff| {check['max_abs_diff']:.4f}; backbone "
            f"{check['backbone_invoke_ms_host_cpu']:.1f} ms, head "
            f"{check['head_us_host_cpu']:.1f} us")
        require_fresh_cache(check, work)
        grids = mistake_grids(clf, pre, work, cfg.seed)
    say(f"[explain] grids of the most confident held-out mistakes, clean and through a TV: "
        f"{grids['clean'].parent} (not in the bundle: they show training images)")
    facts = {
        "config": cfg, "dataset": ds, "backbone": backbone, "summary": summary,
        "device_check": check, "head": head, "wall_seconds": time.monotonic() - t0,
    }
    metrics = head_report.metrics(facts)
    extra = head_report.extra_files(facts, work, held)
    out = write_bundle(cfg.out, provenance=head_report.provenance(facts), metrics=metrics,
                       extra_files=extra, **common)
    say(f"[bundle] wrote {cfg.out}")
    return out.root
