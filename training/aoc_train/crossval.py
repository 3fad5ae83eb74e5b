"""Leave-source-out cross-validation: how well the recipe does on a collector it never saw.

The build's held-out test split is deliberately easy (each held-out source has a sibling of
the same style in training). Real use, and any hidden test set, brings pictures from
collectors and styles that are not in the data folder. This module estimates that: for each
fold (by default every source on its own) it trains the head, with the build's recipe, on
all *other* sources and scores the float head on the held-out source's clean images. With
``--top-tune-from`` each fold also runs the build's top-tune step (top_tune.py) from fresh
ImageNet weights on cached activations, and scores the tuned model.

It runs on the frozen backbone's cached features (augmented views of every image, plus the
device's clean centre crop), so a fold costs one head fit: seconds to a minute. Images of
the held-out source that duplicate a training image (exact or perceptual hash) are dropped
from its score, as in the build's split.

The numeric parts (:func:`fold_split`, :func:`head_probs`, :func:`summarise`) are pure
functions; :func:`run_crossval` wires them to a :class:`~aoc_train.pipeline.Pipeline` and
to the cached arrays of :mod:`aoc_train.crossval_arrays`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .crossval_arrays import all_activations, all_features
from .data import ImageRecord
from .errors import DataError
from .quality import predictions
from .split import balanced_weights, find_cross_duplicates, unit_hash

if TYPE_CHECKING:
    from .pipeline import Pipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldSplit:
    """Record indices of one fold: training, early-stopping and held-out images."""

    sources: tuple[str, ...]
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    dropped_duplicates: int


@dataclass(frozen=True)
class FoldResult:
    """The score of one fold: accuracy on the held-out sources and where their images went."""

    sources: tuple[str, ...]
    label: str  # the held-out images' class, or "mixed"
    images: int
    dropped_duplicates: int
    accuracy: float
    predicted: dict[str, int]  # held-out images per predicted class


@dataclass(frozen=True)
class CrossvalSummary:
    """All folds, their plain mean and the mean of the per-class fold means."""

    folds: tuple[FoldResult, ...]
    classes: tuple[str, ...]
    mean_accuracy: float
    class_mean_accuracy: dict[str, float]
    balanced_accuracy: float  # mean over classes of class_mean_accuracy

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        return asdict(self)

    def table(self) -> str:
        """A Markdown table, one row per fold plus the means."""
        classes = list(self.classes)
        head = "| held-out source(s) | class | images | accuracy | called " + " / ".join(
            classes) + " |"
        rows = [head, "|---|---|---|---|---|"]
        for f in self.folds:
            called = " / ".join(str(f.predicted.get(c, 0)) for c in classes)
            rows.append(f"| {', '.join(f.sources)} | {f.label} | {f.images} | "
                        f"{100 * f.accuracy:.1f} % | {called} |")
        per_class = ", ".join(f"{c} {100 * v:.1f} %" for c, v in self.class_mean_accuracy.items())
        rows.append(f"| **mean of folds** | | | **{100 * self.mean_accuracy:.1f} %** | |")
        rows.append(f"| **mean of class means** ({per_class}) | | | "
                    f"**{100 * self.balanced_accuracy:.1f} %** | |")
        return "\n".join(rows)


def parse_folds(text: str, sources: Sequence[str]) -> list[tuple[str, ...]]:
    """Folds from ``"a;b,c"`` (``;`` between folds, ``,`` within one); ``""`` = every source
    on its own. Raises DataError naming any unknown source."""
    known = sorted(set(sources))
    if not text.strip():
        return [(s,) for s in known]
    folds = [tuple(s.strip() for s in part.split(",") if s.strip())
             for part in text.split(";") if part.strip()]
    unknown = sorted({s for f in folds for s in f} - set(known))
    if unknown:
        raise DataError(f"--folds names sources {unknown} that are not in the data "
                        f"(sources: {known})")
    return folds


def fold_split(records: Sequence[ImageRecord], fold: Sequence[str], classes: Sequence[str], *,
               seed: int, val_fraction: float = 0.1, max_distance: int = 12) -> FoldSplit:
    """Hold out every image of the ``fold`` sources; a hash-chosen ``val_fraction`` of the
    rest stops training early. Raises DataError when training would lack a class."""
    held = set(fold)
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for i, r in enumerate(records):
        if r.source in held:
            test.append(i)
        elif unit_hash(seed + 1, r.sha256) < val_fraction:
            val.append(i)
        else:
            train.append(i)
    missing = sorted(set(classes) - {records[i].label for i in train})
    if missing:
        raise DataError(f"holding out {sorted(held)} leaves no training images of {missing}; "
                        "put those sources in different folds")
    dups = find_cross_duplicates(records, train + val, test, max_distance=max_distance)
    dropped = {d.dropped for d in dups}
    test = [i for i in test if records[i].file not in dropped]
    return FoldSplit(tuple(sorted(held)), tuple(train), tuple(val), tuple(test), len(dropped))


def head_probs(features: np.ndarray, head_weights: Sequence[np.ndarray]) -> np.ndarray:
    """Softmax of the dense head on ``features`` (n, f): what the float model outputs
    (dropout is off at inference)."""
    kernel, bias = head_weights
    logits = features @ kernel + bias
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def score_fold(split: FoldSplit, probs: np.ndarray, labels: np.ndarray,
               records: Sequence[ImageRecord], classes: Sequence[str]) -> FoldResult:
    """Accuracy of ``probs`` (rows = ``split.test``) against ``labels`` (all records); a
    tied top score is a miss."""
    y = labels[list(split.test)]
    pred = predictions(probs) if len(probs) else np.zeros(0, dtype=int)  # tie = miss
    kinds = {records[i].label for i in split.test}
    return FoldResult(
        sources=split.sources, label=kinds.pop() if len(kinds) == 1 else "mixed",
        images=len(split.test), dropped_duplicates=split.dropped_duplicates,
        accuracy=float((pred == y).mean()) if len(y) else float("nan"),
        predicted={c: int((pred == k).sum()) for k, c in enumerate(classes)})


def summarise(folds: Sequence[FoldResult], classes: Sequence[str]) -> CrossvalSummary:
    """Means over the scored folds; class means over the single-class folds."""
    scored = [f for f in folds if f.images]
    per_class = {c: [f.accuracy for f in scored if f.label == c] for c in classes}
    class_mean = {c: float(np.mean(v)) for c, v in per_class.items() if v}
    return CrossvalSummary(
        folds=tuple(folds),
        classes=tuple(classes),
        mean_accuracy=float(np.mean([f.accuracy for f in scored])) if scored else float("nan"),
        class_mean_accuracy=class_mean,
        balanced_accuracy=float(np.mean(list(class_mean.values()))) if class_mean
        else float("nan"))


def fit_fold_head(p: Pipeline, split: FoldSplit, features: tuple[np.ndarray, np.ndarray],
                  labels: np.ndarray, weights: np.ndarray) -> list[np.ndarray]:
    """The build's head recipe on one fold: every augmented view of ``split.train``, early
    stopping on the clean views of ``split.val``; returns the head's weights."""
    from .fit import train_head

    c = p.config
    f_aug, f_clean = features
    tr, k = list(split.train), f_aug.shape[1]
    head_w, _ = train_head(
        f_aug[tr].reshape(-1, f_aug.shape[-1]), np.repeat(labels[tr], k), np.repeat(weights, k),
        f_clean[list(split.val)], labels[list(split.val)], num_classes=len(p.dataset.classes),
        dropout=c.dropout, config=c.fit)
    return head_w


def tune_fold_top(p: Pipeline, split: FoldSplit, head_w: Sequence[np.ndarray],
                  weights: np.ndarray, acts: tuple[np.ndarray, np.ndarray],
                  labels: np.ndarray) -> Any:
    """The build's top-tune step on one fold, from fresh ImageNet weights and the fold's
    head ``head_w``: returns the tuned Keras model."""
    from .model import HEAD_LAYER, build_model
    from .top_tune import tune_top

    c = p.config
    a_aug, a_clean = acts
    tr, va = list(split.train), list(split.val)
    model = build_model(p.model_spec())
    model.get_layer(HEAD_LAYER).set_weights(list(head_w))
    tune_top(model, a_aug[tr], labels[tr], weights, a_clean[va], labels[va],
             num_classes=len(p.dataset.classes), dropout=c.dropout, config=c.fit)
    return model


def run_crossval(p: Pipeline, folds: Sequence[Sequence[str]], *,
                 on_fold: Callable[[FoldResult], None] | None = None,
                 features: tuple[np.ndarray, np.ndarray] | None = None) -> CrossvalSummary:
    """Train the head on all but each fold and score it on the fold; writes crossval.json,
    crossval.md and crossval-probs.npz (per fold ``I``: ``I_test`` record indices, ``I_head``
    and, with a top-tune, ``I_top`` held-out probabilities)."""
    from .top_tune import top_probs

    c = p.config
    recs = list(p.dataset.records)
    classes = list(p.dataset.classes)
    labels = p.dataset.label_ids()
    f_aug, f_clean = features if features is not None else all_features(p)
    acts = all_activations(p, c.fit.top_tune_from) if c.fit.top_tune_from else None
    results: list[FoldResult] = []
    # every fold's held-out record indices and probabilities (head only, top-tuned), so
    # combinations can be scored later without refitting
    dump: dict[str, np.ndarray] = {}
    for i, fold in enumerate(folds):
        split = fold_split(recs, fold, classes, seed=c.seed, val_fraction=c.val_fraction)
        test = list(split.test)
        w = balanced_weights(recs, list(split.train), classes, source_power=c.source_power)
        head_w = fit_fold_head(p, split, (f_aug, f_clean), labels, w)
        dump[f"{i}_test"] = np.asarray(test, dtype=np.int64)
        dump[f"{i}_head"] = probs = head_probs(f_clean[test], head_w)
        if acts is not None:
            model = tune_fold_top(p, split, head_w, w, acts, labels)
            dump[f"{i}_top"] = probs = top_probs(model, c.fit.top_tune_from, acts[1][test])
        result = score_fold(split, probs, labels, recs, classes)
        log.info("fold %s: %.1f %% of %d", ",".join(fold), 100 * result.accuracy,
                 result.images)
        results.append(result)
        if on_fold is not None:
            on_fold(result)
    summary = summarise(results, classes)
    (p.work / "crossval.json").write_text(json.dumps(
        {"config": c.to_dict(), **summary.to_dict()}, indent=1, default=str))
    (p.work / "crossval.md").write_text(summary.table() + "\n")
    np.savez_compressed(p.work / "crossval-probs.npz", **dump)
    return summary
