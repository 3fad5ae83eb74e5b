"""Bodies of the TensorFlow stages of :class:`aoc_train.pipeline.Pipeline` (fit, export)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import TrainError
from .quality import predictions

if TYPE_CHECKING:
    from .pipeline import Pipeline

log = logging.getLogger(__name__)


def _accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy; a tied top score is a miss."""
    return float((predictions(probs) == y).mean()) if len(y) else float("nan")


def run_fit(p: Pipeline, out: Path, checkpoint_dir: Path) -> dict:
    """Views -> cached features -> head -> fine-tune -> ``out`` weights + history.json."""
    from .ensemble import check_members
    from .fit import compute_features, fine_tune, train_head
    from .model import HEAD_LAYER, build_model, distribution_strategy, feature_model, set_seeds
    from .views import AUGMENT_VERSION, cached_arrays

    c = p.config
    check_members(c.fit.top_tune_members, top_tune_from=c.fit.top_tune_from, taps=c.taps)
    if not p.split.train or not p.split.val:
        raise TrainError("the split has no training or no validation images; add images or "
                         "lower --val-fraction / hold out fewer sources")
    n_classes = len(p.dataset.classes)
    train_views = p.views("train", "augmented")  # (n, k, s, s, 3)
    val_images = np.asarray(p.views("val", "clean"))
    y_train, y_val = p.labels("train"), p.labels("val")
    w_train = p.class_weights("train")
    set_seeds(c.seed)
    with distribution_strategy().scope():
        model = build_model(p.model_spec())
        feats = feature_model(model)
        # the augmentation version is part of the key: new views need new features
        fkey = p.data_key() + c.key("side", "alpha", "weights", "views", "screen_strength")
        if c.taps:  # keyed only when set, so caches of final-only builds stay valid
            fkey += "-t" + c.key("taps")
        fkey += f"-a{AUGMENT_VERSION}" + c.augment_suffix()
        features = cached_arrays(p.work / f"features-{fkey}.npz", lambda: {
            "train": compute_features(feats, train_views, progress=lambda n: p.bar(n, "features")),
            "val": compute_features(feats, val_images,
                                    progress=lambda n: p.bar(n, "features val"))})
        f_train, f_val = features["train"], features["val"]
        k = f_train.shape[1]
        head_w, head_hist = train_head(
            f_train.reshape(-1, f_train.shape[-1]), np.repeat(y_train, k), np.repeat(w_train, k),
            f_val, y_val, num_classes=n_classes, dropout=c.dropout, config=c.fit)
        model.get_layer(HEAD_LAYER).set_weights(head_w)
        head_val = _accuracy(model.predict(val_images, batch_size=64, verbose=0), y_val)
        log.info("head: val accuracy %.4f", head_val)
        ft_hist: dict = {}
        if c.fit.finetune_epochs > 0:
            ft_hist = fine_tune(model, train_views, y_train, w_train, val_images, y_val,
                                num_classes=n_classes, config=c.fit,
                                checkpoint_dir=checkpoint_dir,
                                verbose=1 if p.progress else 0)
        tt_hists: list[dict] = [{}]
        if c.fit.top_tune_from:
            # the cache holds frozen-ImageNet activations: valid only without full fine-tuning
            cache = (p.work / f"activations-{fkey}-{c.fit.top_tune_from}.npz"
                     if not ft_hist else None)
            model, tt_hists = _top_tune(p, model, train_views, val_images, y_train, w_train,
                                        y_val, cache)
        tt_hist = tt_hists[0]
        val_acc = _accuracy(model.predict(val_images, batch_size=64, verbose=0), y_val)
    model.save_weights(out)
    p._model = model
    # members after the first are kept apart: the curves figure plots one top-tune
    (p.work / "history.json").write_text(json.dumps({"head": head_hist, "finetune": ft_hist,
                                                     "top_tune": tt_hist,
                                                     "top_tune_members": tt_hists[1:]}))
    return {"train_images": len(y_train), "views": int(k), "head_epochs": len(head_hist["loss"]),
            "head_val_acc": head_val, "finetune_epochs": len(ft_hist.get("loss", [])),
            "top_tune_epochs": len(tt_hist.get("loss", [])),
            "top_tune_members": len(tt_hists) if c.fit.top_tune_from else 0, "val_acc": val_acc}


def _top_tune(p: Pipeline, model, train_views: np.ndarray, val_images: np.ndarray,
              y_train: np.ndarray, w_train: np.ndarray, y_val: np.ndarray,
              cache: Path | None) -> tuple[object, list[dict]]:
    """Activations below ``top_tune_from`` (cached when ``cache``), then top_tune.tune_top
    once per member (seed + m, first view m; member 0 is ``model``, tuned in place).
    Returns the model to save (``model``, or the members' ensemble) and their histories."""
    from dataclasses import replace

    from .ensemble import assemble, build_ensemble, tune_member
    from .model import build_model
    from .top_tune import activations, split_backbone
    from .views import cached_arrays

    c = p.config
    lower, _ = split_backbone(model, c.fit.top_tune_from)
    acts = cached_arrays(cache, lambda: {
        "train": activations(model, lower, train_views, progress=lambda n: p.bar(n, "activations")),
        "val": activations(model, lower, val_images)})
    a_train, a_val = acts["train"], acts["val"]
    start = model.get_weights()  # after the head: where every member begins
    tuned, histories = [], []
    for m in range(c.fit.top_tune_members):
        member = model
        if m:
            member = build_model(replace(p.model_spec(), weights=None))
            member.set_weights(start)
        histories.append(tune_member(member, m, a_train, y_train, w_train, a_val, y_val,
                                     num_classes=len(p.dataset.classes), dropout=c.dropout,
                                     config=c.fit, verbose=1 if p.progress else 0))
        tuned.append(member)
    if len(tuned) == 1:
        return model, histories
    ensemble = build_ensemble(replace(p.model_spec(), weights=None), len(tuned))
    assemble(ensemble, tuned)
    return ensemble, histories


def calibration_images(p: Pipeline) -> np.ndarray:
    """Up to ``config.calibration`` clean training images, evenly over classes and sources."""
    from .split import unit_hash

    recs = p.records("train")
    order = sorted(range(len(recs)), key=lambda i: unit_hash(p.config.seed + 7, recs[i].sha256))
    # round-robin over sources so a big source cannot own the calibration ranges
    by_source: dict[str, list[int]] = {}
    for i in order:
        by_source.setdefault(recs[i].source, []).append(i)
    picked: list[int] = []
    while len(picked) < min(p.config.calibration, len(recs)):
        for idx in by_source.values():
            if idx and len(picked) < p.config.calibration:
                picked.append(idx.pop())
    clean = p.views("train", "clean")
    return np.asarray(clean[sorted(picked)])


def run_export(p: Pipeline, out: Path) -> dict:
    """Export the trained model (see export.export_tflite)."""
    from .export import export_tflite

    result = export_tflite(p.load_model(), out, calibration_images(p))
    (out / "export.json").write_text(json.dumps(result.to_dict(), indent=1))
    return {"int8_kb": round(result.int8_bytes / 1024, 1),
            "input_scale": result.input.scale, "input_zero_point": result.input.zero_point,
            "output_scale": result.output.scale, "output_zero_point": result.output.zero_point}
