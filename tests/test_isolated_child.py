"""Tests for inference/isolated_child: the child's command protocol, run in a thread on a pipe."""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np
import pytest

from aoc.errors import BundleError
from aoc.inference.isolated_child import child_main


class FakeClassifier:
    """Scores = (mean pixel / 255, 1 - that): enough to see data cross shared memory."""

    backend, reason, labels = "cpu", "fake", ("bright", "dark")
    runtime_name, model_path, output_kind, preprocess_spec = "fake", Path("m.tflite"), "x", None

    def __init__(self) -> None:
        self.pixels: np.ndarray | None = None
        self.closed = 0

    def load_input(self, pixels: np.ndarray) -> None:
        self.pixels = pixels.copy()

    def invoke(self) -> None:
        pass

    def postprocess(self) -> np.ndarray:
        bright = float(self.pixels.mean()) / 255.0
        return np.array([bright, 1.0 - bright], np.float32)

    def close(self) -> None:
        self.closed += 1


def serve(opener):
    parent, child = multiprocessing.Pipe()
    thread = threading.Thread(target=child_main, args=(opener, child), daemon=True)
    thread.start()
    return parent, thread


def test_attach_invoke_fault_and_close():
    fake = FakeClassifier()
    conn, thread = serve(lambda: fake)
    kind, info = conn.recv()
    assert kind == "ready" and info["labels"] == ("bright", "dark")
    assert info["model_path"] == "m.tflite"
    pixels_shm, scores_shm = SharedMemory(create=True, size=4), SharedMemory(create=True, size=8)
    try:
        conn.send(("attach", pixels_shm.name, (2, 2), "uint8", scores_shm.name, 2))
        assert conn.recv() == ("ok",)
        np.ndarray((2, 2), np.uint8, buffer=pixels_shm.buf)[:] = 255
        conn.send(("invoke",))
        assert conn.recv() == ("ok",)
        scores = np.ndarray((2,), np.float32, buffer=scores_shm.buf)
        assert scores.tolist() == [1.0, 0.0]
        conn.send(("fault", "error"))  # armed for the next invoke only
        assert conn.recv() == ("ok",)
        conn.send(("invoke",))
        assert conn.recv() == ("error", "RuntimeError", "injected inference fault")
        conn.send(("invoke",))
        assert conn.recv() == ("ok",)
        del scores
        conn.send(("close",))
        assert conn.recv() == ("ok",)
        thread.join(5)
        assert not thread.is_alive() and fake.closed == 1
    finally:
        for shm in (pixels_shm, scores_shm):
            shm.close()
            shm.unlink()


def test_parent_going_away_closes_the_classifier():
    fake = FakeClassifier()
    conn, thread = serve(lambda: fake)
    assert conn.recv()[0] == "ready"
    conn.close()
    thread.join(5)
    assert not thread.is_alive() and fake.closed == 1


@pytest.mark.parametrize(
    ("error", "reply"),
    [
        (BundleError("model file m.tflite is missing"),
         ("error", "BundleError", "model file m.tflite is missing")),
        (ValueError("bad"), ("error", "BackendError", "ValueError: bad")),
    ],
)
def test_opener_failure_reaches_the_parent_as_text(error, reply):
    def opener():
        raise error

    conn, thread = serve(opener)
    assert conn.recv() == reply
    thread.join(5)
    assert not thread.is_alive()

