"""Fine-tuning only the top of the backbone, on cached activations of the layer below it.

The recipe retrains the final 1x1 convolution (``Conv_1``) with the head (why: see
training/NOTES.md). Everything below the first tuned layer stays frozen (BatchNorm in
inference mode), so its output is cached once per augmented view and each epoch costs only
the top layers.

* :func:`split_backbone` -- the frozen ``lower`` part and the shared ``upper`` part.
* :func:`activations` -- ``lower`` outputs of uint8 images, float16.
* :func:`tune_top` -- trains ``upper`` from the named layer on, plus the head, in place.
* :func:`top_probs` -- class probabilities of cached activations through the tuned top.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import TrainError
from .model import BACKBONE_LAYER, HEAD_LAYER, RESCALING_LAYER

if TYPE_CHECKING:
    from .fit import FitConfig

log = logging.getLogger(__name__)


def split_backbone(model: Any, first: str) -> tuple[Any, Any]:
    """``(lower, upper)`` Keras models around backbone layer ``first``: ``lower`` maps
    [-1, 1] images to that layer's input, ``upper`` maps it to the backbone's output and
    shares its layers (and weights) with ``model``."""
    import keras

    backbone = model.get_layer(BACKBONE_LAYER)
    names = [layer.name for layer in backbone.layers]
    if first not in names:
        raise TrainError(f"--top-tune-from {first!r} is not a layer of the backbone; use "
                         "Conv_1 (the final 1x1 convolution) or a block's first layer such "
                         "as block_16_expand")
    cut = backbone.get_layer(first).input
    if isinstance(cut, list | tuple):
        raise TrainError(f"--top-tune-from {first!r} has several inputs; start at a "
                         "layer with one, such as Conv_1 or block_16_expand")
    return keras.Model(backbone.input, cut), keras.Model(cut, backbone.output)


def activations(model: Any, lower: Any, images: np.ndarray, *, batch: int = 128,
                progress: Callable[[int], object] | None = None,
                dtype: type = np.float16) -> np.ndarray:
    """``lower``'s output for uint8 ``images`` ((n, s, s, 3) or (n, k, s, s, 3)). float16
    by default: with ImageNet weights the values are O(1) and the cache is half the size
    (an untrained network's activations can underflow it: use float32 there)."""
    rescale = model.get_layer(RESCALING_LAYER)
    lead = images.shape[:-3]
    flat = images.reshape((-1,) + images.shape[-3:])
    out = np.empty((len(flat),) + tuple(lower.output.shape[1:]), dtype)
    bar = progress(len(flat)) if progress else None
    for s in range(0, len(flat), batch):
        x = rescale(np.asarray(flat[s:s + batch], np.float32))
        out[s:s + batch] = lower(x, training=False).numpy()
        if bar is not None:
            bar.update(min(batch, len(flat) - s))
    if bar is not None:
        bar.close()
    return out.reshape(lead + out.shape[1:])


def _top_model(upper, num_classes: int, dropout: float, l2: float):
    """Activations -> upper -> pool -> dropout -> a fresh L2-regularised head."""
    import keras

    inputs = keras.Input(tuple(upper.input.shape[1:]))
    x = keras.layers.GlobalAveragePooling2D()(upper(inputs, training=False))
    x = keras.layers.Dropout(dropout)(x)
    head = keras.layers.Dense(num_classes, activation="softmax",
                              kernel_regularizer=keras.regularizers.l2(l2))
    return keras.Model(inputs, head(x)), head


def tune_top(model: Any, train_acts: np.ndarray, y: np.ndarray, w: np.ndarray,
             val_acts: np.ndarray, val_y: np.ndarray, *, num_classes: int, dropout: float,
             config: FitConfig, batch: int = 64, verbose: int = 0) -> dict[str, list[float]]:
    """Train ``model``'s backbone from layer ``config.top_tune_from`` on, and its head, in
    place (``top_tune_epochs``, ``top_tune_lr``, the head's L2 and label smoothing, ``seed``).

    ``train_acts`` are (n, k, ...) activations of k augmented views: epoch e shows view
    (e + i) mod k of image i. Keeps the epoch with the lowest validation loss. Returns the
    per-epoch history.
    """
    import keras

    first = config.top_tune_from
    if not first:
        raise TrainError("tune_top needs config.top_tune_from, e.g. Conv_1")
    keras.utils.set_random_seed(config.seed)
    _, upper = split_backbone(model, first)
    on = False
    for layer in upper.layers:
        on = on or layer.name == first
        # BatchNorm stays frozen: its statistics come from ImageNet's large batches
        layer.trainable = on and layer.__class__.__name__ != "BatchNormalization"
    top, head = _top_model(upper, num_classes, dropout, config.head_l2)
    head.set_weights(model.get_layer(HEAD_LAYER).get_weights())
    top.compile(optimizer=keras.optimizers.Adam(config.top_tune_lr),
                loss=keras.losses.CategoricalCrossentropy(
                    label_smoothing=config.label_smoothing),
                metrics=["accuracy"])
    eye = np.eye(num_classes, dtype=np.float32)
    val = (np.asarray(val_acts, np.float32), eye[val_y])
    k = train_acts.shape[1]
    history: dict[str, list[float]] = {}
    best, best_weights = None, None
    for epoch in range(config.top_tune_epochs):
        view = (epoch + np.arange(len(y))) % k
        hist = top.fit(np.asarray(train_acts[np.arange(len(y)), view], np.float32), eye[y],
                       sample_weight=w, batch_size=batch, epochs=1, shuffle=True,
                       validation_data=val, verbose=verbose)
        for key, values in hist.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        vloss = float(hist.history["val_loss"][-1])
        log.info("top-tune epoch %d: val_loss %.4f val_acc %.4f", epoch + 1, vloss,
                 hist.history["val_accuracy"][-1])
        if best is None or vloss < best:
            best, best_weights = vloss, [v.copy() for v in top.get_weights()]
    if best_weights is not None:
        top.set_weights(best_weights)  # upper shares model's layers: restored there too
    model.get_layer(HEAD_LAYER).set_weights(head.get_weights())
    return history


def top_probs(model: Any, first: str, acts: np.ndarray, *, batch: int = 256) -> np.ndarray:
    """Class probabilities of (n, ...) activations through ``model``'s top and head
    (inference: no dropout)."""
    _, upper = split_backbone(model, first)
    head = model.get_layer(HEAD_LAYER)
    out = []
    for s in range(0, len(acts), batch):
        pooled = upper(np.asarray(acts[s:s + batch], np.float32), training=False)
        out.append(np.asarray(head(pooled.numpy().mean(axis=(1, 2)))))
    return np.concatenate(out) if out else np.zeros((0, head.units), np.float32)
