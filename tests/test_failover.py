"""inference/failover: fake Edge TPU classifiers over the real CPU one; an injectable clock."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fakes.head_bundles import open_on_fake_tpu, reference_scores, standin_bundle

from aoc.errors import EdgeTpuNotFound, EdgeTpuUnavailable, InferenceError
from aoc.explain.rise import explain
from aoc.inference.bundle import Bundle, load_bundle
from aoc.inference.classifier import Classifier, open_classifier
from aoc.inference.failover import FAULT_NO_TPU, FAULT_TPU_LOST, FailoverClassifier
from aoc.inference.isolated import IsolatedClassifier

pytest.importorskip("ai_edge_litert")

MODELS = Path(__file__).parent / "data" / "models"
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def solid(colour: tuple[int, int, int]) -> np.ndarray:
    return np.full((32, 32, 3), colour, np.uint8)


def best(scores: np.ndarray) -> int:
    return int(np.argmax(scores))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTpu:
    """An "Edge TPU" classifier: real CPU inference underneath, failing on command."""

    def __init__(self, cpu: Classifier) -> None:
        self._cpu = cpu
        self.backend = "edgetpu"
        self.reason = "Edge TPU at 'usb': fake"
        self.labels = cpu.labels
        self.input_size = cpu.input_size
        self.runtime_name = "fake"
        self.fail_at: str | None = None
        self.closed = 0
        self.calls: list[str] = []

    def _maybe_fail(self, stage: str) -> None:
        self.calls.append(stage)
        if self.fail_at == stage:
            raise InferenceError("inference child process 42 died (killed by SIGABRT)")

    def preprocess(self, frame: np.ndarray) -> None:
        self._maybe_fail("preprocess")
        self._cpu.preprocess(frame)

    def invoke(self) -> None:
        self._maybe_fail("invoke")
        self._cpu.invoke()

    def postprocess(self) -> np.ndarray:
        self._maybe_fail("postprocess")
        return self._cpu.postprocess()

    def classify(self, frame: np.ndarray) -> np.ndarray:
        self.preprocess(frame)
        self.invoke()
        return self.postprocess()

    def close(self) -> None:
        self.closed += 1
        self._cpu.close()


class FakeCpu(FakeTpu):
    """The CPU fallback, real inference underneath: counts its closes, fails on command."""

    def __init__(self, cpu: Classifier) -> None:
        super().__init__(cpu)
        self.backend = "cpu"
        self.reason = cpu.reason

    def _maybe_fail(self, stage: str) -> None:
        self.calls.append(stage)
        if self.fail_at == stage:
            raise InferenceError("CPU interpreter failed: out of memory")


class CpuFactory:
    """Fallback factory making FakeCpus."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.made: list[FakeCpu] = []

    def __call__(self) -> FakeCpu:
        cpu = FakeCpu(open_classifier(self.bundle, prefer="cpu"))
        self.made.append(cpu)
        return cpu


def scripted_primary(bundle: Bundle, clock: FakeClock, calls: list[float], outcome: list[str],
                     made: list[FakeTpu] | None = None) -> Callable[[], FakeTpu]:
    """A TPU factory absent at start, then as ``outcome`` says ("crash", "absent", "ok"),
    recording when it is called in ``calls`` and what it made in ``made``."""

    def primary() -> FakeTpu:
        calls.append(clock.now)
        what = outcome.pop(0) if calls[1:] else "absent"
        if what == "crash":
            raise EdgeTpuUnavailable("the Edge TPU child was killed by SIGSEGV")
        if what == "absent":
            raise EdgeTpuNotFound("no Edge TPU found: plug in the Coral")
        tpu = FakeTpu(open_classifier(bundle, prefer="cpu"))
        if made is not None:
            made.append(tpu)
        return tpu

    return primary


class TpuFactory:
    """Primary factory: raises for each True in ``unavailable``, then makes FakeTpus."""

    def __init__(self, bundle: Bundle, unavailable: list[bool]) -> None:
        self.bundle = bundle
        self.unavailable = list(unavailable)
        self.made: list[FakeTpu] = []
        self.calls = 0

    def __call__(self) -> FakeTpu:
        self.calls += 1
        if self.unavailable and self.unavailable.pop(0):
            raise EdgeTpuNotFound("no Edge TPU found at device 'usb': plug in the Coral")
        tpu = FakeTpu(open_classifier(self.bundle, prefer="cpu"))
        self.made.append(tpu)
        return tpu


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return load_bundle(MODELS / "uint8")


@pytest.fixture()
def cpu_factory(bundle: Bundle):
    return functools.partial(open_classifier, bundle, prefer="cpu")


def test_starts_on_the_tpu_when_it_can(bundle: Bundle, cpu_factory) -> None:
    primary = TpuFactory(bundle, [])
    with FailoverClassifier(primary, cpu_factory, clock=FakeClock()) as clf:
        assert clf.backend == "edgetpu" and clf.fault is None
        assert clf.reason == "Edge TPU at 'usb': fake"
        assert clf.labels == ("anime", "cartoon", "neither") and clf.input_size == (32, 32)
        assert best(clf.classify(solid(RED))) == 0
        assert clf.failovers == 0 and clf.reprobes == 0


def test_starts_on_cpu_without_a_tpu(bundle: Bundle, cpu_factory) -> None:
    with FailoverClassifier(TpuFactory(bundle, [True]), cpu_factory, clock=FakeClock()) as clf:
        assert clf.backend == "cpu"
        assert clf.fault == FAULT_NO_TPU
        assert clf.reason.startswith("Edge TPU unavailable (no Edge TPU found at device 'usb'")
        assert "running CPU model model.tflite" in clf.reason
        assert best(clf.classify(solid(GREEN))) == 1
        assert clf.failovers == 0


@pytest.mark.parametrize("stage", ["preprocess", "invoke", "postprocess"])
def test_mid_run_failure_loses_no_frame(bundle: Bundle, cpu_factory, stage: str) -> None:
    primary = TpuFactory(bundle, [])
    with FailoverClassifier(primary, cpu_factory, clock=FakeClock()) as clf:
        assert best(clf.classify(solid(RED))) == 0
        tpu = primary.made[0]
        tpu.fail_at = stage
        # The frame the TPU failed on still gets its own (right) answer, from the CPU.
        assert best(clf.classify(solid(BLUE))) == 2
        assert clf.backend == "cpu" and clf.fault == FAULT_TPU_LOST
        assert clf.failovers == 1 and tpu.closed == 1
        assert "Edge TPU failed mid-run (inference child process 42 died" in clf.reason
        assert best(clf.classify(solid(GREEN))) == 1


def test_staged_calls_fail_over_between_stages(bundle: Bundle, cpu_factory) -> None:
    primary = TpuFactory(bundle, [])
    with FailoverClassifier(primary, cpu_factory, clock=FakeClock()) as clf:
        clf.preprocess(solid(GREEN))
        primary.made[0].fail_at = "invoke"
        clf.invoke()
        assert best(clf.postprocess()) == 1
        assert clf.backend == "cpu"


def test_reprobes_on_the_interval_and_returns_to_the_tpu(bundle: Bundle, cpu_factory) -> None:
    clock = FakeClock()
    primary = TpuFactory(bundle, [False, True, False])  # ok, then lost once, then back
    clf = FailoverClassifier(primary, cpu_factory, reprobe_interval_s=30.0, clock=clock)
    primary.made[0].fail_at = "invoke"
    assert best(clf.classify(solid(RED))) == 0
    assert clf.backend == "cpu" and primary.calls == 1
    clock.now += 29.9
    clf.classify(solid(RED))
    assert primary.calls == 1 and clf.reprobes == 0  # not due yet
    clock.now += 0.1
    clf.classify(solid(RED))
    assert primary.calls == 2 and clf.reprobes == 1  # due: tried, TPU still absent
    assert clf.backend == "cpu" and clf.fault == FAULT_TPU_LOST
    clock.now += 15
    clf.classify(solid(RED))
    assert clf.reprobes == 1  # the next try is 30 s after the failed one
    clock.now += 15
    assert best(clf.classify(solid(BLUE))) == 2
    assert clf.reprobes == 2 and clf.backend == "edgetpu" and clf.fault is None
    assert clf.reason == "Edge TPU at 'usb': fake"
    assert primary.made[-1].calls[-3:] == ["preprocess", "invoke", "postprocess"]
    clf.close()
    clf.close()
    assert primary.made[-1].closed == 1


def test_a_tpu_that_keeps_failing_to_open_is_tried_less_and_less_often(
        bundle: Bundle, cpu_factory) -> None:
    """A Coral whose delegate crashes on open (libedgetpu 16.0 beside a newer runtime) was
    re-probed every interval for good, each time stalling the loop for a child's start-up;
    a TPU that is simply absent costs nothing to look for and is still looked for on the
    interval."""
    clock = FakeClock()
    calls: list[float] = []
    outcome = ["crash"] * 5 + ["absent", "crash", "ok"]

    primary = scripted_primary(bundle, clock, calls, outcome)

    clf = FailoverClassifier(primary, cpu_factory, reprobe_interval_s=60.0, reprobe_max_s=600.0,
                             clock=clock)
    start = clock.now
    for _ in range(3000):
        clock.now += 1.0
        clf.classify(solid(RED))
        if clf.backend == "edgetpu":
            break
    waits = [round(b - a) for a, b in zip(calls, calls[1:], strict=False)]
    # absent at start: 60 s; crashes: 120, 240, 480, 600 (the cap), 600; then absent
    # (unplugged): the interval again, and the streak starts over
    assert waits == [60, 120, 240, 480, 600, 600, 60, 120]
    assert clf.backend == "edgetpu" and clf.fault is None and calls[0] == start
    clf.close()


def test_a_tpu_that_came_back_starts_its_back_off_over(bundle: Bundle, cpu_factory) -> None:
    """Once the TPU runs again, its earlier streak of failed opens is over: kept, the next
    time it is lost and fails to reopen, the first wait was eight intervals instead of two,
    the device on the slow CPU model all the while."""
    clock = FakeClock()
    calls: list[float] = []
    outcome = ["crash", "crash", "ok", "crash", "ok"]
    made: list[FakeTpu] = []

    primary = scripted_primary(bundle, clock, calls, outcome, made)

    clf = FailoverClassifier(primary, cpu_factory, reprobe_interval_s=60.0, reprobe_max_s=600.0,
                             clock=clock)

    def run_until_on_the_tpu() -> None:
        for _ in range(3000):
            clock.now += 1.0
            clf.classify(solid(RED))
            if clf.backend == "edgetpu":
                return
        pytest.fail("the TPU was never re-probed back")

    run_until_on_the_tpu()  # absent, then two crashes in a row: waits of 60, 120, 240 s
    made[-1].fail_at = "invoke"
    lost = clock.now
    assert best(clf.classify(solid(BLUE))) == 2 and clf.fault == FAULT_TPU_LOST
    run_until_on_the_tpu()  # lost: one interval, then a crash: the first step again
    waits = [round(b - a) for a, b in zip(calls, calls[1:], strict=False)]
    assert waits[:3] == [60, 120, 240]
    assert round(calls[4] - lost) == 60 and waits[4] == 120
    clf.close()


def test_reprobes_use_their_own_factory(bundle: Bundle, cpu_factory) -> None:
    """The first open may take its time; a re-probe mid-run opens through the factory
    meant for it (the app's has a shorter start time limit)."""
    clock = FakeClock()
    first, again = TpuFactory(bundle, [True]), TpuFactory(bundle, [False])
    clf = FailoverClassifier(first, cpu_factory, reprobe_interval_s=30.0,
                             reprobe_factory=again, clock=clock)
    assert clf.backend == "cpu" and (first.calls, again.calls) == (1, 0)
    clock.now += 30
    clf.classify(solid(RED))
    assert (first.calls, again.calls) == (1, 1) and clf.backend == "edgetpu"
    clf.close()


def test_reprobe_can_be_disabled(bundle: Bundle, cpu_factory) -> None:
    clock = FakeClock()
    primary = TpuFactory(bundle, [True])
    with FailoverClassifier(primary, cpu_factory, reprobe_interval_s=None, clock=clock) as clf:
        clock.now += 1e6
        clf.classify(solid(RED))
        assert primary.calls == 1 and clf.reprobes == 0


def test_bad_frame_is_not_a_tpu_failure(bundle: Bundle, cpu_factory) -> None:
    with FailoverClassifier(TpuFactory(bundle, []), cpu_factory, clock=FakeClock()) as clf:
        with pytest.raises(InferenceError, match="uint8"):
            clf.classify(np.zeros((32, 32), np.uint8))
        assert clf.backend == "edgetpu" and clf.failovers == 0


def test_fallback_failure_propagates(bundle: Bundle) -> None:
    def broken_cpu():
        raise InferenceError("CPU broken too")

    with pytest.raises(InferenceError, match="CPU broken too"):
        FailoverClassifier(TpuFactory(bundle, [True]), broken_cpu, clock=FakeClock())


def test_closed_classifier_refuses_work(bundle: Bundle, cpu_factory) -> None:
    clf = FailoverClassifier(TpuFactory(bundle, []), cpu_factory, clock=FakeClock())
    clf.close()
    with pytest.raises(InferenceError, match="closed"):
        clf.classify(solid(RED))


def test_real_child_abort_fails_over_to_cpu(bundle: Bundle, cpu_factory) -> None:
    """An isolated classifier whose child really aborts mid-run, as libedgetpu can."""
    children: list[IsolatedClassifier] = []

    def isolated() -> IsolatedClassifier:
        child = IsolatedClassifier(cpu_factory, call_timeout_s=10.0)
        children.append(child)
        return child

    clock = FakeClock()
    with FailoverClassifier(isolated, cpu_factory, reprobe_interval_s=5.0, clock=clock) as clf:
        assert best(clf.classify(solid(RED))) == 0
        children[0].inject_fault("abort")
        assert best(clf.classify(solid(GREEN))) == 1
        assert clf.failovers == 1 and clf.fault == FAULT_TPU_LOST
        assert "killed by SIGABRT" in clf.reason
        clock.now += 5.0
        assert best(clf.classify(solid(BLUE))) == 2  # re-probed: a fresh child
        assert len(children) == 2 and children[1].alive and clf.fault is None


def test_the_fit_is_the_current_classifiers(bundle: Bundle) -> None:
    """Whoever fits frames outside the classifier (aoc explain, prefetching) must fit them
    as the classifier in use does."""
    crop = dataclasses.replace(bundle, input=dataclasses.replace(bundle.input,
                                                                  resize="center_crop"))
    cpu = functools.partial(open_classifier, crop, prefer="cpu")
    with FailoverClassifier(TpuFactory(crop, [True]), cpu, clock=FakeClock()) as clf:
        assert clf.backend == "cpu"
        assert clf.preprocess_spec == clf.current.preprocess_spec
        assert clf.preprocess_spec.resize == "center_crop"
        explained = explain(clf, np.zeros((32, 96, 3), np.uint8), budget=8)
        assert explained.placement.policy == "center_crop"


def test_head_bundle_fails_over_from_the_tpu_twin_to_the_cpu_twin(tmp_path: Path) -> None:
    """A backbone + head bundle: the (fake) TPU runs the compiled twin in a child process
    that aborts mid-run; the CPU twin and the head give the frame's scores."""
    bundle = standin_bundle(tmp_path)
    children: list[IsolatedClassifier] = []

    def tpu() -> IsolatedClassifier:
        child = IsolatedClassifier(functools.partial(open_on_fake_tpu, bundle),
                                   call_timeout_s=10.0)
        children.append(child)
        return child

    cpu = functools.partial(open_classifier, bundle, prefer="cpu")
    with FailoverClassifier(tpu, cpu, clock=FakeClock()) as clf:
        assert clf.backend == "edgetpu" and clf.fault is None
        assert "running model_edgetpu.tflite" in clf.reason and "head 8-5-3" in clf.reason
        for colour in (RED, GREEN):
            want = reference_scores(bundle.cpu_model, solid(colour), bundle.head)
            np.testing.assert_allclose(clf.classify(solid(colour)), want, rtol=1e-5, atol=1e-7)
        children[0].inject_fault("abort")
        want = reference_scores(bundle.cpu_model, solid(BLUE), bundle.head)
        np.testing.assert_allclose(clf.classify(solid(BLUE)), want, rtol=1e-5, atol=1e-7)
        assert clf.backend == "cpu" and clf.fault == FAULT_TPU_LOST and clf.failovers == 1
        assert "killed by SIGABRT" in clf.reason
        assert clf.reason.endswith("running CPU model model.tflite on "
                                   f"{clf.runtime_name}, default threads; then head 8-5-3 on the "
                                   "CPU")


def test_the_same_reprobe_failure_is_logged_once(bundle: Bundle, cpu_factory, caplog) -> None:
    """No Coral plugged in: an INFO line a minute, for months, said nothing new."""
    import logging

    clock = FakeClock()
    primary = TpuFactory(bundle, [True] * 5)
    with caplog.at_level(logging.DEBUG, logger="aoc.inference.failover"), FailoverClassifier(
            primary, cpu_factory, reprobe_interval_s=60.0, clock=clock) as clf:
        for _ in range(4):
            clock.now += 60
            clf.classify(solid(RED))
    failed = [r for r in caplog.records if "re-probe" in r.getMessage()]
    assert clf.reprobes == 4 and len(failed) == 4
    assert [r.levelno for r in failed] == [logging.INFO] + [logging.DEBUG] * 3


def test_close_closes_the_fallback_too(bundle: Bundle) -> None:
    """The CPU model stays open after the TPU comes back (for the next failover); closing
    the classifier must close it too, or its interpreter and memory outlive the classifier
    that owned them."""
    clock = FakeClock()
    primary, fallback = TpuFactory(bundle, [True, False]), CpuFactory(bundle)
    clf = FailoverClassifier(primary, fallback, reprobe_interval_s=30.0, clock=clock)
    assert clf.backend == "cpu"
    clock.now += 30
    assert best(clf.classify(solid(RED))) == 0
    assert clf.backend == "edgetpu" and len(fallback.made) == 1
    clf.close()
    clf.close()
    assert primary.made[0].closed == 1 and fallback.made[0].closed == 1


def test_a_failing_fallback_is_not_a_lost_tpu(bundle: Bundle) -> None:
    """With no TPU plugged in, the CPU model failing is its own error, passed on as is: it
    must not be counted as a failover nor shown as "TPU lost" (sending the user to check a
    Coral that was never there), and the next frame still runs on the CPU."""
    fallback = CpuFactory(bundle)
    with FailoverClassifier(TpuFactory(bundle, [True]), fallback, reprobe_interval_s=None,
                            clock=FakeClock()) as clf:
        assert clf.backend == "cpu" and clf.fault == FAULT_NO_TPU
        reason = clf.reason
        cpu = fallback.made[0]
        cpu.fail_at = "invoke"
        with pytest.raises(InferenceError, match="CPU interpreter failed"):
            clf.classify(solid(RED))
        assert clf.fault == FAULT_NO_TPU and clf.failovers == 0 and clf.reason == reason
        assert cpu.calls == ["preprocess", "invoke"]  # not re-run as if the TPU had failed
        cpu.fail_at = None
        assert best(clf.classify(solid(GREEN))) == 1
        assert clf.backend == "cpu" and len(fallback.made) == 1
