"""inference/isolated: real CPU inference in a child process; faults that really kill the child."""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np
import pytest
from fakes.head_bundles import open_on_fake_tpu, reference_scores, standin_bundle

from aoc.errors import BackendError, BundleError, EdgeTpuUnavailable, InferenceError
from aoc.inference.bundle import Bundle, load_bundle
from aoc.inference.classifier import open_classifier
from aoc.inference.isolated import IsolatedClassifier, describe_exit, open_isolated_classifier

pytest.importorskip("ai_edge_litert")

MODELS = Path(__file__).parent / "data" / "models"
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def solid(colour: tuple[int, int, int], size: int = 32) -> np.ndarray:
    return np.full((size, size, 3), colour, np.uint8)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return load_bundle(MODELS / "uint8")


@pytest.fixture()
def isolated(bundle: Bundle):
    opener = functools.partial(open_classifier, bundle, prefer="cpu")
    with IsolatedClassifier(opener, call_timeout_s=10.0) as clf:
        yield clf


def test_classifies_for_real_in_a_child(isolated: IsolatedClassifier, bundle: Bundle) -> None:
    assert isolated.pid != os.getpid() and isolated.alive
    assert isolated.backend == "cpu"
    assert isolated.labels == ("anime", "cartoon", "neither")
    assert isolated.input_size == (32, 32)
    assert "running CPU model model.tflite" in isolated.reason
    with open_classifier(bundle, prefer="cpu") as local:
        for colour in (RED, GREEN, BLUE):
            np.testing.assert_array_equal(
                isolated.classify(solid(colour)), local.classify(solid(colour))
            )
    isolated.preprocess(solid(GREEN, 100))
    isolated.invoke()
    assert int(np.argmax(isolated.postprocess())) == 1


def test_scores_returned_stay_those_of_their_frame(isolated: IsolatedClassifier) -> None:
    """The child writes every frame's scores into the same shared memory: handed out as a
    view, scores kept for frame N (by whatever holds on to them: a history, a result to
    write) turned into frame N+1's when the next frame was classified."""
    red = isolated.classify(solid(RED))
    kept = red.copy()
    green = isolated.classify(solid(GREEN))
    assert not np.array_equal(green, kept)  # the two frames do score differently
    np.testing.assert_array_equal(red, kept)
    assert int(np.argmax(red)) == 0 and int(np.argmax(green)) == 1


@pytest.mark.parametrize(
    ("fault", "how"),
    [("abort", "killed by SIGABRT"), ("kill", "killed by SIGKILL"), ("exit", "exit code 3")],
)
def test_child_death_becomes_inference_error(
    isolated: IsolatedClassifier, fault: str, how: str
) -> None:
    assert int(np.argmax(isolated.classify(solid(RED)))) == 0
    isolated.inject_fault(fault)
    with pytest.raises(InferenceError, match=f"child process {isolated.pid} died \\({how}\\)"):
        isolated.classify(solid(RED))
    # This process is fine; the dead child stays dead and says so.
    assert not isolated.alive
    with pytest.raises(InferenceError, match=how):
        isolated.invoke()
    isolated.close()
    isolated.close()


def test_external_sigkill(isolated: IsolatedClassifier) -> None:
    os.kill(isolated.pid, signal.SIGKILL)
    with pytest.raises(InferenceError, match="killed by SIGKILL"):
        isolated.classify(solid(BLUE))


def test_child_ignores_ctrl_c_and_hangup_of_the_terminal(isolated: IsolatedClassifier) -> None:
    """Ctrl-C / a closed terminal reach the whole process group; the parent handles them."""
    assert int(np.argmax(isolated.classify(solid(RED)))) == 0
    os.kill(isolated.pid, signal.SIGINT)
    os.kill(isolated.pid, signal.SIGHUP)
    assert int(np.argmax(isolated.classify(solid(GREEN)))) == 1
    assert isolated.alive


def test_hung_child_times_out_and_is_killed(bundle: Bundle) -> None:
    """A child hung in libedgetpu must be killed, not just marked dead: left running, it
    keeps holding the Edge TPU and its memory, and every re-probe adds another one."""
    opener = functools.partial(open_classifier, bundle, prefer="cpu")
    with IsolatedClassifier(opener, call_timeout_s=0.5) as clf:
        clf.inject_fault("hang")
        with pytest.raises(InferenceError, match=r"did not answer within 0.5 s .*killed it"):
            clf.classify(solid(RED))
        assert not clf.alive
        # Really gone (before close() would kill it): the timeout has joined it already,
        # this join only bounds the wait if it did not.
        clf._process.join(5.0)
        assert clf._process.exitcode == -signal.SIGKILL


def test_error_in_child_keeps_it_serving(isolated: IsolatedClassifier) -> None:
    isolated.inject_fault("error")
    with pytest.raises(InferenceError, match="injected inference fault"):
        isolated.classify(solid(RED))
    assert isolated.alive
    assert int(np.argmax(isolated.classify(solid(GREEN)))) == 1
    with pytest.raises(InferenceError, match="unknown fault 'melt'"):
        isolated.inject_fault("melt")


def test_open_errors_cross_the_process_boundary(bundle: Bundle, tmp_path: Path) -> None:
    with pytest.raises(EdgeTpuUnavailable, match="has no Edge TPU model.*child process"):
        open_isolated_classifier(bundle, prefer="edgetpu")
    broken = tmp_path / "model.tflite"
    broken.write_bytes(bundle.cpu_model.read_bytes()[:100])
    with pytest.raises(BundleError, match="re-copy"):
        open_isolated_classifier(dataclasses.replace(bundle, cpu_model=broken), prefer="cpu")


def test_close_frees_shared_memory(bundle: Bundle) -> None:
    clf = open_isolated_classifier(bundle, prefer="cpu", call_timeout_s=10.0)
    names = [segment.name for segment in clf._segments]
    assert int(np.argmax(clf.classify(solid(BLUE)))) == 2
    clf.close()
    clf.close()
    assert clf._process.exitcode == 0
    for name in names:
        with pytest.raises(FileNotFoundError):
            SharedMemory(name=name)
    with pytest.raises(InferenceError, match="closed"):
        clf.classify(solid(BLUE))


def test_a_child_that_crashes_while_starting_points_at_libedgetpu() -> None:
    """A crash (a signal, not a Python error) while the model loads: libedgetpu built for
    another TFLite runtime is the known cause, not a missing ``__main__`` guard."""
    with pytest.raises(InferenceError, match=r"died \(killed by SIGABRT\) while starting: "
                                              r"libedgetpu crashed.*built for this TFLite"):
        IsolatedClassifier(functools.partial(os.abort), start_timeout_s=30.0)


def test_a_child_that_cannot_be_started_is_a_backend_error(monkeypatch, bundle) -> None:
    """fork/spawn failing (EAGAIN under the unit's TasksMax) must be an AocError, which a
    failover catches (the CPU stands in), not an OSError ending the loop."""
    import errno
    import multiprocessing.context

    from aoc.errors import BackendError

    def no_process(self):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", no_process)
    opener = functools.partial(open_classifier, bundle, prefer="cpu")
    with pytest.raises(BackendError, match="could not start the inference child.*TasksMax"):
        IsolatedClassifier(opener)


def test_describe_exit() -> None:
    assert describe_exit(-6) == "killed by SIGABRT"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(2) == "exit code 2"
    assert describe_exit(None) == "still running"


def test_unexpected_child_error_is_a_backend_error() -> None:
    opener = functools.partial(open_classifier, "not a bundle", prefer="cpu")
    with pytest.raises(BackendError, match="AttributeError.*in inference child process"):
        IsolatedClassifier(opener)


def test_head_bundle_in_a_child(tmp_path: Path) -> None:
    """Backbone and head both run in the child; its scores are the local classifier's."""
    bundle = standin_bundle(tmp_path)
    colours = (RED, GREEN, BLUE, (200, 30, 90))
    with open_isolated_classifier(bundle, prefer="cpu", call_timeout_s=10.0) as child, \
            open_classifier(bundle, prefer="cpu") as local:
        assert child.labels == bundle.labels and child.input_size == (32, 32)
        assert child.reason.endswith("then head 8-5-3 on the CPU")
        for colour in colours:
            np.testing.assert_array_equal(child.classify(solid(colour)),
                                          local.classify(solid(colour)))
    opener = functools.partial(open_on_fake_tpu, bundle)
    with IsolatedClassifier(opener, call_timeout_s=10.0) as tpu:
        assert tpu.backend == "edgetpu" and tpu.model_path.endswith("model_edgetpu.tflite")
        want = reference_scores(bundle.cpu_model, solid(GREEN), bundle.head)
        np.testing.assert_allclose(tpu.classify(solid(GREEN)), want, rtol=1e-5, atol=1e-7)


def test_shared_memory_that_cannot_be_made_is_a_backend_error_and_leaks_nothing(
    monkeypatch, bundle: Bundle
) -> None:
    """/dev/shm full when the second segment is made: an AocError (a failover's CPU model
    stands in, the loop goes on), and the first segment is unlinked, not leaked."""
    import errno

    import aoc.inference.isolated as isolated_module

    made: list[str] = []

    class SecondFails(SharedMemory):
        def __init__(self, *args, **kwargs) -> None:
            if kwargs.get("create") and made:
                raise OSError(errno.ENOSPC, "No space left on device")
            super().__init__(*args, **kwargs)
            if kwargs.get("create"):
                made.append(self.name)

    monkeypatch.setattr(isolated_module, "SharedMemory", SecondFails)
    opener = functools.partial(open_classifier, bundle, prefer="cpu")
    with pytest.raises(BackendError, match=r"shared memory.*df -h /dev/shm"):
        IsolatedClassifier(opener, call_timeout_s=10.0)
    assert len(made) == 1
    with pytest.raises(FileNotFoundError):
        SharedMemory(name=made[0])


def test_a_pipe_that_cannot_be_opened_is_a_backend_error(monkeypatch, bundle: Bundle) -> None:
    """No file descriptors left (EMFILE) for the pipe: an AocError, not an OSError."""
    import errno
    import multiprocessing.context

    def no_pipe(self, duplex=True):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(multiprocessing.context.BaseContext, "Pipe", no_pipe)
    opener = functools.partial(open_classifier, bundle, prefer="cpu")
    with pytest.raises(BackendError, match="could not open a pipe.*LimitNOFILE"):
        IsolatedClassifier(opener)
