"""The candidates side by side on the same held-out images, clean and through a TV.

The previous default (MobileNetV2 0.35, fine-tuned, a single int8 model) was trained on the
first round of sources only, so every later source is unseen by it. The compiled-backbone +
head model is scored on the same images by its leave-one-source-out estimate (a head that
never saw the image's source). Clean pictures and the very camera-at-TV frames the head's
estimate used (same seeds) go through the old bundle with the device's own classifier.

    PYTHONPATH=device:training python3 training/experiments/compare_candidates.py \\
        /work/shared/data/aoc-train --work-dir .cache/aoc-train/default \\
        --backbone-dir /work/shared/reference/coral --old OLD_BUNDLE_DIR
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from aoc.inference.bundle import load_bundle
from aoc.inference.classifier import open_classifier
from aoc_train.data import read_rgb
from aoc_train.embed import image_seed, make_views
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.quality import check_quality


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--old", type=Path, required=True, help="the previous default bundle")
    ap.add_argument("--per-source", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pre = prepare(HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"),
                                  work_dir=a.work_dir, backbone_dir=a.backbone_dir,
                                  seed=a.seed))
    old = load_bundle(a.old)
    seen = set(old.provenance.get("sources", {}))
    records = list(pre.dataset.records)
    rng = np.random.default_rng(a.seed)
    pick: list[int] = []
    for s in sorted(set(pre.sources) - seen):
        idx = np.flatnonzero(np.array(pre.sources) == s)
        pick += sorted(rng.choice(idx, min(a.per_source, len(idx)), replace=False).tolist())
    classes = pre.classes
    y = pre.labels[pick]
    old_clean, old_tv = [], []
    with open_classifier(old, prefer="cpu") as clf:
        if tuple(clf.labels) != classes:
            raise SystemExit(f"{a.old} has labels {clf.labels}, not {classes}")
        for i in pick:
            image = np.asarray(read_rgb(pre.dataset.root / records[i].file))
            views = make_views(image, np.random.default_rng(image_seed(a.seed, records[i])))
            old_clean.append(clf.classify(image))
            old_tv.append([clf.classify(np.ascontiguousarray(v)) for v in views[2:]])
    k = len(classes)
    table = {
        "previous default (MobileNetV2 0.35 fine-tuned)": (np.array(old_clean), np.array(old_tv)),
        "Coral V1 embedding + head (leave-one-source-out)": (
            pre.held.clean[pick], pre.held.tv[pick]),
    }
    out = {"images": len(pick), "sources": sorted(set(pre.sources) - seen), "candidates": {}}
    head = ["candidate", "clean class mean", "TV class mean",
            *(f"clean {c}" for c in classes), *(f"TV {c}" for c in classes)]
    print(f"{len(pick)} images from {len(out['sources'])} sources the previous default never saw")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, (pc, pt) in table.items():  # recall with ties as misses, as the gate counts
        rc = check_quality(pc, y, classes).recall
        rt = check_quality(pt.reshape(-1, k), np.repeat(y, pt.shape[1]), classes).recall
        out["candidates"][name] = {"clean": rc, "tv": rt}
        cells = [f"{100 * np.mean(list(r.values())):.1f}" for r in (rc, rt)]
        cells += [f"{100 * r[c]:.1f}" for r in (rc, rt) for c in classes]
        print("| " + " | ".join([name, *cells]) + " |")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
