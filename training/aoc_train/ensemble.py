"""Several top-tuned members on one frozen backbone, their probabilities averaged.

Which epoch of a top-tune generalises to a new source is close to a coin toss: held-out
accuracy swings by 5 to 20 points from epoch to epoch while the validation loss barely
moves (notes/default_model.md). Averaging the predictions of members tuned with different
seeds and view orders removes much of that variance. The members share everything below
``Conv_1`` (frozen during the top-tune), so each one adds only a copy of the last 1x1
convolution, its BatchNorm and the head: about 12 % more multiply-adds per member at
width 0.35, and nothing the Edge TPU lacks (CONV_2D, MEAN, FULLY_CONNECTED, SOFTMAX, ADD,
MUL).

* :func:`tune_member` -- the top-tune of member m (its seed and first view).
* :func:`build_ensemble` -- the exported graph: image -> backbone below ``Conv_1`` -> K tops.
* :func:`assemble` -- copies K trained single models (:func:`~aoc_train.model.build_model`
  layout) into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .errors import TrainError
from .model import BACKBONE_LAYER, HEAD_LAYER, ModelSpec, mobilenet_backbone, unit_range

TOP_LAYER = "Conv_1"  # the only top-tune start the ensemble supports
CUT_LAYER = "block_16_project_BN"  # MobileNetV2's output that feeds Conv_1
MEAN_LAYER = "members_mean"
_TOP_LAYERS = ("Conv_1", "Conv_1_bn")  # the trained (and frozen-BN) layers of each member

if TYPE_CHECKING:
    from .fit import FitConfig


def member_layer(name: str, m: int) -> str:
    """The ensemble's name of member ``m``'s copy of layer ``name``."""
    return f"{name}_m{m}"


def check_members(members: int, *, top_tune_from: str, taps: Sequence[str]) -> None:
    """Raise TrainError unless ``members`` top-tunes can share one backbone."""
    if members < 1:
        raise TrainError(f"--top-tune-members {members}: need at least 1")
    if members > 1 and top_tune_from != TOP_LAYER:
        raise TrainError(f"--top-tune-members {members} needs --top-tune-from {TOP_LAYER} "
                         f"(got {top_tune_from!r}): members share the backbone below it")
    if members > 1 and taps:
        raise TrainError("--top-tune-members cannot be combined with --taps")


def tune_member(model, m: int, train_acts: np.ndarray, y: np.ndarray, w: np.ndarray,
                val_acts: np.ndarray, val_y: np.ndarray, *, num_classes: int, dropout: float,
                config: FitConfig, verbose: int = 0) -> dict[str, list[float]]:
    """top_tune.tune_top for member ``m``: seed ``config.seed + m``, first view ``m``. The
    build and crossval both tune members through here, so they agree on what a member is."""
    from .top_tune import tune_top

    return tune_top(model, train_acts, y, w, val_acts, val_y, num_classes=num_classes,
                    dropout=dropout, config=replace(config, seed=config.seed + m),
                    first_view=m, verbose=verbose)


def build_ensemble(spec: ModelSpec, members: int):
    """A Keras model: uint8-range RGB in, the mean of ``members`` members' softmax out.

    Layer ``backbone`` is MobileNetV2 up to ``block_16_project_BN``; member ``m`` has
    ``Conv_1_m{m}``, ``Conv_1_bn_m{m}`` and ``head_m{m}``. Weights come from ``spec`` (for
    the shared part) until :func:`assemble` or ``load_weights`` replaces them.
    """
    import keras

    check_members(members, top_tune_from=TOP_LAYER, taps=spec.taps)
    full = mobilenet_backbone(spec)
    conv, bn = full.get_layer("Conv_1"), full.get_layer("Conv_1_bn")
    lower = keras.Model(full.input, full.get_layer(CUT_LAYER).output, name=BACKBONE_LAYER)
    inputs = keras.Input((spec.side, spec.side, 3), name="image")
    shared = lower(unit_range(inputs))
    probs = []
    for m in range(members):
        x = keras.layers.Conv2D(conv.filters, 1, use_bias=False,
                                name=member_layer("Conv_1", m))(shared)
        x = keras.layers.BatchNormalization(epsilon=bn.epsilon, momentum=bn.momentum,
                                            name=member_layer("Conv_1_bn", m))(x)
        x = keras.layers.ReLU(6.0, name=member_layer("out_relu", m))(x)
        x = keras.layers.GlobalAveragePooling2D(name=member_layer("features", m))(x)
        probs.append(keras.layers.Dense(spec.num_classes, activation="softmax",
                                        name=member_layer(HEAD_LAYER, m))(x))
    out = probs[0] if members == 1 else keras.layers.Average(name=MEAN_LAYER)(probs)
    return keras.Model(inputs, out, name="aoc_mobilenet_v2_ensemble")


def assemble(ensemble, tuned: Sequence) -> None:
    """Copy ``tuned`` single models (same backbone below ``Conv_1``) into ``ensemble``."""
    lower = ensemble.get_layer(BACKBONE_LAYER)
    if len(tuned) != sum(1 for la in ensemble.layers if la.name.startswith(HEAD_LAYER + "_m")):
        raise TrainError(f"{len(tuned)} tuned models for an ensemble of another size")
    first = tuned[0].get_layer(BACKBONE_LAYER)
    for layer in lower.layers:
        if layer.weights:
            layer.set_weights(first.get_layer(layer.name).get_weights())
    for m, model in enumerate(tuned):
        backbone = model.get_layer(BACKBONE_LAYER)
        for name in _TOP_LAYERS:
            ensemble.get_layer(member_layer(name, m)).set_weights(
                backbone.get_layer(name).get_weights())
        ensemble.get_layer(member_layer(HEAD_LAYER, m)).set_weights(
            model.get_layer(HEAD_LAYER).get_weights())
