"""Is a trained model usable? Held-out probabilities in, a verdict with reasons out.

A tiny or broken data set can train a model that outputs the same probabilities for every
picture (e.g. 1/3 each). Scored with a plain ``argmax``, such a model "gets" every image of
class 0 right, because ``argmax`` of a tie picks the first index. Here a tied top score is
a miss, and a model is *degenerate* when its outputs barely move across the held-out
images, or when any class's held-out recall is at or below chance (or cannot be measured
because the data set has no held-out image of it). Numpy only: the TensorFlow pipeline and
the numpy head path both call it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import DataError, DegenerateModelError

__all__ = ["DegenerateModelError", "QualityCheck", "check_quality", "predictions",
           "require_quality"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QualityCheck:
    """Held-out quality figures of one model; ``problems`` is empty when it is usable.

    ``recall`` has every class; a class with no held-out sample has ``nan`` there, and
    ``class_mean`` is the mean over the classes that have samples (``nan`` if none).
    """

    recall: dict[str, float]  # per class, ties counted as misses
    class_mean: float  # mean of the recalls
    accuracy: float  # ties counted as misses
    chance: float  # 1 / number of classes
    output_spread: float  # max over classes of the std of its probability across samples
    problems: tuple[str, ...]  # human sentences; empty when the model is usable

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def predictions(probs: np.ndarray) -> np.ndarray:
    """argmax per row, or -1 where the top score is tied (a tie is a miss).

    A tie is two or more classes with exactly the top score (as a uint8 output dequantizes,
    or as a softmax of equal logits comes out). A row with a NaN or infinite score is a
    miss too.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise DataError(f"predictions: expected probabilities of shape (images, classes), "
                        f"got shape {p.shape}; pass one row per image")
    if p.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    if p.shape[1] == 0:
        raise DataError("predictions: the probabilities have no class column; pass one "
                        "column per class")
    finite = np.isfinite(p).all(axis=1)
    safe = np.where(finite[:, None], p, 0.0)
    top = safe.max(axis=1, keepdims=True)
    tied = (safe == top).sum(axis=1) > 1
    pred = safe.argmax(axis=1).astype(np.int64)
    pred[tied | ~finite] = -1
    return pred


def _spread(p: np.ndarray) -> float:
    if len(p) == 0 or not np.isfinite(p).all():
        return float("nan")
    return float(p.std(axis=0).max())


def check_quality(probs: np.ndarray, y_true: np.ndarray, classes: Sequence[str], *,
                  min_spread: float = 1e-3) -> QualityCheck:
    """Recall per class, accuracy and output spread of held-out ``probs`` (images x classes)
    against the true class ids ``y_true``, and the problems that make the model degenerate:
    outputs that barely move (spread below ``min_spread``), a class at or below chance, a
    class with no held-out image, scores that are not finite."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    k = len(classes)
    if k == 0:
        raise DataError("check_quality: no classes given; pass the model's label order")
    if p.ndim != 2 or p.shape != (len(y), k):
        raise DataError(f"check_quality: probabilities of shape {p.shape} do not match "
                        f"{len(y)} labels and {k} classes; pass one row per held-out image "
                        "and one column per class")
    if ((y < 0) | (y >= k)).any():
        raise DataError(f"check_quality: true class ids must be 0..{k - 1}; got "
                        f"{sorted(set(y[(y < 0) | (y >= k)].tolist()))[:5]}")
    pred = predictions(p)
    hit = pred == y
    chance = 1.0 / k
    spread = _spread(p)
    problems: list[str] = []
    if len(y) == 0:
        problems.append("there are no held-out images at all, so the model cannot be checked")
    bad_rows = int((~np.isfinite(p).all(axis=1)).sum())
    if bad_rows:
        problems.append(f"{bad_rows} of {len(y)} held-out outputs contain NaN or infinite "
                        "scores")
    elif len(y) == 1:
        problems.append("there is only one held-out image: too few to tell whether the "
                        "outputs depend on the picture")
    elif len(y) and spread < min_spread:
        problems.append(f"the outputs are constant: no class's probability varies by more "
                        f"than {spread:.2g} (std) across the {len(y)} held-out images "
                        f"(minimum {min_spread:g}), so it answers the same whatever it sees")
    recall: dict[str, float] = {}
    for i, name in enumerate(classes):
        mine = y == i
        n = int(mine.sum())
        if n == 0:
            recall[name] = float("nan")
            problems.append(f"the data set lacks held-out images of {name!r}, so its recall "
                            "cannot be measured")
            continue
        r = float(hit[mine].mean())
        recall[name] = r
        if r <= chance + 1e-12:  # exactly chance, whatever the rounding
            ties = int((pred[mine] == -1).sum())
            tie_text = f", {ties} of them tied top scores" if ties else ""
            problems.append(f"{name!r} recall is {100 * r:.1f} % of {n} held-out images"
                            f"{tie_text}: at or below chance ({100 * chance:.1f} %)")
    measured = [v for v in recall.values() if v == v]
    return QualityCheck(
        recall=recall,
        class_mean=float(np.mean(measured)) if measured else float("nan"),
        accuracy=float(hit.mean()) if len(y) else float("nan"),
        chance=chance,
        output_spread=spread,
        problems=tuple(problems),
    )


FIX_FINE_TUNED = (
    "give every class more images (dozens at least, from more than one source) including "
    "held-out ones, start from pretrained backbone weights instead of random "
    "initialisation, or train longer")
FIX_PRETRAINED = (
    "give every class more images (dozens at least, from more than one source) including "
    "held-out ones, or train longer")
FIX_FROZEN_BACKBONE = (
    "give every class more images, from more sources: the backbone is fixed, so a class "
    "its features cannot tell apart needs pictures that show the difference")


def require_quality(probs: np.ndarray, y_true: np.ndarray, classes: Sequence[str], *,
                    where: str, min_spread: float = 1e-3,
                    fix: str = FIX_FINE_TUNED) -> QualityCheck:
    """check_quality, raising DegenerateModelError (naming `where`, the problems and what to
    do: ``fix``) when not ok."""
    q = check_quality(probs, y_true, classes, min_spread=min_spread)
    if q.ok:
        log.info("%s: usable (class-mean recall %.3f, spread %.3g)", where, q.class_mean,
                 q.output_spread)
        return q
    lines = "\n".join(f"- {s}" for s in q.problems)
    raise DegenerateModelError(
        f"{where}: the model is degenerate and must not be shipped:\n{lines}\n"
        f"What to do: {fix}; then build again.",
        check=q)
