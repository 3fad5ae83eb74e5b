"""Tests for aoc.app.loop with a real CPU classifier on the tiny test model."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from aoc.app.loop import run_loop
from aoc.app.loop_options import LoopControls
from aoc.app.loop_stats import LoopStats
from aoc.app.smoothing import Smoother
from aoc.display.null import NullDisplay
from aoc.errors import CameraError, InferenceError
from aoc.inference.bundle import load_bundle
from aoc.inference.classifier import open_classifier
from aoc.testing.soak_doubles import RecordingDisplay

MODELS = Path(__file__).parent / "data" / "models"
RED = np.zeros((48, 64, 3), np.uint8)
RED[..., 0] = 255  # the tiny model calls red "anime"
BLUE = np.zeros((48, 64, 3), np.uint8)
BLUE[..., 2] = 255  # ... and blue "neither"


@pytest.fixture(scope="module")
def classifier():
    with open_classifier(load_bundle(MODELS / "uint8"), prefer="cpu") as c:
        yield c


class ListSource:
    """Returns the scripted frames (None = camera down, an exception is raised), then RED."""

    name = "scripted"

    def __init__(self, script=()):
        self.script = list(script)
        self.fault = None
        self.reads = 0

    def read(self):
        self.reads += 1
        if self.script:
            item = self.script.pop(0)
            if isinstance(item, Exception):
                raise item
            self.fault = None if item is not None else "camera lost - retrying"
            return item
        self.fault = None
        return RED


class Recorder:
    """A LoopHook that records calls and can stop the loop after ``stop_after`` ticks."""

    def __init__(self, stop=None, stop_after=None):
        self.calls = []
        self.stop, self.stop_after = stop, stop_after
        self.ticks = 0

    def on_start(self, info):
        self.calls.append(("start", info))

    def on_result(self, stats, first):
        self.calls.append(("result", first, stats.frames))

    def on_tick(self, stats):
        self.ticks += 1
        if self.stop_after is not None and self.ticks >= self.stop_after:
            self.stop.set()

    def on_stop(self, stats):
        self.calls.append(("stop", stats.frames))


def make_smoother(classifier, tau_s=0.0):
    return Smoother(classifier.labels, tau_s=tau_s)


def test_classifies_max_frames_and_reports(classifier):
    display, hook = RecordingDisplay(), Recorder()
    stats = run_loop(ListSource([BLUE]), classifier, make_smoother(classifier), display,
                     max_frames=5, hooks=[hook])
    assert isinstance(stats, LoopStats)
    assert stats.frames == 5 and stats.backend == "cpu"
    assert stats.verdict == "anime" and stats.anime > 0.5
    assert display.states[0].verdict == "neither"  # the first frame was blue
    assert display.states[-1].verdict == "anime"
    assert display.states[-1].backend == "cpu"
    kinds = [c[0] for c in hook.calls]
    assert kinds[0] == "start" and kinds[-1] == "stop" and kinds.count("result") == 5
    firsts = [c[1] for c in hook.calls if c[0] == "result"]
    assert firsts == [True, False, False, False, False]
    assert hook.calls[0][1].labels == ("anime", "cartoon", "neither")
    assert set(stats.stages) == {"capture", "preprocess", "invoke", "postprocess", "display"}
    assert stats.stages["invoke"].median_ms > 0
    assert stats.first_result_s is not None and stats.fps > 0
    d = stats.to_dict()
    invoke = d["stages_ms"]["invoke"]
    assert d["frames"] == 5 and invoke["p95"] >= invoke["median"]


def test_camera_down_keeps_last_state_with_fault_and_ticks(classifier):
    script = [RED, None, None, CameraError("webcam 0 unplugged; plug it back in"), None, RED]
    display, hook = RecordingDisplay(), Recorder()
    source = ListSource(script)
    stats = run_loop(source, classifier, make_smoother(classifier), display, max_frames=3,
                     hooks=[hook], idle_wait_s=0.0)
    assert stats.frames == 3
    assert stats.faults["camera"] == 1  # one episode, not one per read
    down = [s for s in display.states if s.message]
    assert down and all(s.verdict == "anime" for s in down)  # last reading kept
    assert any("unplugged" in s.message for s in down)
    assert any("camera lost" in s.message for s in down)
    assert display.states[-1].message is None
    assert hook.ticks >= 3 + 4  # ticks continue while no frame arrives
    assert stats.source_fault is None


def test_stop_event_ends_loop_while_camera_down(classifier):
    stop = threading.Event()
    hook = Recorder(stop=stop, stop_after=10)
    source = ListSource([None] * 1000)
    stats = run_loop(source, classifier, make_smoother(classifier), RecordingDisplay(),
                     stop=stop, hooks=[hook], idle_wait_s=0.0)
    assert stats.frames == 0 and hook.ticks == 10
    assert hook.calls[-1] == ("stop", 0)
    assert stats.source_fault == "camera lost - retrying"


def test_duration_with_injected_clock(classifier):
    ticks = iter(np.arange(0.0, 100.0, 0.25))
    stats = run_loop(ListSource(), classifier, make_smoother(classifier), RecordingDisplay(),
                     duration_s=10.0, clock=lambda: float(next(ticks)))
    # 7 clock reads per classified frame + 1 per iteration check: 0.25 s * 8 = 2 s a frame
    assert 4 <= stats.frames <= 6
    assert stats.seconds >= 10.0


def test_freeze_stops_updates_and_marks_frozen(classifier):
    stop = threading.Event()
    controls = LoopControls(views=3)
    display = RecordingDisplay()

    class FreezeAfterFirst(Recorder):
        def on_result(self, stats, first):
            super().on_result(stats, first)
            controls.toggle_freeze()
            controls.next_view()

    hook = FreezeAfterFirst(stop=stop, stop_after=6)
    source = ListSource()
    stats = run_loop(source, classifier, make_smoother(classifier), display, stop=stop,
                     hooks=[hook], controls=controls, idle_wait_s=0.0)
    assert stats.frames == 1 and source.reads == 1
    assert display.states[-1].frozen and display.states[-1].view == 1
    assert display.states[-1].verdict == "anime"
    # the frozen verdict is shown as it was, also under a notice that comes due meanwhile
    assert display.states[-1].live


def test_a_frozen_reading_goes_live_again_after_the_timeout(classifier):
    now = [0.0]
    controls = LoopControls(views=3, freeze_timeout_s=120.0, clock=lambda: now[0])
    display = RecordingDisplay()
    stop = threading.Event()

    class FreezeFirstThenWait:
        def on_result(self, stats, first):
            if first:
                controls.toggle_freeze()
            if stats.frames == 3:
                stop.set()

        def on_tick(self, stats):
            if controls.frozen and display.states and display.states[-1].frozen:
                now[0] += 60.0  # two idle steps frozen, then the timeout is reached

    source = ListSource()
    stats = run_loop(source, classifier, make_smoother(classifier), display, stop=stop,
                     hooks=[FreezeFirstThenWait()], controls=controls, idle_wait_s=0.0)
    assert stats.frames == 3 and not controls.frozen
    frozen_at = [i for i, s in enumerate(display.states) if s.frozen]
    assert frozen_at and not display.states[-1].frozen  # frozen, then live readings again


def test_inference_error_is_counted_and_loop_continues(classifier):
    class Flaky:
        backend, reason, labels, input_size = "cpu", "test", classifier.labels, (32, 32)

        def __init__(self):
            self.n = 0

        def preprocess(self, frame):
            classifier.preprocess(frame)

        def invoke(self):
            self.n += 1
            if self.n == 2:
                raise InferenceError("model.tflite: invoke failed; check the model")
            classifier.invoke()

        def postprocess(self):
            return classifier.postprocess()

    class ErrorSeen:
        """What the hooks are told of the failing frame (the status LED reads this)."""

        def __init__(self):
            self.errors = []

        def on_tick(self, stats):
            self.errors.append(stats.inference_error)

    display, seen = RecordingDisplay(), ErrorSeen()
    stats = run_loop(ListSource(), Flaky(), make_smoother(classifier), display,
                     max_frames=3, idle_wait_s=0.0, hooks=[seen])
    assert stats.frames == 3 and stats.faults["inference"] == 1
    assert any(s.message and "invoke failed" in s.message for s in display.states)
    assert stats.timings.count == 3
    assert any(e and "invoke failed" in e for e in seen.errors)
    assert stats.inference_error is None  # classified again since


def test_failing_hook_never_stops_the_loop(classifier, caplog):
    class Broken:
        def on_result(self, stats, first):
            raise RuntimeError("boom")

    stats = run_loop(ListSource(), classifier, make_smoother(classifier), RecordingDisplay(),
                     max_frames=4, hooks=[Broken()])
    assert stats.frames == 4 and stats.faults["hook"] == 4
    assert len([r for r in caplog.records if r.name == "aoc.app.loop_hooks"]) == 1  # logged once


def test_health_message_and_show_only_display(classifier):
    class ShowOnly:
        def __init__(self):
            self.shown = []

        def show(self, state):
            self.shown.append(state)

    display = ShowOnly()
    run_loop(ListSource(), classifier, make_smoother(classifier), display, max_frames=2,
             health=lambda: "display lost")
    assert [s.message for s in display.shown] == ["display lost", "display lost"]


def test_bare_model_shows_top1_label(classifier):
    smoother = Smoother(("red thing", "green thing", "blue thing"), tau_s=0.0)
    display = RecordingDisplay()
    run_loop(ListSource(), classifier, smoother, display, max_frames=1)
    assert display.states[-1].message.startswith("red thing")
    assert display.states[-1].verdict == "neither"


def test_ring_buffer_is_bounded(classifier):
    stats = run_loop(ListSource(), classifier, make_smoother(classifier), RecordingDisplay(),
                     max_frames=10, timings_capacity=4)
    assert stats.frames == 10
    assert stats.timings.count == 4 and stats.timings.samples().shape == (4, 5)


def test_max_fps_waits_on_the_stop_event(classifier):
    class CountingStop(threading.Event):
        waits: list = []

        def wait(self, timeout=None):
            self.waits.append(timeout)
            return False

    stop = CountingStop()
    stats = run_loop(ListSource(), classifier, make_smoother(classifier), RecordingDisplay(),
                     max_frames=3, stop=stop, max_fps=10.0)
    assert stats.frames == 3
    assert len(stop.waits) == 3 and all(0 < w <= 0.1 for w in stop.waits)


def test_memory_stays_bounded_over_many_frames(classifier):
    """After warm-up, thousands more frames allocate nothing that stays (ring buffer)."""
    import tracemalloc

    class Measure:
        def __init__(self):
            self.at_warm = self.at_end = None

        def on_result(self, stats, first):
            if stats.frames == 300:
                tracemalloc.start()
                self.at_warm = tracemalloc.get_traced_memory()[0]
            elif stats.frames == 3300:  # before the end-of-run summary (which imports numpy.ma)
                self.at_end = tracemalloc.get_traced_memory()[0]

    hook = Measure()
    try:
        stats = run_loop(ListSource(), classifier, make_smoother(classifier), NullDisplay(),
                         max_frames=3300, hooks=[hook], timings_capacity=256)
    finally:
        tracemalloc.stop()
    assert stats.frames == 3300
    grown = hook.at_end - hook.at_warm
    assert grown < 16 * 1024, f"{grown} bytes kept after 3000 frames"


class PacedSource(ListSource):
    """RED frames, each ``period_s`` after the last on a manual clock (``jitter_s``
    alternating sign), so the loop's timestamps are exact."""

    def __init__(self, period_s, jitter_s=0.0, script=()):
        super().__init__(script)
        self.now, self.period_s, self.jitter_s = 0.0, period_s, jitter_s

    def clock(self):
        return self.now

    def read(self):
        sign = 1 if self.reads % 2 else -1
        self.now += self.period_s + sign * self.jitter_s
        return super().read()


class SlowDisplay(RecordingDisplay):
    frame_interval_s = 0.1  # like a ThreadedDisplay at max_fps 10


def test_a_reading_the_display_would_not_draw_is_not_built(classifier):
    source, display = PacedSource(0.02), SlowDisplay()
    stats = run_loop(source, classifier, make_smoother(classifier, tau_s=1.0), display,
                     max_frames=12, clock=source.clock)
    # 50 fps on a 10 fps display: frames 1, 6 and 11, then the newest (12) at the end
    assert stats.frames == 12 and len(display.states) == 4
    assert display.states[-1].anime == stats.anime  # nothing lost: the last reading shows
    assert [s.anime for s in display.states] == sorted(s.anime for s in display.states)


def test_a_loop_at_the_display_rate_submits_every_frame_despite_jitter(classifier):
    source, display = PacedSource(0.1, jitter_s=0.003), SlowDisplay()
    run_loop(source, classifier, make_smoother(classifier), display, max_frames=8,
             clock=source.clock)
    assert len(display.states) == 8


def test_the_pending_reading_shows_before_the_camera_fault(classifier):
    source, display = PacedSource(0.02, script=[BLUE, BLUE, None, RED]), SlowDisplay()
    run_loop(source, classifier, make_smoother(classifier), display, max_frames=3,
             clock=source.clock, idle_wait_s=0.0)
    # frame 1 is submitted, frame 2 held back, then flushed before the fault message
    states = list(display.states)
    assert [s.message for s in states[:3]] == [None, None, "camera lost - retrying"]
    assert states[1].verdict == "neither"


def test_an_explicit_display_interval_overrides_the_displays(classifier):
    source, display = PacedSource(0.02), SlowDisplay()
    run_loop(source, classifier, make_smoother(classifier), display, max_frames=5,
             clock=source.clock, display_interval_s=0.0)
    assert len(display.states) == 5


def test_a_new_verdict_is_submitted_at_once(classifier):
    source = PacedSource(0.02, script=[BLUE, BLUE, BLUE, RED, RED])
    display = SlowDisplay()
    run_loop(source, classifier, make_smoother(classifier), display, max_frames=5,
             clock=source.clock, display_interval_s=10.0)
    # tau 0: the verdict follows the frame; only frame 1 and the change at frame 4 go,
    # and frame 5 (same verdict, pending) at the end
    assert [s.verdict for s in display.states] == ["neither", "anime", "anime"]


def test_the_first_reading_after_a_fault_goes_at_once(classifier):
    source = PacedSource(0.02, script=[RED, None, RED, RED])
    display = SlowDisplay()
    run_loop(source, classifier, make_smoother(classifier), display, max_frames=3,
             clock=source.clock, idle_wait_s=0.0)
    states = list(display.states)
    # reading, fault, the reading that ends the fault (not held back), the last one
    assert [s.message for s in states] == [None, "camera lost - retrying", None, None]
    # the last reading under a fault is not live: no verdict is drawn as current
    assert [s.live for s in states] == [True, False, True, True]


class WithFault:
    """``classifier`` with a ``fault`` line, as :class:`FailoverClassifier` has on the CPU."""

    def __init__(self, classifier, fault):
        self._classifier, self.fault = classifier, fault

    def __getattr__(self, name):
        return getattr(self._classifier, name)


@pytest.mark.parametrize("how", ["health", "classifier"])
def test_a_lasting_notice_gives_the_screen_back_to_the_reading(classifier, how):
    """No TPU, or the demo for a missing camera: readings still come, so the notice shows
    for its first 5 s and 5 s a minute after, and the reading with its verdict between."""
    source = PacedSource(1.0)
    note = "no TPU - on CPU" if how == "classifier" else "no camera - demo"
    clf = WithFault(classifier, note) if how == "classifier" else classifier
    display = RecordingDisplay()
    run_loop(source, clf, make_smoother(classifier), display, max_frames=130,
             clock=source.clock, display_interval_s=0.0,
             health=(lambda: note) if how == "health" else None)
    readings = [s for s in display.states if s.message != "starting"]
    assert len(readings) == 130  # frames at t = 1, 2, ... 130 s; the notice from t = 1
    shown = [t for t, s in enumerate(readings, start=1) if s.message == note]
    assert shown == [*range(1, 6), *range(61, 66), *range(121, 126)]
    assert all(s.message is None and s.verdict == "anime"
               for t, s in enumerate(readings, start=1) if t not in shown)
    # the reading under the notice is live: the screen keeps its verdict with the notice
    assert all(s.live and s.verdict == "anime" for s in readings)


def test_the_frame_rate_restarts_after_an_outage_and_reads_0_during_it(classifier):
    """A 2-minute outage made the first seconds after it read 0.01 ... 7 fps (the gap was
    taken as one frame interval), and the fault screen kept the old rate."""
    script = [RED] * 20 + [None] * 1200 + [RED] * 20  # 10 fps, 120 s down, 10 fps again
    source = PacedSource(0.1, script=script)
    display = RecordingDisplay()
    run_loop(source, classifier, make_smoother(classifier), display, max_frames=40,
             clock=source.clock, display_interval_s=0.0, idle_wait_s=0.0)
    states = list(display.states)
    down = [s for s in states if s.message and "camera" in s.message]
    assert down and all(s.fps == 0.0 for s in down)
    after = [s.fps for s in states[states.index(down[-1]) + 1:]]
    assert after and all(f == 0.0 or 5.0 <= f <= 15.0 for f in after), after
    assert after[-1] == pytest.approx(10.0, rel=0.05)


def test_a_frozen_bare_model_keeps_its_label_line(classifier):
    smoother = Smoother(("red thing", "green thing", "blue thing"), tau_s=0.0)
    controls = LoopControls()
    display = RecordingDisplay()

    class FreezeAfterTwo:
        def on_result(self, stats, first):
            if stats.frames == 2:
                controls.toggle_freeze()

    stop = threading.Event()

    class StopWhenFrozen:
        def on_tick(self, stats):
            if controls.frozen and display.states and display.states[-1].frozen:
                stop.set()

    run_loop(ListSource(), classifier, smoother, display, controls=controls, stop=stop,
             hooks=[FreezeAfterTwo(), StopWhenFrozen()], idle_wait_s=0.0, max_frames=50)
    frozen = [s for s in display.states if s.frozen]
    assert frozen and all(s.message.startswith("red thing") for s in frozen)
    # a bare model's label line is its reading, not a notice over a verdict: no verdict
    # (its "neither") is drawn with it
    assert not any(s.live for s in display.states)
