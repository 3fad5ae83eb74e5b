"""The classifier network: final-only and multi-scale (``taps``) feature layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aoc_train.errors import TrainError

pytestmark = pytest.mark.training

TAPS = ("block_6_expand_relu", "block_13_expand_relu")


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _spec(**kw):
    from aoc_train.model import ModelSpec

    return ModelSpec(side=96, alpha=0.35, num_classes=3, weights=None, **kw)


def test_default_features_are_the_final_pool(keras) -> None:
    from aoc_train.model import FEATURES_LAYER, build_model

    model = build_model(_spec())
    layer = model.get_layer(FEATURES_LAYER)
    assert type(layer).__name__ == "GlobalAveragePooling2D"
    assert layer.output.shape[-1] == 1280


def test_taps_concatenate_pooled_mid_level_features(keras) -> None:
    from aoc_train.model import FEATURES_LAYER, build_model, feature_model, set_trainable_top

    model = build_model(_spec(taps=TAPS))
    # 96 + 192 channels of the two expand layers at width 0.35, then the 1280 final ones
    assert model.get_layer(FEATURES_LAYER).output.shape[-1] == 96 + 192 + 1280
    x = np.random.default_rng(0).integers(0, 256, (2, 96, 96, 3)).astype(np.float32)
    probs = model(x, training=False).numpy()
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert feature_model(model)(x).shape == (2, 96 + 192 + 1280)
    assert set_trainable_top(model, 10) > 0  # fine-tuning still finds the backbone


def test_unknown_tap_is_a_clean_error(keras) -> None:
    from aoc_train.model import build_model

    with pytest.raises(TrainError, match="--taps"):
        build_model(_spec(taps=("block_99_expand_relu",)))


@pytest.mark.slow
def test_multi_scale_int8_model_maps_onto_the_edge_tpu(keras, tmp_path: Path) -> None:
    from aoc_train.edgetpu_check import check_model
    from aoc_train.export import export_tflite
    from aoc_train.model import build_model

    model = build_model(_spec(taps=TAPS))
    calibration = np.random.default_rng(1).integers(0, 256, (8, 96, 96, 3), dtype=np.uint8)
    export_tflite(model, tmp_path, calibration)
    check = check_model(tmp_path / "model.tflite")
    ops = {row.op for row in check.rows}
    assert {"CONCATENATION", "MEAN"} <= ops
    assert check.ok
