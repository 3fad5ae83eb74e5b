"""Leave-one-source-out estimate for a head on cached backbone embeddings.

Each source (one collector, or one show of one collector) is held out in turn: the head is
fitted on every other source's views and scores the held-out images, clean (as
``aoc classify`` sees them) and through the camera-at-TV simulation. Pooling the held-out
predictions gives the figures that predict unseen shows seen through a camera: recall per
class, their mean, and accuracy per source. Ties count as misses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from aoc.inference.head import input_power
from aoc.inference.postprocess import softmax

from .data import ImageRecord
from .embed import CLEAN, TV
from .head_fit import (
    HeadConfig,
    fit_head,
    fit_temperature,
    lda_head,
    sample_weights,
    source_stats,
)
from .quality import check_quality, predictions
from .split import near_duplicate_groups

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldOut:
    """Held-out probabilities of every image: ``clean`` (N, C) and ``tv`` (N, T, C)."""

    classes: tuple[str, ...]
    labels: np.ndarray
    sources: tuple[str, ...]
    clean: np.ndarray
    tv: np.ndarray
    temperature: float = 1.0  # applied to the LDA head's logits, fitted on these scores


def fold_names(labels: np.ndarray, sources: Sequence[str], *, seed: int = 0,
               parts: int = 3, groups: Sequence[str] | None = None) -> list[str]:
    """The fold of each image: its source, except in a class with a single source (such as
    a data folder without a manifest), whose images are split at random into ``parts``
    pseudo-sources named ``source#k``, so that the class is never held out whole. Images
    with the same ``groups`` key (copies and re-encodes of one picture, see
    :func:`copy_groups`) go to the same part, or a copy in training would score
    its twin held out."""
    labels = np.asarray(labels)
    src = np.asarray(sources, dtype=object)
    out = src.copy()
    rng = np.random.default_rng(seed)
    for c in np.unique(labels):
        names = set(src[labels == c])
        if len(names) == 1:
            idx = np.flatnonzero(labels == c)
            keys = [groups[i] for i in idx] if groups is not None else list(range(len(idx)))
            unique = list(dict.fromkeys(keys))
            part_of = dict(zip(unique, rng.permutation(len(unique)) % parts, strict=True))
            out[idx] = [f"{src[i]}#{part_of[k] + 1}" for i, k in zip(idx, keys, strict=True)]
    return [str(s) for s in out]


def copy_groups(records: Sequence[ImageRecord]) -> list[str]:
    """A group per picture for :func:`fold_names`: in a class with a single source (split
    in random thirds) copies and re-encodes of one picture share a group, so a copy in
    training never scores its twin held out."""
    per_class: dict[str, set[str]] = {}
    for r in records:
        per_class.setdefault(r.label, set()).add(r.source)
    single = [i for i, r in enumerate(records) if len(per_class[r.label]) == 1]
    groups = [r.sha256 for r in records]
    for i, first in near_duplicate_groups(records, single).items():
        groups[i] = records[first].sha256
    return groups


def training_rows(emb: np.ndarray, idx: np.ndarray, views: Sequence[int]) -> np.ndarray:
    """Flatten (N, V, D) embeddings of images ``idx`` and ``views`` to rows."""
    return emb[idx][:, list(views)].reshape(-1, emb.shape[-1])


def run_loso(emb: np.ndarray, labels: np.ndarray, sources: Sequence[str],
             classes: Sequence[str], *, config: HeadConfig | None = None,
             folds: Sequence[str] | None = None,
             progress: Callable[[Iterable], Iterable] = lambda it: it) -> HeldOut:
    """Held-out probabilities from one fit per source (float embeddings ``emb`` (N, V, D))."""
    config = config or HeadConfig()
    labels = np.asarray(labels)
    src = np.asarray(sources)
    num_classes = len(classes)
    clean = np.full((len(labels), num_classes), np.nan, np.float32)
    tv = np.full((len(labels), len(TV), num_classes), np.nan, np.float32)
    train_views = config.views
    nv = len(train_views)
    stats = (source_stats(input_power(emb, config.power), labels, sources, train_views)
             if config.kind == "lda" else None)
    for source in progress(sorted(set(sources)) if folds is None else folds):
        held = src == source
        if stats is not None:
            head = lda_head(stats, np.array([n != source for n in stats.names]), num_classes,
                            shrinkage=config.shrinkage, source_power=config.source_power,
                            power=config.power)
        else:
            train = np.flatnonzero(~held)
            x = training_rows(emb, train, train_views)
            y = np.repeat(labels[train], nv)
            w = np.repeat(sample_weights(labels[train], src[train], num_classes,
                                         source_power=config.source_power), nv)
            head = fit_head(x, y, w, num_classes, config)
        test = np.flatnonzero(held)
        clean[test] = head(emb[test][:, list(CLEAN)].reshape(-1, emb.shape[-1]))
        tv[test] = head(emb[test][:, list(TV)].reshape(-1, emb.shape[-1])).reshape(
            len(test), len(TV), num_classes)
        log.info("fold %s: clean %.3f", source,
                 float(np.mean(predictions(clean[test]) == labels[test])))
    temperature = 1.0
    if stats is not None:  # one scalar for calibrated percentages, from held-out scores
        logits = np.log(np.concatenate([clean, tv.reshape(-1, num_classes)]) + 1e-30)
        temperature = fit_temperature(logits, np.concatenate([labels, np.repeat(labels, len(TV))]))
        clean, tv = (softmax(np.log(p + 1e-30) / temperature) for p in (clean, tv))
    return HeldOut(tuple(classes), labels, tuple(sources), clean, tv, temperature)


def summarise(h: HeldOut) -> dict:
    """Recall per class, class mean, accuracy, and per-source accuracy, clean and TV."""
    k = len(h.classes)
    src = np.asarray(h.sources)
    scored = ~np.isnan(h.clean[:, 0])
    out: dict = {"classes": list(h.classes), "images": int(scored.sum())}
    per_source: dict[str, dict] = {}
    for name, probs, labels in (
        ("clean", h.clean[scored], h.labels[scored]),
        ("tv", h.tv[scored].reshape(-1, k), np.repeat(h.labels[scored], h.tv.shape[1])),
    ):
        q = check_quality(probs, labels, h.classes)
        out[name] = {
            "accuracy": q.accuracy,
            "recall": {c: None if np.isnan(r) else r for c, r in q.recall.items()},
            "class_mean": None if np.isnan(q.class_mean) else q.class_mean,
        }
    for s in sorted(set(src[scored])):
        m = (src == s) & scored
        lab = int(h.labels[m][0])
        per_source[s] = {
            "label": h.classes[lab],
            "images": int(m.sum()),
            "clean": float(np.mean(predictions(h.clean[m]) == h.labels[m])),
            "tv": float(np.mean(predictions(h.tv[m].reshape(-1, k))
                                == np.repeat(h.labels[m], h.tv.shape[1]))),
        }
    out["sources"] = per_source
    for name in ("clean", "tv"):
        out[name]["class_mean_interval"] = class_mean_interval(h, name)
    # the mean over sources within each class: small collectors count as much as big ones
    for name in ("clean", "tv"):
        by_class = {c: [v[name] for v in per_source.values() if v["label"] == c]
                    for c in h.classes}
        out[name]["source_mean"] = {c: float(np.mean(v)) if v else None
                                    for c, v in by_class.items()}
    return out


def class_mean_interval(h: HeldOut, view: str, *, draws: int = 2000, seed: int = 0,
                        level: float = 0.95) -> list[float] | None:
    """A ``level`` interval of the class mean (``view`` "clean" or "tv") from resampling
    each class's sources with replacement: how much the figure rests on which shows
    happen to be in the data. ``None`` when a class has no scored source."""
    k = len(h.classes)
    src = np.asarray(h.sources)
    scored = ~np.isnan(h.clean[:, 0])
    probs = h.clean if view == "clean" else h.tv
    rng = np.random.default_rng(seed)
    recalls = np.zeros((draws, k))
    for c in range(k):
        names = sorted(set(src[scored & (h.labels == c)]))
        if not names:
            return None
        hits, totals = np.zeros(len(names)), np.zeros(len(names))
        for j, name in enumerate(names):
            m = scored & (src == name)
            p = probs[m].reshape(-1, k)
            hits[j] = np.sum(predictions(p) == c)
            totals[j] = len(p)
        pick = rng.integers(0, len(names), (draws, len(names)))
        recalls[:, c] = hits[pick].sum(axis=1) / totals[pick].sum(axis=1)
    means = recalls.mean(axis=1)
    tail = 100 * (1 - level) / 2
    return [float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))]
