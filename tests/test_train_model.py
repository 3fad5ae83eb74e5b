"""The classifier network: MobileNetV2, pooled final features, softmax head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aoc_train.errors import TrainError

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _spec(**kw):
    from aoc_train.model import ModelSpec

    return ModelSpec(**{"side": 96, "alpha": 0.35, "num_classes": 3, "weights": None, **kw})


def test_default_features_are_the_final_pool(keras) -> None:
    from aoc_train.model import FEATURES_LAYER, build_model, feature_model

    model = build_model(_spec())
    layer = model.get_layer(FEATURES_LAYER)
    assert type(layer).__name__ == "GlobalAveragePooling2D"
    assert layer.output.shape[-1] == 1280
    x = np.random.default_rng(0).integers(0, 256, (2, 96, 96, 3)).astype(np.float32)
    probs = model(x, training=False).numpy()
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert feature_model(model)(x).shape == (2, 1280)


def test_missing_weights_file_is_a_clean_error(keras, tmp_path: Path) -> None:
    from aoc_train.model import build_model

    with pytest.raises(TrainError, match="not found"):
        build_model(_spec(weights=str(tmp_path / "none.weights.h5")))
