"""Leave-one-source-out figures of an LDA head told to ignore what a camera changes.

Every training image has a clean view and two camera-at-TV views of the same picture
(``embed.VIEWS``), so the camera's effect on the features is measured pair by pair:
``d = f(tv) - f(clean)`` (``f`` the head's input power). Their second moment ``N`` is added
to the head's within-class covariance with weight ``lam`` (relative to the traces), so the
discriminant leans away from the directions a camera moves; a large ``lam`` approaches
projecting them out (nuisance attribute projection). ``N`` is summed per source and each
fold leaves the held-out source's pairs out, like everything else in the fit. The head
stays linear (the same ``DenseHead`` format: no new contract).

    PYTHONPATH=device:training python3 training/experiments/camera_nuisance.py \\
        /work/shared/data/aoc-train --work-dir .cache/aoc-train/head \\
        --backbone-dir /work/shared/reference/coral --lam 0,0.1,0.3,1,3
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from aoc.inference.head import input_power, make_head
from aoc_train.embed import CLEAN, TV
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig, SourceStats, source_stats
from aoc_train.loso import HeldOut, summarise

log = logging.getLogger(__name__)


def nuisance_sums(f: np.ndarray, sources: list[str], names: tuple[str, ...]) -> np.ndarray:
    """(S, D, D): per source, the sum of d d^T over its images' TV-minus-clean pairs."""
    src = np.asarray(sources)
    d = f.shape[-1]
    out = np.zeros((len(names), d, d))
    for k, name in enumerate(names):
        idx = np.flatnonzero(src == name)
        diffs = (f[idx][:, list(TV)] - f[idx][:, list(CLEAN)]).reshape(-1, d).astype(np.float64)
        out[k] = diffs.T @ diffs
    return out


def lda_with_nuisance(stats: SourceStats, nsum: np.ndarray, npairs: np.ndarray,
                      keep: np.ndarray, num_classes: int, *, lam: float,
                      config: HeadConfig):
    """``aoc_train.head_fit.lda_head`` with ``lam`` times the camera covariance added."""
    d = stats.s1.shape[1]
    means = np.zeros((num_classes, d))
    scatter = np.zeros((d, d))
    for c in range(num_classes):
        sel = np.flatnonzero(keep & (stats.label == c))
        share = stats.n[sel] ** config.source_power
        a = share / share.sum() / stats.n[sel]
        m = (a[:, None] * stats.s1[sel]).sum(0)
        means[c] = m
        scatter += np.tensordot(a, stats.s2[sel], axes=1) - np.outer(m, m)
    cov = scatter / num_classes
    cov = (1 - config.shrinkage) * cov + config.shrinkage * (np.trace(cov) / d) * np.eye(d)
    if lam > 0:
        nuis = nsum[keep].sum(0) / npairs[keep].sum()
        cov = cov + lam * (np.trace(cov) / np.trace(nuis)) * nuis
    w = np.linalg.solve(cov, means.T)
    b = -0.5 * np.einsum("cd,dc->c", means, w)
    return make_head(stats.centre, np.ones(d), [w], [b.astype(np.float32)], power=config.power)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--lam", default="0,0.3,1,3")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = HeadConfig()
    pre = prepare(HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"), work_dir=a.work_dir,
                                  backbone_dir=a.backbone_dir, head=config))
    emb, labels, sources = pre.emb, np.asarray(pre.labels), list(pre.sources)
    classes = tuple(pre.dataset.classes)
    f = input_power(emb, config.power)
    stats = source_stats(f, labels, sources, config.views)
    nsum = nuisance_sums(f, sources, stats.names)
    src = np.asarray(sources)
    npairs = np.array([len(TV) * np.sum(src == n) for n in stats.names], np.float64)
    print("| camera weight | clean class mean | TV class mean | clean source mean "
          "| TV source mean | TV anime | TV cartoon | TV neither |")
    print("|---|---|---|---|---|---|---|---|")
    for lam in (float(v) for v in a.lam.split(",")):
        clean = np.full((len(labels), len(classes)), np.nan, np.float32)
        tv = np.full((len(labels), len(TV), len(classes)), np.nan, np.float32)
        for source in stats.names:
            keep = np.array([n != source for n in stats.names])
            head = lda_with_nuisance(stats, nsum, npairs, keep, len(classes), lam=lam,
                                     config=config)
            test = np.flatnonzero(src == source)
            clean[test] = head(emb[test][:, list(CLEAN)].reshape(-1, emb.shape[-1]))
            tv[test] = head(emb[test][:, list(TV)].reshape(-1, emb.shape[-1])).reshape(
                len(test), len(TV), len(classes))
        s = summarise(HeldOut(classes, labels, tuple(sources), clean, tv, 1.0))
        src_mean = {k: sum(s[k]["source_mean"].values()) / len(classes) for k in ("clean", "tv")}
        cells = [s["clean"]["class_mean"], s["tv"]["class_mean"], src_mean["clean"],
                 src_mean["tv"], *(s["tv"]["recall"][c] for c in classes)]
        print(f"| {lam:g} | " + " | ".join(f"{100 * v:.1f}" for v in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
