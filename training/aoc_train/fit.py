"""Training: a softmax head on cached backbone features, then fine-tuning the backbone's top.

Head training runs over the pooled features of ``k`` fixed augmented views per image (the
backbone is frozen, so caching its output is exact). Fine-tuning then unfreezes the last
layers (BatchNorm stays frozen) and trains end to end, cycling through the same views.
Both use per-sample weights (class and source balancing), label smoothing and early
stopping on the validation split; checkpoints make an interrupted fine-tune resumable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import HEAD_LAYER, head_model, set_trainable_top

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    """Hyper-parameters of both phases."""

    head_epochs: int = 60
    head_lr: float = 1e-3
    head_batch: int = 256
    # L2 on the head's kernel: 1e-3 (with dropout 0.5) beat 1e-4 / 0.2 on every
    # leave-one-style-out run (notes/default_model.md)
    head_l2: float = 1e-3
    # full fine-tuning of the last finetune_layers made unseen styles worse (notes): off
    finetune_epochs: int = 0
    finetune_layers: int = 56
    finetune_lr: float = 2e-4
    # Fine-tune only the backbone from this layer on, on cached activations of the layer
    # below (top_tune.py); "" = off. Independent of finetune_epochs. Conv_1 (the last 1x1
    # convolution) raised the leave-one-source-out mean from 80.3 to 82.9 % (notes).
    top_tune_from: str = "Conv_1"
    top_tune_epochs: int = 5
    top_tune_lr: float = 3e-4
    top_tune_average: bool = False  # mean of the epochs' weights instead of the best epoch
    # Top-tunes trained with seeds seed, seed + 1, ... on their own view order; the model
    # averages their probabilities (one shared frozen backbone, one Conv_1 copy each).
    top_tune_members: int = 1
    batch: int = 32
    label_smoothing: float = 0.1
    patience: int = 2
    seed: int = 1234


def compute_features(feat_model, images: np.ndarray, *, batch: int = 64,
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


def _view_batches(views: np.ndarray, y: np.ndarray, w: np.ndarray, num_classes: int,
                  batch: int, seed: int):
    """A keras PyDataset over (n, k, s, s, 3) views: epoch e shows view (e + i) mod k."""
    import keras

    class ViewBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self._order()

        def _order(self) -> None:
            rng = np.random.default_rng([seed, self.epoch])
            self.perm = rng.permutation(len(y))

        def __len__(self) -> int:
            return (len(y) + batch - 1) // batch

        def __getitem__(self, i: int):
            idx = np.sort(self.perm[i * batch:(i + 1) * batch])
            k = views.shape[1]
            view = (self.epoch + idx) % k
            x = np.stack([views[j, v] for j, v in zip(idx, view, strict=True)]).astype(np.float32)
            return x, _one_hot(y[idx], num_classes), w[idx]

        def set_epoch(self, epoch: int) -> None:
            # set explicitly by fine_tune (one fit() call per epoch, resumable)
            self.epoch = epoch
            self._order()

    return ViewBatches()


def fine_tune(model, views: np.ndarray, y: np.ndarray, w: np.ndarray, val_images: np.ndarray,
              val_y: np.ndarray, *, num_classes: int, config: FitConfig, checkpoint_dir: Path,
              verbose: int = 1) -> dict:
    """Fine-tune the top of ``model`` in place; resumes from ``checkpoint_dir`` if present.

    Keeps the weights of the epoch with the best validation loss. Returns the history.
    """
    import keras

    keras.utils.set_random_seed(config.seed)
    trainable = set_trainable_top(model, config.finetune_layers)
    log.info("fine-tuning %d backbone layers", trainable)
    model.compile(optimizer=keras.optimizers.Adam(config.finetune_lr),
                  loss=keras.losses.CategoricalCrossentropy(
                      label_smoothing=config.label_smoothing),
                  metrics=["accuracy"])
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    state_file = checkpoint_dir / "state.json"
    last = checkpoint_dir / "last.weights.h5"
    best = checkpoint_dir / "best.weights.h5"
    state = {"epoch": 0, "best_val_loss": None, "history": {}, "stale": 0}
    if state_file.is_file() and last.is_file():
        state = json.loads(state_file.read_text())
        model.load_weights(last)
        log.info("resuming fine-tuning after epoch %d", state["epoch"])
    data = _view_batches(views, y, w, num_classes, config.batch, config.seed)
    val = (np.asarray(val_images, dtype=np.float32), _one_hot(val_y, num_classes))
    while state["epoch"] < config.finetune_epochs and state["stale"] < config.patience:
        data.set_epoch(state["epoch"])
        hist = model.fit(data, validation_data=val, epochs=1, verbose=verbose,
                         batch_size=config.batch)
        for k, vs in hist.history.items():
            state["history"].setdefault(k, []).extend(float(v) for v in vs)
        vloss = float(hist.history["val_loss"][-1])
        if state["best_val_loss"] is None or vloss < state["best_val_loss"]:
            state["best_val_loss"], state["stale"] = vloss, 0
            model.save_weights(best)
        else:
            state["stale"] += 1
        state["epoch"] += 1
        model.save_weights(last)
        state_file.write_text(json.dumps(state))
        log.info("fine-tune epoch %d: val_loss %.4f val_acc %.4f", state["epoch"], vloss,
                 hist.history["val_accuracy"][-1])
    if best.is_file():
        model.load_weights(best)
    return state["history"]
