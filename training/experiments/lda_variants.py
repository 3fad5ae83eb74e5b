"""Leave-one-source-out figures of three changes to the shipped LDA head, all from the cached
per-source sums (about 15 s per variant once the embeddings are cached):

* ``two-stage``: drawn-or-not first, then anime-or-cartoon with its own covariance, fitted
  on the drawn sources only (p(anime) = p(drawn) p(anime | drawn));
* ``between-L``: the covariance counts the scatter of source means within a class L + 1
  times, so directions along which shows of one class differ weigh less;
* ``means-sqrt``: class means with sources weighted by sqrt(size) (the covariance as
  shipped).

``between-0`` reproduces the shipped figures exactly. Prints one line per variant.

    PYTHONPATH=device:training python3 training/experiments/lda_variants.py \\
        /work/shared/data/aoc-train --work-dir .cache/aoc-train/head \\
        --backbone-dir /work/shared/reference/coral
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from aoc.inference.head import input_power, make_head
from aoc_train.embed import CLEAN, TV
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig, SourceStats, lda_head, source_stats
from aoc_train.loso import HeldOut, fold_names, summarise


def between_head(stats: SourceStats, keep: np.ndarray, *, lam: float, shrinkage: float,
                 power: float, mean_power: float = 1.0):
    """LDA with the within-class scatter of source means counted ``lam + 1`` times."""
    d, k = stats.s1.shape[1], 3
    means, scatter = np.zeros((k, d)), np.zeros((d, d))
    for c in range(k):
        sel = np.flatnonzero(keep & (stats.label == c))
        share = stats.n[sel] / stats.n[sel].sum()
        ms = stats.s1[sel] / stats.n[sel][:, None]
        m = share @ ms
        within = (np.tensordot(share / stats.n[sel], stats.s2[sel], axes=1)
                  - np.einsum("s,si,sj->ij", share, ms, ms))
        scatter += within + (1 + lam) * np.einsum("s,si,sj->ij", share, ms - m, ms - m)
        mshare = stats.n[sel] ** mean_power
        means[c] = (mshare / mshare.sum()) @ ms
    cov = scatter / k
    cov = (1 - shrinkage) * cov + shrinkage * (np.trace(cov) / d) * np.eye(d)
    w = np.linalg.solve(cov, means.T)
    b = -0.5 * np.einsum("cd,dc->c", means, w)
    return make_head(stats.centre, np.ones(d), [w], [b.astype(np.float32)], power=power)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    a = ap.parse_args()
    hc = HeadConfig()
    pre = prepare(HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"), work_dir=a.work_dir,
                                  backbone_dir=a.backbone_dir, head=hc))
    classes, labels, emb = pre.classes, pre.labels, pre.emb
    an, ca, ne = (classes.index(c) for c in ("anime", "cartoon", "neither"))
    folds = np.array(fold_names(labels, pre.sources, seed=1234))
    stats = source_stats(input_power(emb, hc.power), labels, list(folds), hc.views)
    drawn_or_not = dataclasses.replace(stats, label=np.where(stats.label == ne, 1, 0))
    anime_or_cartoon = dataclasses.replace(stats, label=np.where(stats.label == an, 0, 1))
    d = emb.shape[-1]

    def two_stage(keep):
        h1 = lda_head(drawn_or_not, keep, 2, shrinkage=hc.shrinkage, source_power=1.0,
                      power=hc.power)
        h2 = lda_head(anime_or_cartoon, keep & (stats.label != ne), 2,
                      shrinkage=hc.shrinkage, source_power=1.0, power=hc.power)

        def probs(x):
            p1, p2 = h1(x), h2(x)
            p = np.zeros((len(x), 3), np.float32)
            p[:, ne], p[:, an], p[:, ca] = p1[:, 1], p1[:, 0] * p2[:, 0], p1[:, 0] * p2[:, 1]
            return p
        return probs

    variants = {
        "between-0": lambda keep: between_head(stats, keep, lam=0.0, shrinkage=hc.shrinkage,
                                               power=hc.power),
        "between-1": lambda keep: between_head(stats, keep, lam=1.0, shrinkage=hc.shrinkage,
                                               power=hc.power),
        "between-3": lambda keep: between_head(stats, keep, lam=3.0, shrinkage=hc.shrinkage,
                                               power=hc.power),
        "means-sqrt": lambda keep: between_head(stats, keep, lam=0.0, shrinkage=hc.shrinkage,
                                                power=hc.power, mean_power=0.5),
        "two-stage": two_stage,
    }
    for name, make in variants.items():
        clean = np.full((len(labels), 3), np.nan, np.float32)
        tv = np.full((len(labels), len(TV), 3), np.nan, np.float32)
        for f in sorted(set(folds)):
            head = make(np.array([n != f for n in stats.names]))
            test = np.flatnonzero(folds == f)
            clean[test] = head(emb[test][:, list(CLEAN)].reshape(-1, d))
            tv[test] = head(emb[test][:, list(TV)].reshape(-1, d)).reshape(len(test), len(TV), 3)
        s = summarise(HeldOut(classes, labels, tuple(pre.sources), clean, tv, 1.0))
        src = {k: np.mean(list(s[k]["source_mean"].values())) for k in ("clean", "tv")}
        print(f"{name}: class mean clean {100 * s['clean']['class_mean']:.1f} TV "
              f"{100 * s['tv']['class_mean']:.1f}; source mean clean {100 * src['clean']:.1f} "
              f"TV {100 * src['tv']:.1f}", flush=True)


if __name__ == "__main__":
    main()
