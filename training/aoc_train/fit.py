"""Training of the softmax head on cached backbone features, and the fit settings.

Head training runs over the pooled features of ``k`` fixed augmented views per image (the
backbone is frozen, so caching its output is exact), with per-sample weights (class and
source balancing), label smoothing and early stopping on the validation split. The top-tune
that follows is in :mod:`aoc_train.top_tune`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .model import HEAD_LAYER, head_model


@dataclass(frozen=True)
class FitConfig:
    """Hyper-parameters of the head and the top-tune."""

    head_epochs: int = 60
    head_lr: float = 1e-3
    head_batch: int = 256
    head_l2: float = 1e-3  # L2 on the head's kernel (training/NOTES.md)
    # Train the backbone from this layer on with the head, on cached activations of the
    # layer below (top_tune.py); "" = off. Conv_1 is the last 1x1 convolution.
    top_tune_from: str = "Conv_1"
    top_tune_epochs: int = 5
    top_tune_lr: float = 3e-4
    label_smoothing: float = 0.1
    patience: int = 2
    seed: int = 1234


def compute_features(feat_model: Any, images: np.ndarray, *, batch: int = 64,
                     progress: Callable[[int], object] | None = None) -> np.ndarray:
    """Backbone features of ``images`` ((n, s, s, 3) or (n, k, s, s, 3) uint8) as float32."""
    lead = images.shape[:-3]
    flat = images.reshape((-1,) + images.shape[-3:])
    out = np.empty((flat.shape[0], feat_model.output_shape[-1]), dtype=np.float32)
    bar = progress(flat.shape[0]) if progress else None
    for s in range(0, flat.shape[0], batch):
        x = np.asarray(flat[s:s + batch], dtype=np.float32)
        out[s:s + batch] = feat_model(x, training=False).numpy()
        if bar is not None:
            bar.update(len(x))
    if bar is not None:
        bar.close()
    return out.reshape(lead + (out.shape[-1],))


def _one_hot(y: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[y]


def train_head(train_x: np.ndarray, train_y: np.ndarray, train_w: np.ndarray,
               val_x: np.ndarray, val_y: np.ndarray, *, num_classes: int, dropout: float,
               config: FitConfig, verbose: int = 0) -> tuple[list[np.ndarray], dict]:
    """Fit the softmax head on features; returns (head weights, history dict)."""
    import keras

    keras.utils.set_random_seed(config.seed)
    head = head_model(train_x.shape[-1], num_classes, dropout, l2=config.head_l2)
    head.compile(optimizer=keras.optimizers.Adam(config.head_lr),
                 loss=keras.losses.CategoricalCrossentropy(
                     label_smoothing=config.label_smoothing),
                 metrics=["accuracy"])
    callbacks = [keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=max(3, config.patience * 2), restore_best_weights=True)]
    hist = head.fit(train_x, _one_hot(train_y, num_classes), sample_weight=train_w,
                    validation_data=(val_x, _one_hot(val_y, num_classes)),
                    batch_size=config.head_batch, epochs=config.head_epochs, shuffle=True,
                    callbacks=callbacks, verbose=verbose)
    return head.get_layer(HEAD_LAYER).get_weights(), {k: [float(v) for v in vs]
                                                      for k, vs in hist.history.items()}
