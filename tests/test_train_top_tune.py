"""aoc_train.top_tune: training the backbone's top on cached activations of the layers below."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from aoc_train.errors import TrainError

pytestmark = pytest.mark.training

SIDE = 96


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _model(keras, **kw):
    from aoc_train.model import ModelSpec, build_model

    keras.utils.set_random_seed(3)
    return build_model(ModelSpec(side=SIDE, alpha=0.35, num_classes=3, weights=None, **kw))


def _fit(**kw):
    """The settings every tune_top test used: Conv_1, 3 epochs, a fast rate."""
    from aoc_train.fit import FitConfig

    return replace(FitConfig(), top_tune_from="Conv_1", top_tune_epochs=3, top_tune_lr=1e-2,
                   head_l2=1e-3, label_smoothing=0.0, **kw)


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIDE, SIDE, 3), dtype=np.uint8)


def test_split_backbone_refuses_unknown_layers(keras) -> None:
    from aoc_train.top_tune import split_backbone

    with pytest.raises(TrainError, match="'Conv_9' is not a layer of the backbone"):
        split_backbone(_model(keras), "Conv_9")
    with pytest.raises(TrainError, match="several inputs"):
        split_backbone(_model(keras), "block_15_add")


def test_cached_top_path_equals_the_whole_model(keras) -> None:
    """activations -> top_probs must give what the exported model computes from pixels."""
    from aoc_train.top_tune import activations, split_backbone, top_probs

    model = _model(keras)
    images = _images(5)
    lower, _ = split_backbone(model, "Conv_1")
    cached = activations(model, lower, images[None].repeat(2, axis=0), batch=3)
    assert cached.shape == (2, 5, 3, 3, 112) and cached.dtype == np.float16
    # an untrained network's activations are tiny: float32 keeps them for exact checks
    acts = activations(model, lower, images[None].repeat(2, axis=0), batch=3,
                       dtype=np.float32)
    assert np.abs(acts).max() > 0
    np.testing.assert_array_equal(acts[0], acts[1])
    whole = model.predict(images.astype(np.float32), verbose=0)
    np.testing.assert_allclose(top_probs(model, "Conv_1", acts[0], batch=2), whole, atol=2e-3)


def test_tune_top_trains_only_the_top_and_keeps_batchnorm(keras) -> None:
    from aoc_train.model import BACKBONE_LAYER, HEAD_LAYER
    from aoc_train.top_tune import activations, split_backbone, top_probs, tune_top

    model = _model(keras)
    backbone = model.get_layer(BACKBONE_LAYER)
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in backbone.layers}
    head_before = [w.copy() for w in model.get_layer(HEAD_LAYER).get_weights()]
    images = _images(24, seed=1)
    # a learnable task: class = brightness band
    y = np.clip(images.mean(axis=(1, 2, 3)) // 86, 0, 2).astype(int)
    lower, _ = split_backbone(model, "Conv_1")
    raw = activations(model, lower, images[:, None], dtype=np.float32)
    acts = raw / np.abs(raw).max()  # O(1) inputs for the top, as with ImageNet weights
    hist = tune_top(model, acts, y, np.ones(len(y), np.float32), acts[:, 0], y,
                    num_classes=3, dropout=0.0, config=_fit(seed=1))
    assert len(hist["loss"]) == 3 and len(hist["val_loss"]) == 3
    changed = {layer.name for layer in backbone.layers
               if any(not np.array_equal(a, b)
                      for a, b in zip(before[layer.name], layer.get_weights(), strict=True))}
    assert changed == {"Conv_1"}  # not Conv_1_bn, not anything below
    head_after = model.get_layer(HEAD_LAYER).get_weights()
    assert not np.array_equal(head_before[0], head_after[0])
    # the tuned weights live in the model itself: its own forward pass agrees
    whole = model.predict(images.astype(np.float32), verbose=0)
    np.testing.assert_allclose(top_probs(model, "Conv_1", raw[:, 0]), whole, atol=2e-3)


def test_tune_top_trains_conv_1_and_is_repeatable(keras) -> None:
    from aoc_train.model import BACKBONE_LAYER
    from aoc_train.top_tune import activations, split_backbone, tune_top

    images = _images(16, seed=2)
    y = np.arange(16) % 3
    kernels = []
    for _ in range(2):
        model = _model(keras)
        lower, _ = split_backbone(model, "Conv_1")
        raw = activations(model, lower, images[:, None], dtype=np.float32)
        acts = raw / np.abs(raw).max()
        start = model.get_layer(BACKBONE_LAYER).get_layer("Conv_1").get_weights()[0].copy()
        hist = tune_top(model, acts, y, np.ones(16, np.float32), acts[:, 0], y,
                        num_classes=3, dropout=0.0, config=_fit(seed=4))
        assert len(hist["val_loss"]) == 3
        kernels.append(model.get_layer(BACKBONE_LAYER).get_layer("Conv_1").get_weights()[0])
        assert not np.array_equal(kernels[-1], start)
    # same seed, same data: the same tuned weights
    np.testing.assert_allclose(kernels[0], kernels[1], atol=1e-6)
