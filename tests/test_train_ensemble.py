"""aoc_train.ensemble: top-tuned members on one shared backbone, probabilities averaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aoc_train.errors import TrainError

# save_weights (and export) trip TensorFlow's numpy-2 __array__ warning once per variable;
# see test_train_e2e.py. Only that message, from only that Keras module, is hidden.
pytestmark = [pytest.mark.training, pytest.mark.filterwarnings(
    r"ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning:"
    r"keras\.src\.backend\.tensorflow\.core")]

SIDE = 96


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _spec():
    from aoc_train.model import ModelSpec

    return ModelSpec(side=SIDE, alpha=0.35, num_classes=3, weights=None)


def _member(keras, base, seed: int):
    """A single model with ``base``'s weights below Conv_1 and its own random top and head,
    as a top-tune from the same start would leave it."""
    from aoc_train.model import BACKBONE_LAYER, HEAD_LAYER, build_model

    model = build_model(_spec())
    model.set_weights(base.get_weights())
    rng = np.random.default_rng(seed)
    backbone = model.get_layer(BACKBONE_LAYER)
    for layer in (backbone.get_layer("Conv_1"), backbone.get_layer("Conv_1_bn"),
                  model.get_layer(HEAD_LAYER)):
        layer.set_weights([w + rng.normal(0, 0.2, w.shape).astype(w.dtype)
                           if w.ndim > 1 or layer.name != "Conv_1_bn" else w
                           for w in layer.get_weights()])
    return model


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIDE, SIDE, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def members(keras):
    from aoc_train.model import build_model

    keras.utils.set_random_seed(5)
    base = build_model(_spec())
    return [_member(keras, base, s) for s in (1, 2, 3)]


def test_check_members_names_the_flag_to_change() -> None:
    from aoc_train.ensemble import check_members

    check_members(1, top_tune_from="", taps=())
    check_members(3, top_tune_from="Conv_1", taps=())
    with pytest.raises(TrainError, match="at least 1"):
        check_members(0, top_tune_from="Conv_1", taps=())
    with pytest.raises(TrainError, match="--top-tune-from Conv_1"):
        check_members(2, top_tune_from="block_16_expand", taps=())
    with pytest.raises(TrainError, match="--taps"):
        check_members(2, top_tune_from="Conv_1", taps=("block_13_expand_relu",))
    assert issubclass(TrainError, Exception)


def test_ensemble_outputs_the_mean_of_its_members(keras, members) -> None:
    from aoc_train.ensemble import assemble, build_ensemble

    ensemble = build_ensemble(_spec(), len(members))
    assemble(ensemble, members)
    x = _images(4).astype(np.float32)
    singles = np.stack([m.predict(x, verbose=0) for m in members])
    # the members really differ, so a mean that ignored some of them would show
    assert np.abs(singles[0] - singles[1]).max() > 1e-3
    got = ensemble.predict(x, verbose=0)
    np.testing.assert_allclose(got, singles.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_assemble_refuses_the_wrong_number_of_members(keras, members) -> None:
    from aoc_train.ensemble import assemble, build_ensemble

    with pytest.raises(TrainError, match="2 tuned models for an ensemble of another size"):
        assemble(build_ensemble(_spec(), 3), members[:2])


def test_saved_weights_load_into_a_fresh_ensemble(keras, members, tmp_path: Path) -> None:
    """The fit stage saves the ensemble's weights; export and evaluate rebuild and load it."""
    from aoc_train.ensemble import assemble, build_ensemble

    ensemble = build_ensemble(_spec(), len(members))
    assemble(ensemble, members)
    ensemble.save_weights(tmp_path / "m.weights.h5")
    again = build_ensemble(_spec(), len(members))
    again.load_weights(tmp_path / "m.weights.h5")
    x = _images(2, seed=9).astype(np.float32)
    np.testing.assert_allclose(again.predict(x, verbose=0), ensemble.predict(x, verbose=0),
                               atol=1e-6)


@pytest.mark.slow
def test_int8_ensemble_passes_the_edgetpu_check_and_tracks_float(keras, members,
                                                                 tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from aoc_train.edgetpu_check import check_model
    from aoc_train.ensemble import assemble, build_ensemble
    from aoc_train.export import export_tflite, make_interpreter

    ensemble = build_ensemble(_spec(), len(members))
    assemble(ensemble, members)
    result = export_tflite(ensemble, tmp_path, _images(24, seed=4))
    check = check_model(result.int8_model)
    assert check.ok, check.table()
    ops = {r.op for r in check.rows}
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= ops
    interp = make_interpreter(result.int8_model)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    x = _images(6, seed=11)
    want = ensemble.predict(x.astype(np.float32), verbose=0)
    for img, w in zip(x, want, strict=True):
        interp.set_tensor(inp["index"], img[None])
        interp.invoke()
        scale, zp = out["quantization"]
        got = (interp.get_tensor(out["index"])[0].astype(np.float32) - zp) * scale
        assert np.abs(got - w).max() < 0.08
