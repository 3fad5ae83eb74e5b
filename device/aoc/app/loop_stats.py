"""Loop statistics: the per-stage timing ring buffer and the live :class:`LoopStats`.

Pure bookkeeping with numpy: the buffer is preallocated, so memory stays bounded however
long the appliance runs; summaries (median, p95, mean) are computed on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

STAGES: tuple[str, ...] = ("capture", "preprocess", "invoke", "postprocess", "display")


class StageSummary(NamedTuple):
    """One stage's timing over the ring buffer, in milliseconds."""

    median_ms: float
    p95_ms: float
    mean_ms: float


class StageTimings:
    """Ring buffer of per-frame stage durations (seconds), preallocated.

    Only the last ``capacity`` frames are kept, so memory does not grow with uptime.
    """

    def __init__(self, stages: Sequence[str] = STAGES, *, capacity: int = 2048) -> None:
        if capacity < 1:
            raise ValueError("StageTimings capacity must be at least 1")
        self.stages = tuple(stages)
        self._buf = np.zeros((capacity, len(self.stages)), dtype=np.float64)
        self._row = 0
        self.count = 0

    @property
    def capacity(self) -> int:
        """How many frames the buffer holds."""
        return self._buf.shape[0]

    def put(self, stage: int, seconds: float) -> None:
        """Record ``seconds`` for stage number ``stage`` of the current frame."""
        self._buf[self._row, stage] = seconds

    def commit(self) -> None:
        """The current frame is complete: move to the next row (overwriting the oldest)."""
        self._row = (self._row + 1) % self._buf.shape[0]
        if self.count < self._buf.shape[0]:
            self.count += 1

    def discard(self) -> None:
        """Forget the partial current frame (e.g. inference failed mid-way)."""
        self._buf[self._row].fill(0.0)

    def samples(self) -> np.ndarray:
        """The recorded rows (a copy), oldest order not guaranteed."""
        return self._buf[: self.count].copy()

    def summary(self) -> dict[str, StageSummary]:
        """Median / p95 / mean per stage in milliseconds (zeros before the first frame)."""
        if self.count == 0:
            return {s: StageSummary(0.0, 0.0, 0.0) for s in self.stages}
        data = self._buf[: self.count] * 1000.0
        med = np.median(data, axis=0)
        p95 = np.percentile(data, 95, axis=0)
        mean = data.mean(axis=0)
        return {
            s: StageSummary(float(med[i]), float(p95[i]), float(mean[i]))
            for i, s in enumerate(self.stages)
        }


@dataclass(frozen=True)
class LoopInfo:
    """What the loop runs with, handed to :meth:`LoopHook.on_start`."""

    backend: str
    reason: str
    labels: tuple[str, ...]
    source: str
    input_size: tuple[int, int]


@dataclass
class LoopStats:
    """Live loop statistics, updated in place (hooks read them; ``stages`` on demand).

    ``fps`` is the recent classification rate while running and frames / seconds at the
    end. ``faults`` counts episodes: ``camera`` (camera went down), ``inference`` (a
    frame failed to classify), ``hook`` (a hook raised).
    """

    backend: str = ""
    reason: str = ""
    frames: int = 0
    iterations: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    verdict: str = "uncertain"
    anime: float = 0.0
    cartoon: float = 0.0
    first_result_s: float | None = None
    source_fault: str | None = None
    classifier_fault: str | None = None
    inference_error: str | None = None  # frames not classified now (not a failover notice)
    display_fault: str | None = None
    faults: dict[str, int] = field(
        default_factory=lambda: {"camera": 0, "inference": 0, "hook": 0}
    )
    timings: StageTimings = field(default_factory=StageTimings, repr=False)
    stages: dict[str, StageSummary] = field(default_factory=dict)

    def summarize(self) -> dict[str, StageSummary]:
        """Refresh and return :attr:`stages` from the ring buffer."""
        self.stages = self.timings.summary()
        return self.stages

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        stages = self.stages or self.summarize()
        return {
            "frames": self.frames,
            "seconds": round(self.seconds, 4),
            "fps": round(self.fps, 2),
            "backend": self.backend,
            "reason": self.reason,
            "verdict": self.verdict,
            "first_result_s": self.first_result_s,
            "faults": dict(self.faults),
            "source_fault": self.source_fault,
            "classifier_fault": self.classifier_fault,
            "inference_error": self.inference_error,
            "display_fault": self.display_fault,
            "stages_ms": {
                s: {"median": round(v.median_ms, 4), "p95": round(v.p95_ms, 4)}
                for s, v in stages.items()
            },
        }

