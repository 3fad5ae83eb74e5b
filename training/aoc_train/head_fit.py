"""Fitting the numpy head on backbone embeddings: class- and source-balanced softmax
regression (optionally one hidden layer), full-batch Adam. Pure numpy, deterministic.

Weights balance the classes exactly and, within a class, give each source a share that
grows only with the square root of its size, so one large collector (1,900 Simpsons
pictures, 1,500 Danbooru faces) cannot decide what its whole class looks like.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aoc.inference.head import DenseHead, input_power, make_head

from .errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadConfig:
    """How the head is fitted: ``kind`` "lda" (closed form, see :func:`lda_head`) or
    "softmax" (cross-entropy by full-batch Adam, optionally with a hidden layer)."""

    kind: str = "lda"
    power: float = 0.5  # the head takes max(x, 0) ** power of the embedding (aoc.head)
    shrinkage: float = 0.3
    hidden: int = 0  # 0: linear softmax regression; else one ReLU layer of this width
    l2: float = 1e-3
    steps: int = 300
    learning_rate: float = 0.05
    source_power: float = 1.0  # a source's weight within its class grows as n ** power
    views: tuple[int, ...] = (0, 1, 2, 3)  # which of embed.VIEWS the head learns from
    seed: int = 1234


def sample_weights(labels: np.ndarray, sources: Sequence[str], num_classes: int, *,
                   source_power: float = 0.5) -> np.ndarray:
    """Per-sample weights, mean 1: every class weighs the same in total; within a class a
    source of n samples weighs ``n ** source_power`` in total."""
    labels = np.asarray(labels)
    src = np.asarray(sources)
    w = np.zeros(len(labels), np.float64)
    present = [c for c in range(num_classes) if np.any(labels == c)]
    for c in present:
        in_c = labels == c
        names, counts = np.unique(src[in_c], return_counts=True)
        share = counts.astype(np.float64) ** source_power
        share /= share.sum()
        for name, n, s in zip(names, counts, share, strict=True):
            w[in_c & (src == name)] = s / n / len(present)
    return (w * len(w)).astype(np.float32)


def standardise(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted per-feature (shift, scale) with ``scale = 1 / std``."""
    ws = w / w.sum()
    mean = (x * ws[:, None]).sum(0)
    var = (((x - mean) ** 2) * ws[:, None]).sum(0)
    return mean.astype(np.float32), (1.0 / np.sqrt(var + 1e-6)).astype(np.float32)


def _adam(params: list[np.ndarray], grads: list[np.ndarray], state: list, step: int,
          lr: float) -> None:
    b1, b2 = 0.9, 0.999
    for p, g, s in zip(params, grads, state, strict=True):
        s[0] = b1 * s[0] + (1 - b1) * g
        s[1] = b2 * s[1] + (1 - b2) * g * g
        m_hat = s[0] / (1 - b1**step)
        v_hat = s[1] / (1 - b2**step)
        p -= lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def fit_head(x: np.ndarray, y: np.ndarray, w: np.ndarray, num_classes: int,
             config: HeadConfig = HeadConfig()) -> DenseHead:
    """Fit a :class:`~aoc.head.DenseHead` on float embeddings ``x`` (N, D), labels ``y``
    and sample weights ``w`` by full-batch Adam on the weighted cross-entropy + L2."""
    x = input_power(np.asarray(x, np.float32), config.power)
    w = np.asarray(w, np.float32)
    shift, scale = standardise(x, w)
    z = (x - shift) * scale
    n, d = z.shape
    rng = np.random.default_rng(config.seed)
    onehot = np.eye(num_classes, dtype=np.float32)[y]
    wn = (w / w.sum())[:, None]
    if config.hidden:
        params = [rng.normal(0, np.sqrt(2 / d), (d, config.hidden)).astype(np.float32),
                  np.zeros(config.hidden, np.float32),
                  rng.normal(0, np.sqrt(1 / config.hidden),
                             (config.hidden, num_classes)).astype(np.float32),
                  np.zeros(num_classes, np.float32)]
    else:
        params = [np.zeros((d, num_classes), np.float32), np.zeros(num_classes, np.float32)]
    state = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    for step in range(1, config.steps + 1):
        if config.hidden:
            pre = z @ params[0] + params[1]
            hid = np.maximum(pre, 0)
            logits = hid @ params[2] + params[3]
        else:
            logits = z @ params[0] + params[1]
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        dlog = (p - onehot) * wn
        if config.hidden:
            g2 = hid.T @ dlog + config.l2 * params[2]
            dh = (dlog @ params[2].T) * (pre > 0)
            grads = [z.T @ dh + config.l2 * params[0], dh.sum(0), g2, dlog.sum(0)]
        else:
            grads = [z.T @ dlog + config.l2 * params[0], dlog.sum(0)]
        _adam(params, grads, state, step, config.learning_rate)
    weights = params[0::2]
    biases = params[1::2]
    return make_head(shift, scale, list(weights), list(biases), power=config.power)


@dataclass(frozen=True)
class SourceStats:
    """Per-source sums of centred embeddings: what a shared-covariance (LDA) head needs, so a
    fold that leaves sources out is a subtraction and one D x D solve, not a new pass."""

    names: tuple[str, ...]
    label: np.ndarray  # (S,) class of each source
    n: np.ndarray  # (S,) rows
    s1: np.ndarray  # (S, D) sum of rows
    s2: np.ndarray  # (S, D, D) sum of outer products
    centre: np.ndarray  # (D,) subtracted from every row first (numerical range)


def source_stats(emb: np.ndarray, labels: np.ndarray, sources: Sequence[str],
                 views: Sequence[int]) -> SourceStats:
    """Sums over ``views`` of (N, V, D) embeddings for every source (float64); every
    source's images must share one label (ValueError otherwise)."""
    src = np.asarray(sources)
    labels = np.asarray(labels)
    names = tuple(sorted(set(sources)))
    d = emb.shape[-1]
    centre = emb[:, list(views)].reshape(-1, d).mean(0).astype(np.float64)
    n = np.zeros(len(names))
    label = np.zeros(len(names), int)
    s1 = np.zeros((len(names), d))
    s2 = np.zeros((len(names), d, d))
    for k, name in enumerate(names):
        idx = np.flatnonzero(src == name)
        if np.any(labels[idx] != labels[idx[0]]):
            # one label per source is what the head's class sums rest on: a group of sources
            # across classes passed as "sources" would be learnt as its first image's class
            raise DataError(f"source {name!r} holds images of more than one class; a "
                            "source (or fold) name must stay within one class: give each "
                            "class's images their own source name")
        x = emb[idx][:, list(views)].reshape(-1, d).astype(np.float64) - centre
        n[k], label[k] = len(x), int(labels[idx[0]])
        s1[k] = x.sum(0)
        s2[k] = x.T @ x
    return SourceStats(names, label, n, s1, s2, centre)


def lda_head(stats: SourceStats, keep: np.ndarray, num_classes: int, *,
             shrinkage: float = 0.1, source_power: float = 0.5,
             temperature: float = 1.0, power: float = 1.0) -> DenseHead:
    """A linear head from the sources ``keep`` (bool mask): shared-covariance Gaussian
    classes (LDA) with equal priors, each class weighing the same and, within a class, a
    source of n rows weighing ``n ** source_power``; covariance shrunk towards its mean
    variance by ``shrinkage``; logits divided by ``temperature``. ``stats`` are of
    embeddings already raised to ``power``, which the head then applies itself."""
    d = stats.s1.shape[1]
    means = np.zeros((num_classes, d))
    scatter = np.zeros((d, d))
    for c in range(num_classes):
        sel = np.flatnonzero(keep & (stats.label == c))
        if not len(sel):
            raise DataError(f"class {c} has no training source left to fit the head: "
                            "it needs images from at least two sources to hold one out")
        share = stats.n[sel] ** source_power
        a = share / share.sum() / stats.n[sel]  # per-row weight, the class sums to 1
        m = (a[:, None] * stats.s1[sel]).sum(0)
        means[c] = m
        scatter += np.tensordot(a, stats.s2[sel], axes=1) - np.outer(m, m)
    cov = scatter / num_classes
    cov = (1 - shrinkage) * cov + shrinkage * (np.trace(cov) / d) * np.eye(d)
    w = np.linalg.solve(cov, means.T)  # (D, C)
    b = -0.5 * np.einsum("cd,dc->c", means, w)
    # logits on centred rows: (x - centre) @ w + b
    return make_head(stats.centre, np.ones(d), [w / temperature],
                     [(b / temperature).astype(np.float32)], power=power)


def fit_temperature(logits: np.ndarray, labels: np.ndarray,
                    grid: Sequence[float] = tuple(np.geomspace(0.25, 16, 49))) -> float:
    """The temperature that minimises the class-balanced cross-entropy of ``logits``."""
    best, best_t = np.inf, 1.0
    classes = np.unique(labels)
    for t in grid:
        z = logits / t
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        nll = np.mean([-logp[labels == c, c].mean() for c in classes])
        if nll < best:
            best, best_t = nll, float(t)
    return best_t
