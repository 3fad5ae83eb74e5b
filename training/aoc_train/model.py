"""The classifier network: MobileNetV2 backbone, [-1, 1] rescaling inside, softmax head.

The model takes raw RGB pixels 0..255 (float) so that the exported int8 model's uint8 input
has scale ~1 and zero point 0 and the device feeds camera pixels unchanged. TensorFlow is
imported inside the functions only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import TrainError

log = logging.getLogger(__name__)

BACKBONE_LAYER = "backbone"
RESCALING_LAYER = "to_unit_range"
HEAD_LAYER = "head"
FEATURES_LAYER = "features"


@dataclass(frozen=True)
class ModelSpec:
    """Architecture choices that decide the weights' shapes."""

    side: int = 224
    alpha: float = 0.35
    num_classes: int = 3
    dropout: float = 0.2
    weights: str | None = None  # path to a no-top .weights.h5, "imagenet", or None (random)


def set_seeds(seed: int) -> None:
    """Fix Python, numpy and TensorFlow seeds (and deterministic ops where cheap)."""
    import keras

    keras.utils.set_random_seed(seed)


def distribution_strategy() -> Any:
    """MirroredStrategy over all GPUs when there are several, else the default strategy."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        log.info("training on %d GPUs with MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    if gpus:
        log.info("training on one GPU")
    return tf.distribute.get_strategy()


def unit_range(inputs: Any) -> Any:
    """Pixels 0..255 to MobileNet's [-1, 1], as the model's first layer (``to_unit_range``)."""
    import keras

    return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name=RESCALING_LAYER)(inputs)


def mobilenet_backbone(spec: ModelSpec) -> Any:
    """The no-top Keras MobileNetV2 of ``spec``, with its weights loaded (or random)."""
    import keras

    weights = spec.weights
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise TrainError(f"backbone weights file {weights} not found; pass --weights with the "
                         "no-top MobileNetV2 .weights.h5, or --weights imagenet when online")
    backbone = keras.applications.MobileNetV2(
        input_shape=(spec.side, spec.side, 3), alpha=spec.alpha, include_top=False,
        weights="imagenet" if weights == "imagenet" else None)
    if weights not in (None, "imagenet"):
        try:
            backbone.load_weights(weights)
        except ValueError as exc:
            raise TrainError(f"weights {weights} do not fit MobileNetV2 alpha={spec.alpha}: "
                             f"{exc}; pass the matching width with --alpha") from exc
    return backbone


def build_model(spec: ModelSpec) -> Any:
    """A Keras model: uint8-range RGB in, class probabilities out.

    Layers named ``backbone`` (the MobileNetV2 functional model), ``features`` (global
    average pool) and ``head`` (the softmax Dense) are used by feature caching and the
    top-tune.
    """
    import keras

    backbone = mobilenet_backbone(spec)
    backbone.name = BACKBONE_LAYER
    inputs = keras.Input((spec.side, spec.side, 3), name="image")
    # The model scales pixels itself: MobileNet expects [-1, 1].
    x = backbone(unit_range(inputs))
    x = keras.layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(spec.dropout, name="dropout")(x)
    outputs = keras.layers.Dense(spec.num_classes, activation="softmax", name=HEAD_LAYER)(x)
    return keras.Model(inputs, outputs, name="aoc_mobilenet_v2")


def feature_model(model: Any) -> Any:
    """The part of ``model`` up to the pooled features (shares its layers)."""
    import keras

    return keras.Model(model.input, model.get_layer(FEATURES_LAYER).output)


def head_model(num_features: int, num_classes: int, dropout: float,
               l2: float = 1e-4) -> Any:
    """A stand-alone head for training on cached features; weights copy into ``head``."""
    import keras

    inputs = keras.Input((num_features,))
    x = keras.layers.Dropout(dropout)(inputs)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=HEAD_LAYER,
                                 kernel_regularizer=keras.regularizers.l2(l2))(x)
    return keras.Model(inputs, outputs)
