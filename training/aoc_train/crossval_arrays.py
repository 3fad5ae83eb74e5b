"""Cached arrays of every image for cross-validation: backbone features and activations.

A cross-validation fold trains on all but one source, so it needs the augmented views of
*every* image, not only the build's training split. Views, features and activations are
computed once and cached in the work folder, keyed like the build's own caches (data,
input side, width, weights, views, seed, augmentation), so all folds and later runs with
other head settings reuse them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .pipeline import Pipeline


def cache_path(p: Pipeline, kind: str) -> Path:
    """Where the cross-validation array ``kind`` of ``p``'s data and settings is cached."""
    from .views import AUGMENT_VERSION

    key = p.dataset.fingerprint() + p.config.key("side", "alpha", "weights", "views", "seed",
                                                 "screen_strength", "max_images")
    return p.work / f"crossval-{kind}-{key}-a{AUGMENT_VERSION}.npz"


def all_views(p: Pipeline) -> tuple[np.ndarray, np.ndarray]:
    """The augmented (n, k, s, s, 3) and clean (n, s, s, 3) views of every image, cached."""
    from .views import build_views

    c = p.config
    recs = list(p.dataset.records)
    common = dict(side=c.side, cache_dir=p.work / "views", seed=c.seed,
                  screen_strength=c.screen_strength, workers=c.workers)
    augmented = build_views(c.data_dir, recs, mode="augmented", k=c.views,
                            progress=lambda _it, n: p.bar(n, "augmented views"), **common)
    clean = build_views(c.data_dir, recs, mode="clean",
                        progress=lambda _it, n: p.bar(n, "clean views"), **common)
    return augmented, clean


def all_features(p: Pipeline) -> tuple[np.ndarray, np.ndarray]:
    """Backbone features of every image: augmented views (n, k, f) and clean (n, f), cached
    in the work folder (views and features are keyed like the build's)."""
    from .fit import compute_features
    from .model import build_model, feature_model, set_seeds
    from .views import cached_arrays

    def compute() -> dict[str, np.ndarray]:
        augmented, clean = all_views(p)
        set_seeds(p.config.seed)
        feats = feature_model(build_model(p.model_spec()))
        return {"augmented": compute_features(feats, augmented,
                                              progress=lambda n: p.bar(n, "features")),
                "clean": compute_features(feats, clean,
                                          progress=lambda n: p.bar(n, "features clean"))}

    arrays = cached_arrays(cache_path(p, "features"), compute)
    return arrays["augmented"], arrays["clean"]


def all_activations(p: Pipeline, first: str) -> tuple[np.ndarray, np.ndarray]:
    """Frozen-backbone activations below layer ``first`` of every image (augmented views
    and clean), float16, cached like :func:`all_features`."""
    from .model import build_model
    from .top_tune import activations, split_backbone
    from .views import cached_arrays

    def compute() -> dict[str, np.ndarray]:
        augmented, clean = all_views(p)
        model = build_model(p.model_spec())
        lower, _ = split_backbone(model, first)
        return {"augmented": activations(model, lower, augmented,
                                         progress=lambda n: p.bar(n, "activations")),
                "clean": activations(model, lower, clean)}

    arrays = cached_arrays(cache_path(p, f"activations-{first}"), compute)
    return arrays["augmented"], arrays["clean"]
