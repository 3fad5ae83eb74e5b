"""Regularised discriminant analysis: each class gets its own covariance, blended with the
pooled one by ``alpha`` (0 is the shipped LDA), scored by leaving one source out over the 58
sources from the cached per-source sums (about 25 s per alpha):

    PYTHONPATH=device:training python3 training/experiments/rda.py \\
        /work/shared/data/aoc-train --work-dir .cache/aoc-train/head \\
        --backbone-dir /work/shared/reference/coral --alpha 0,0.1,0.3
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from aoc.inference.head import input_power
from aoc_train.embed import CLEAN, TV
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig, SourceStats, source_stats
from aoc_train.loso import HeldOut, fold_names, summarise


def fit(stats: SourceStats, keep: np.ndarray, alpha: float, shrinkage: float, k: int = 3):
    """Per class: mean, Cholesky factor of its blended covariance, log-determinant."""
    d = stats.s1.shape[1]
    means, covs = [], []
    for c in range(k):
        sel = np.flatnonzero(keep & (stats.label == c))
        m = stats.s1[sel].sum(0) / stats.n[sel].sum()
        means.append(m)
        covs.append(stats.s2[sel].sum(0) / stats.n[sel].sum() - np.outer(m, m))
    pooled = sum(covs) / k
    model = []
    for m, cov in zip(means, covs, strict=True):
        s = alpha * cov + (1 - alpha) * pooled
        s = (1 - shrinkage) * s + shrinkage * (np.trace(s) / d) * np.eye(d)
        chol = np.linalg.cholesky(s)
        model.append((m, chol, 2 * np.log(np.diag(chol)).sum()))
    return model


def probabilities(model, stats: SourceStats, x: np.ndarray) -> np.ndarray:
    """Class probabilities of rows ``x`` (already raised to the head's power)."""
    x = x.astype(np.float64) - stats.centre
    logits = []
    for m, chol, logdet in model:
        z = np.linalg.solve(chol, (x - m).T)
        logits.append(-0.5 * (z * z).sum(0) - 0.5 * logdet)
    lg = np.stack(logits, 1)
    p = np.exp(lg - lg.max(1, keepdims=True))
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--alpha", default="0,0.1,0.3")
    a = ap.parse_args()
    hc = HeadConfig()
    pre = prepare(HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"), work_dir=a.work_dir,
                                  backbone_dir=a.backbone_dir, head=hc))
    labels = pre.labels
    emb = input_power(pre.emb, hc.power)
    folds = np.array(fold_names(labels, pre.sources, seed=1234))
    stats = source_stats(emb, labels, list(folds), hc.views)
    d = emb.shape[-1]
    for alpha in (float(v) for v in a.alpha.split(",")):
        clean = np.full((len(labels), 3), np.nan, np.float32)
        tv = np.full((len(labels), len(TV), 3), np.nan, np.float32)
        for f in sorted(set(folds)):
            model = fit(stats, np.array([n != f for n in stats.names]), alpha, hc.shrinkage)
            test = np.flatnonzero(folds == f)
            clean[test] = probabilities(model, stats, emb[test][:, list(CLEAN)].reshape(-1, d))
            tv[test] = probabilities(model, stats, emb[test][:, list(TV)].reshape(-1, d)
                                     ).reshape(len(test), len(TV), 3)
        s = summarise(HeldOut(pre.classes, labels, tuple(pre.sources), clean, tv, 1.0))
        src = {k: np.mean(list(s[k]["source_mean"].values())) for k in ("clean", "tv")}
        print(f"alpha {alpha}: class mean clean {100 * s['clean']['class_mean']:.1f} TV "
              f"{100 * s['tv']['class_mean']:.1f}; source mean clean {100 * src['clean']:.1f} "
              f"TV {100 * src['tv']:.1f}", flush=True)


if __name__ == "__main__":
    main()
