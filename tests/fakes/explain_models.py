"""Fake classifiers for the explain tests: their scores depend on known parts of the input."""

from __future__ import annotations

import numpy as np

from aoc.inference.preprocess import PreprocessSpec


def redness(frame: np.ndarray) -> np.ndarray:
    """Per pixel, how red: (r - (g + b) / 2) / 255 clipped to [0, 1]."""
    f = frame.astype(np.float32)
    return np.clip((f[..., 0] - (f[..., 1] + f[..., 2]) / 2) / 255.0, 0.0, 1.0)


class FakeClassifier:
    """``classify(frame)`` -> two scores from ``signal(frame)`` in [0, 1]; counts calls."""

    labels = ("red", "other")

    def __init__(self, signal, input_size=(64, 64), resize=None) -> None:
        self.signal = signal
        self.input_size = input_size
        self.calls = 0
        if resize is not None:
            self.preprocess_spec = PreprocessSpec(*input_size, resize=resize)

    def classify(self, frame: np.ndarray) -> np.ndarray:
        assert frame.shape == (self.input_size[1], self.input_size[0], 3)
        self.calls += 1
        p = float(self.signal(frame))
        return np.array([p, 1.0 - p], dtype=np.float32)


def top_left_brightness(frame: np.ndarray) -> float:
    """A model that only looks at the top-left quadrant: sigmoid of its brightness."""
    h, w = frame.shape[:2]
    m = frame[: h // 2, : w // 2].astype(np.float64).mean() / 255.0
    return 1.0 / (1.0 + np.exp(-8.0 * (m - 0.75)))


def mean_redness(frame: np.ndarray) -> float:
    """A red detector: 4 x the mean redness, capped at 1."""
    return min(1.0, 4.0 * float(redness(frame).mean()))
