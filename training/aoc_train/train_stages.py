"""Bodies of the TensorFlow stages of :class:`aoc_train.pipeline.Pipeline` (fit, export)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import ImageRecord
from .errors import TrainError
from .quality import predictions
from .views import cached_arrays

if TYPE_CHECKING:
    from .pipeline import Pipeline

log = logging.getLogger(__name__)


def _accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy; a tied top score is a miss."""
    return float((predictions(probs) == y).mean()) if len(y) else float("nan")


def run_fit(p: Pipeline, out: Path) -> tuple[dict, object]:
    """Views -> cached features -> head -> top-tune -> ``out`` weights + history.json.

    Returns the stage summary and the trained Keras model."""
    from .fit import compute_features, train_head
    from .model import HEAD_LAYER, build_model, distribution_strategy, feature_model, set_seeds

    c = p.config
    if not p.split.train or not p.split.val:
        raise TrainError("the split has no training or no validation images; add images or "
                         "lower --val-fraction / hold out fewer sources")
    train_views = p.views("train", "augmented")  # (n, k, s, s, 3)
    val_images = np.asarray(p.views("val", "clean"))
    y_train, y_val = p.labels("train"), p.labels("val")
    w_train = p.class_weights("train")
    set_seeds(c.seed)
    with distribution_strategy().scope():
        model = build_model(p.model_spec())
        feats = feature_model(model)
        fkey = feature_key(p)
        features = cached_arrays(p.work / f"features-{fkey}.npz", lambda: {
            "train": compute_features(feats, train_views, progress=lambda n: p.bar(n, "features")),
            "val": compute_features(feats, val_images,
                                    progress=lambda n: p.bar(n, "features val"))})
        f_train, f_val = features["train"], features["val"]
        k = f_train.shape[1]
        head_w, head_hist = train_head(
            f_train.reshape(-1, f_train.shape[-1]), np.repeat(y_train, k), np.repeat(w_train, k),
            f_val, y_val, num_classes=len(p.dataset.classes), dropout=c.dropout, config=c.fit)
        model.get_layer(HEAD_LAYER).set_weights(head_w)
        head_val = _accuracy(model.predict(val_images, batch_size=64, verbose=0), y_val)
        log.info("head: val accuracy %.4f", head_val)
        tt_hist: dict = {}
        if c.fit.top_tune_from:
            cache = p.work / f"activations-{fkey}-{c.fit.top_tune_from}.npz"
            tt_hist = _top_tune(p, model, (train_views, val_images), (y_train, w_train, y_val),
                                cache)
        val_acc = _accuracy(model.predict(val_images, batch_size=64, verbose=0), y_val)
    model.save_weights(out)
    (p.work / "history.json").write_text(json.dumps({"head": head_hist, "top_tune": tt_hist}))
    return {"train_images": len(y_train), "views": int(k), "head_epochs": len(head_hist["loss"]),
            "head_val_acc": head_val, "top_tune_epochs": len(tt_hist.get("loss", [])),
            "val_acc": val_acc}, model


def feature_key(p: Pipeline) -> str:
    """The cache key of the backbone features (and top-tune activations) of a build."""
    from .views import AUGMENT_VERSION

    # the augmentation version is part of the key: new views need new features
    return (p.data_key() + p.config.key("side", "alpha", "weights", "views", "screen_strength")
            + f"-a{AUGMENT_VERSION}")


def _top_tune(p: Pipeline, model, images: tuple[np.ndarray, np.ndarray],
              targets: tuple[np.ndarray, np.ndarray, np.ndarray], cache: Path) -> dict:
    """Activations below ``top_tune_from`` of (train views, val images), cached at
    ``cache``, then top_tune.tune_top of ``model`` in place on (y_train, w_train, y_val).
    Returns its history."""
    from .top_tune import activations, split_backbone, tune_top

    c = p.config
    train_views, val_images = images
    y_train, w_train, y_val = targets
    lower, _ = split_backbone(model, c.fit.top_tune_from)
    acts = cached_arrays(cache, lambda: {
        "train": activations(model, lower, train_views, progress=lambda n: p.bar(n, "activations")),
        "val": activations(model, lower, val_images)})
    return tune_top(model, acts["train"], y_train, w_train, acts["val"], y_val,
                    num_classes=len(p.dataset.classes), dropout=c.dropout, config=c.fit,
                    verbose=1 if p.progress else 0)


def calibration_images(records: Sequence[ImageRecord], clean: np.ndarray, *, seed: int,
                       count: int) -> np.ndarray:
    """Up to ``count`` of the ``clean`` views of ``records`` (the training split), evenly
    over classes and sources."""
    from .split import unit_hash

    order = sorted(range(len(records)), key=lambda i: unit_hash(seed + 7, records[i].sha256))
    # round-robin over sources so a big source cannot own the calibration ranges
    by_source: dict[str, list[int]] = {}
    for i in order:
        by_source.setdefault(records[i].source, []).append(i)
    picked: list[int] = []
    while len(picked) < min(count, len(records)):
        for idx in by_source.values():
            if idx and len(picked) < count:
                picked.append(idx.pop())
    return np.asarray(clean[sorted(picked)])


def run_export(model: Any, out: Path, calibration: np.ndarray) -> dict:
    """Export the trained ``model`` to ``out`` (see export.export_tflite)."""
    from .export import export_tflite

    result = export_tflite(model, out, calibration)
    (out / "export.json").write_text(json.dumps(result.to_dict(), indent=1))
    return {"int8_kb": round(result.int8_bytes / 1024, 1),
            "input_scale": result.input.scale, "input_zero_point": result.input.zero_point,
            "output_scale": result.output.scale, "output_zero_point": result.output.zero_point}
