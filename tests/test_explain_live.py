"""aoc.explain.live: the frozen frame's map, alone and inside the real loop."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from fakes.explain_models import FakeClassifier, top_left_brightness

from aoc.app.loop import run_loop
from aoc.app.loop_options import LoopControls
from aoc.app.screen import frozen_map
from aoc.app.smoothing import Smoother
from aoc.config import load_config
from aoc.config_sections import Config
from aoc.display.state import DisplayState
from aoc.errors import InferenceError
from aoc.explain.live import FrozenMap
from aoc.inference.bundle import load_bundle
from aoc.inference.classifier import open_classifier
from aoc.testing.soak_doubles import RecordingDisplay

MODELS = Path(__file__).parent / "data" / "models"
STATE = DisplayState(anime=0.9, cartoon=0.1, verdict="anime", frozen=True)


def bright_top_left() -> np.ndarray:
    img = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    img[:32, :32] = 255
    return img


def test_the_map_is_built_a_few_invocations_per_tick():
    clf = FakeClassifier(top_left_brightness)
    live = FrozenMap(budget=32, per_tick=4)
    frame = bright_top_left()
    live.on_frame(frame)
    frame[:] = 0  # the camera reusing its buffer does not change the kept frame
    ticks = 0
    state = STATE
    while state.map_cells is None:
        state = live.on_frozen(state, clf)
        ticks += 1
        assert clf.calls <= 1 + 4 * ticks  # never more than per_tick (+ the unmasked one)
    assert ticks == 8 and clf.calls == 33
    cells = np.array(state.map_cells)
    assert cells.shape == (8, 8) and state.map_label == "red"
    assert cells[:4, :4].mean() > 5 * np.abs(cells[4:, 4:]).mean()
    assert live.on_frozen(state, clf) is state and clf.calls == 33  # done: no more work
    live.on_frame(frame)  # live again: the old map is forgotten
    assert live.on_frozen(STATE, clf).map_cells is None


def test_no_frame_yet_or_a_failing_model_leaves_the_state_alone(caplog):
    class Broken(FakeClassifier):
        def classify(self, frame):
            raise InferenceError("tpu gone")

    live = FrozenMap(budget=8)
    assert live.on_frozen(STATE, Broken(top_left_brightness)) is STATE
    live.on_frame(bright_top_left())
    assert live.on_frozen(STATE, Broken(top_left_brightness)) is STATE
    assert "tpu gone" in caplog.text
    assert live.on_frozen(STATE, Broken(top_left_brightness)) is STATE  # tried once only


def test_the_option_is_off_by_default(tmp_path):
    assert frozen_map(Config()) is None
    config = tmp_path / "config.toml"
    config.write_text("[display]\nfreeze_map = true\nfreeze_map_budget = 64\n")
    live = frozen_map(load_config(config))
    assert isinstance(live, FrozenMap) and live.budget == 64


@pytest.fixture(scope="module")
def classifier():
    with open_classifier(load_bundle(MODELS / "uint8"), prefer="cpu") as c:
        yield c


class FreezeAfterFirst:
    def __init__(self, controls, stop, ticks):
        self.controls, self.stop, self.left = controls, stop, ticks

    def on_start(self, info):
        pass

    def on_result(self, stats, first):
        self.controls.toggle_freeze()

    def on_tick(self, stats):
        self.left -= 1
        if self.left <= 0:
            self.stop.set()

    def on_stop(self, stats):
        pass


@pytest.mark.parametrize("with_map", [True, False])
def test_in_the_loop_a_frozen_reading_gets_its_map(classifier, with_map):
    frame = np.full((48, 64, 3), 128, np.uint8)
    frame[:, :32] = (255, 0, 0)  # the tiny model calls red "anime"

    class Source:
        name = "one"

        def read(self):
            return frame

    stop, controls, display = threading.Event(), LoopControls(views=3), RecordingDisplay()
    live = FrozenMap(budget=96, per_tick=16) if with_map else None
    stats = run_loop(Source(), classifier, Smoother(classifier.labels, tau_s=0.0), display,
                     stop=stop, hooks=[FreezeAfterFirst(controls, stop, 8)],
                     controls=controls, idle_wait_s=0.0, frozen_view=live)
    assert stats.frames == 1
    last = display.states[-1]
    assert last.frozen
    if not with_map:
        assert last.map_cells is None
        return
    cells = np.array(last.map_cells)
    assert last.map_label == "anime" and cells.shape == (8, 8)
    assert cells[:, :4].mean() > 3 * np.abs(cells[:, 4:]).mean()  # the red half raises anime
