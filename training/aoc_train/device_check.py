"""The written bundle, through the device's own loader and classifier, against training.

A compiled-backbone build learns from cached embeddings. Before the bundle is written, the
device classifies a few training images with it: the same int8 graph on the same pixels
gives the same scores, so a difference beyond rounding means the cache is stale (another
backbone file, TFLite runtime or device preprocessing) and the build stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aoc.inference.head import DenseHead, time_head

from .errors import TrainError

CACHE_TOLERANCE = 0.02
"""The largest difference in a probability allowed between the device's scores of a training
image and the scores from its cached embedding: they are the same int8 graph on the same
pixels, so they agree exactly unless the cache is stale."""


def require_fresh_cache(check: dict, work: Path) -> None:
    """Raise TrainError when the device's scores (``check``, :func:`device_check`) differ
    from the training-time scores by more than rounding: the cached embeddings were made
    with another backbone file, runtime or device preprocessing, and everything learnt from
    them (estimate, head) would not describe the bundle being written."""
    if check["max_abs_diff"] <= CACHE_TOLERANCE:
        return
    raise TrainError(
        f"the device scores {check['images']} training images differently from their cached "
        f"embeddings (largest difference {check['max_abs_diff']:.3f}, same top-1 "
        f"{check['same_top1']:.0%}): the backbone file, the TFLite runtime or the device's "
        f"preprocessing changed since {work}/embeddings-* was computed; delete those folders "
        "(and loso-*.npz) and build again")


def device_check(clf: Any, head: DenseHead, images: list[np.ndarray],
                 expected: np.ndarray) -> dict:
    """Classify ``images`` with the device's own classifier ``clf`` (opened on the written
    bundle) and compare with the training-time scores; time the backbone invoke and the
    head."""
    from .evaluate import invoke_ms

    got = np.stack([clf.classify(im) for im in images])
    backbone_ms = invoke_ms(clf, images[0], runs=30)
    head_us = float(np.median(time_head(head, calls=1000))) * 1e6
    return {
        "images": len(images),
        "max_abs_diff": float(np.max(np.abs(got - expected))),
        "same_top1": float(np.mean(got.argmax(1) == expected.argmax(1))),
        "backbone_invoke_ms_host_cpu": backbone_ms,
        "head_us_host_cpu": head_us,
    }
