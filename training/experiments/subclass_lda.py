"""Leave-one-source-out figures of an LDA head with two Gaussians per class: the class's
film and TV frames, and its web images (``head_variants.FRAME_SOURCES``).

The anime class is mostly face crops, and its frames are the weakest part; one mean per
class lets the crops decide where anime sits. Here each class has a frames mean and a web
mean (shared covariance, pooled within the six sub-classes), and a class scores the
log-sum-exp of its two, weighted by their share of the class's rows. Same cached
embeddings, same views and shrinkage as the shipped head, 58 folds (about a minute).

    PYTHONPATH=device:training:training/experiments python3 \\
        training/experiments/subclass_lda.py /work/shared/data/aoc-train \\
        --work-dir .cache/aoc-train/head --backbone-dir /work/shared/reference/coral
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
from head_variants import FRAME_SOURCES, _row

from aoc.inference.head import input_power
from aoc.inference.postprocess import softmax
from aoc_train.embed import CLEAN, TV
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig, lda_head, source_stats
from aoc_train.loso import summarise


def subclass_loso(pre, config: HeadConfig, *, prior: str) -> tuple[np.ndarray, np.ndarray]:
    """Held-out class probabilities (clean (N, C), TV (N, T, C)) of the two-Gaussian head."""
    k = len(pre.classes)
    frames = np.array([s in FRAME_SOURCES for s in pre.sources])
    sub = pre.labels * 2 + frames  # sub-class c*2 (web) and c*2+1 (frames)
    x = input_power(pre.emb, config.power)
    stats = source_stats(x, sub, pre.sources, config.views)
    src = np.asarray(pre.sources)
    d = x.shape[-1]
    clean = np.full((len(sub), k), np.nan, np.float32)
    tv = np.full((len(sub), len(TV), k), np.nan, np.float32)
    for source in stats.names:
        keep = np.array([n != source for n in stats.names])
        present = sorted({int(s) for s in stats.label[keep]})
        # refit on the sub-classes that still have a source: relabel them 0..m-1
        remap = {s: i for i, s in enumerate(present)}
        st = replace(stats, label=np.array([remap.get(int(s), -1) for s in stats.label]))
        head = lda_head(st, keep & (st.label >= 0), len(present),
                        shrinkage=config.shrinkage, source_power=config.source_power,
                        power=1.0)  # x is already raised to the power
        rows_per_sub = np.array([stats.n[keep & (stats.label == s)].sum() for s in present])
        cls = np.array(present) // 2
        if prior == "rows":
            pi = rows_per_sub / np.array([rows_per_sub[cls == c].sum() for c in cls])
        else:
            pi = 1.0 / np.array([np.sum(cls == c) for c in cls])
        test = np.flatnonzero(src == source)

        def score(rows: np.ndarray, head=head, pi=pi, cls=cls) -> np.ndarray:
            logit = np.log(head(rows) + 1e-30) + np.log(pi)
            out = np.full((len(rows), k), -np.inf)
            for c in range(k):
                m = cls == c
                if m.any():
                    out[:, c] = np.logaddexp.reduce(logit[:, m], axis=1)
            return softmax(out)

        clean[test] = score(x[test][:, list(CLEAN)].reshape(-1, d))
        tv[test] = score(x[test][:, list(TV)].reshape(-1, d)).reshape(len(test), len(TV), k)
    return clean, tv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = HeadConfig()
    pre = prepare(HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"), work_dir=a.work_dir,
                                  backbone_dir=a.backbone_dir, head=config))
    rows = [_row("shipped (one Gaussian a class)", pre.summary)]
    for prior in ("rows", "equal"):
        clean, tv = subclass_loso(pre, config, prior=prior)
        s = summarise(replace(pre.held, clean=clean, tv=tv))
        rows.append(_row(f"two Gaussians a class (frames, web), prior {prior}", s))
    classes = pre.summary["classes"]
    head = ["variant", "clean class mean", "TV class mean", "clean source mean",
            "TV source mean", *(f"clean {c}" for c in classes), *(f"TV {c}" for c in classes)]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
