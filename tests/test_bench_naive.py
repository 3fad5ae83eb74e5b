"""Tests for aoc.bench.naive: the naive loops on the tiny models, like for like with ours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes.head_bundles import standin_bundle

from aoc.bench.loops import camera_frames, rgb_to_yuv420
from aoc.bench.naive import DECODE_STAGES, NAIVE_STAGES, NaiveModel, decode_loop, naive_loop
from aoc.inference.bundle import load_bundle
from aoc.inference.classifier import open_classifier
from aoc.sources import list_images
from aoc.sources.demo_source import DEMO_DIR

MODELS = Path(__file__).parent / "data" / "models"


def test_naive_loop_stages_and_yuv_conversion():
    frames = camera_frames(list_images(DEMO_DIR)[:2], (64, 48))
    times = naive_loop(MODELS / "uint8" / "model.tflite", frames, 3)
    assert times.stages.shape == (3, len(NAIVE_STAGES)) and (times.stages[:, 0] > 0).all()
    # each frame's period covers its stages; the last one's is unknown
    assert (times.periods[:2] >= times.stages[:2].sum(axis=1)).all()
    assert np.isnan(times.periods[2])
    yuv = [rgb_to_yuv420(f) for f in frames]
    assert yuv[0].shape == (72, 64)
    times = naive_loop(MODELS / "uint8" / "model.tflite", yuv, 2, yuv=(64, 48))
    assert times.stages.shape == (2, 4) and (times.stages > 0).all()


@pytest.mark.parametrize("name", ["uint8", "int8", "float_logits"])
def test_the_naive_model_scores_a_model_size_frame_as_our_classifier(name):
    """Like for like: on a frame already at the model's size neither loop resizes, so the
    naive loop's pycoral-style set_input / get_classes must rank as our classifier does."""
    bundle = load_bundle(MODELS / name)
    with open_classifier(bundle, prefer="cpu") as clf:
        frame = camera_frames(list_images(DEMO_DIR)[:1], tuple(clf.input_size))[0]
        ours = clf.classify(frame)
    naive = NaiveModel(bundle.cpu_model)
    assert naive.size == tuple(clf.input_size)
    naive.set_input(frame)
    naive.interpreter.invoke()
    top = naive.get_classes(top_k=3)
    assert [c for c, _ in top] == list(np.argsort(-ours, kind="stable")[:3])


def test_decode_loop_applies_the_head(tmp_path):
    bundle = standin_bundle(tmp_path)
    calls = []

    def head(embedding):
        calls.append(embedding.shape)
        return bundle.head(embedding)

    rows = decode_loop(bundle.cpu_model, list_images(DEMO_DIR), 3, head=head)
    assert calls == [(8,)] * 3
    assert rows.shape == (3, len(DECODE_STAGES)) and (rows[:, 0] > 0).all()
