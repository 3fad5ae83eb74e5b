"""Does the device's resize filter change what the shipped head says?

The default bundle's embeddings were computed with a Lanczos resize; the device resizes with
``aoc.inference.preprocess.DEVICE_RESAMPLE`` (area steps then bilinear), which is several times
faster on a Pi. This re-embeds a sample of images, clean and through a TV (the same seeded
frames), with both filters, runs the shipped head on both, and prints how often the top
class agrees and how far the scores move.

    PYTHONPATH=device:training python3 training/experiments/resample_agreement.py \\
        /work/shared/data/aoc-train --bundle models/default \\
        --backbone-dir /work/shared/reference/coral --images 400
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from aoc.inference.bundle import load_bundle
from aoc.inference.preprocess import DEVICE_RESAMPLE
from aoc_train.data import read_rgb, scan_dataset
from aoc_train.embed import TV, Embedder, coral_v1, image_seed, make_views


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    head = load_bundle(a.bundle).head
    records = list(scan_dataset(a.data_dir).records)
    pick = np.random.default_rng(a.seed).choice(len(records), a.images, replace=False)
    trained = coral_v1(a.backbone_dir)
    device = dataclasses.replace(trained, resample=DEVICE_RESAMPLE)
    probs = {trained.resample: [], device.resample: []}
    with Embedder(trained) as e_train, Embedder(device) as e_dev:
        for i in pick:
            r = records[i]
            image = np.asarray(read_rgb(a.data_dir / r.file))
            views = make_views(image, np.random.default_rng(image_seed(a.seed, r)))
            frames = [image] + [np.ascontiguousarray(views[v]) for v in TV]
            for name, embed in ((trained.resample, e_train), (device.resample, e_dev)):
                probs[name].append([head(trained.dequantize(embed(f))) for f in frames])
    p_t, p_d = (np.array(probs[k]) for k in (trained.resample, device.resample))
    out = {
        "images": int(a.images),
        "trained_with": trained.resample,
        "device": device.resample,
        "same_top1_clean": float(np.mean(p_t[:, 0].argmax(-1) == p_d[:, 0].argmax(-1))),
        "same_top1_tv": float(np.mean(p_t[:, 1:].argmax(-1) == p_d[:, 1:].argmax(-1))),
        "mean_abs_score_change": float(np.mean(np.abs(p_t - p_d))),
        "max_abs_score_change": float(np.max(np.abs(p_t - p_d))),
    }
    print(json.dumps(out, indent=1))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
