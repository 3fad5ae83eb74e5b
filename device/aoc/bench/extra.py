"""The OLED and pipelining figures of :mod:`aoc.bench.run`.

* :func:`oled_figures`: a run of changing readings (a random walk of the smoothed scores
  and the frame rate, in every view) rendered by the real renderer and sent by
  :class:`aoc.display.partial.PartialUpdater` through luma's real ssd1306 driver onto a
  recording serial interface: bytes per update, and the I2C time at 100 and 400 kHz.
* :func:`tpu_like_rows`: both loops of :mod:`aoc.bench.loops` per size with invoke
  replaced by a wait as long as Coral's published Edge TPU invoke, ours as ``aoc run``
  runs it on an Edge TPU (frames fitted by :class:`aoc.app.pipeline.PrefetchSource`'s
  worker during the wait).
* :func:`pipelined_figures`: a fake camera paced at ``camera_fps`` and a fake invoke of
  ``invoke_ms`` (a wait, as an Edge TPU's invoke is: the CPU is free meanwhile), run by
  :func:`aoc.app.loop.run_loop` with and without :class:`aoc.app.pipeline.PrefetchSource`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Coral's published invoke of MobileNet V1 1.0 224 on the USB Accelerator (coral.ai/docs/
# edgetpu/benchmarks): the wait of the tpu_like rows
TPU_LIKE_WAIT_MS = 2.4


def oled_figures(*, updates: int = 120, seed: int = 0) -> dict[str, Any]:
    """Bytes and I2C milliseconds per update of a typical run, partial against full."""
    try:
        from luma.oled.device import ssd1306
    except ImportError:
        return {"skipped": "luma.oled is not installed"}
    from aoc.display.partial import PartialUpdater, RecordingSerial, i2c_time_ms
    from aoc.display.render import render
    from aoc.display.state import DisplayState

    wire = RecordingSerial()
    device = ssd1306(wire)
    wire.take()
    blank_state = DisplayState(anime=0.5, cartoon=0.2, verdict="anime", backend="edgetpu")
    device.display(render(blank_state, device.size))
    full = wire.take()
    updater = PartialUpdater(device, full_refresh_s=0)
    rng = np.random.default_rng(seed)
    anime, cartoon, fps = 0.6, 0.2, 30.0
    sizes, at_100k, at_400k = [], [], []
    per_view = max(2, updates // 3)
    for view in range(3):
        for i in range(per_view):
            anime = float(np.clip(anime + rng.normal(0, 0.02), 0, 1))
            cartoon = float(np.clip(cartoon + rng.normal(0, 0.02), 0, 1))
            fps = float(np.clip(fps + rng.normal(0, 1.0), 5, 99))
            verdict = "anime" if anime >= 0.5 else "uncertain"
            state = DisplayState(anime=anime, cartoon=cartoon, verdict=verdict,
                                 backend="edgetpu", fps=fps, view=view)
            report = updater.display(render(state, device.size))
            sent = wire.take()
            if i == 0:  # a new view redraws most of the screen: not a typical update
                continue
            sizes.append(report.bytes)
            at_100k.append(i2c_time_ms(sent, 100_000))
            at_400k.append(i2c_time_ms(sent, 400_000))
    full_bytes = sum(len(payload) for _, payload in full)
    return {
        "updates": len(sizes),
        "bytes_per_update": float(np.median(sizes)),
        "bytes_per_update_p95": float(np.percentile(sizes, 95)),
        "full_frame_bytes": full_bytes,
        "ms_per_update": {"100kHz": round(float(np.median(at_100k)), 2),
                          "400kHz": round(float(np.median(at_400k)), 2)},
        "full_frame_ms": {"100kHz": round(i2c_time_ms(full, 100_000), 2),
                          "400kHz": round(i2c_time_ms(full, 400_000), 2)},
    }


class PacedCamera:
    """A live source delivering ``frames`` at ``fps``: ``read`` returns a frame captured
    since the last one returned, waiting for the next if there is none (picamera2's
    ``capture_array``)."""

    is_live = True
    name = "paced"

    def __init__(self, frames: Sequence[np.ndarray], fps: float, *,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.frames = list(frames)
        self.interval = 1.0 / fps
        self._clock = clock
        self._t0: float | None = None
        self._last = -1
        self._wait = threading.Event()  # never set: a timed wait that is not a sleep loop

    def read(self) -> np.ndarray:
        """The newest frame, waiting for one newer than the last handed out."""
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        k = int((now - self._t0) / self.interval)
        if k <= self._last:
            k = self._last + 1
            self._wait.wait(max(0.0, self._t0 + k * self.interval - now))
        self._last = k
        return self.frames[k % len(self.frames)]

    def close(self) -> None:
        """Nothing to close."""


class WaitingClassifier:
    """A classifier whose invoke waits ``invoke_ms`` (an Edge TPU frees the CPU meanwhile)
    after the real :class:`~aoc.inference.preprocess.Preprocessor` filled its input buffer."""

    backend = "edgetpu"
    reason = "fake Edge TPU for the pipelining figure"
    labels = ("anime", "cartoon", "neither")

    def __init__(self, invoke_ms: float, size: tuple[int, int] = (224, 224)) -> None:
        from aoc.inference.preprocess import Preprocessor, PreprocessSpec

        self.input_size = size
        self._pre = Preprocessor(PreprocessSpec(*size))
        self._tensor = np.empty((1, size[1], size[0], 3), np.uint8)
        self._invoke_s = invoke_ms / 1e3
        self._wait = threading.Event()
        self._scores = np.array([0.6, 0.3, 0.1], np.float32)
        self.invoke_seconds: list[float] = []  # how long the waits really took

    def preprocess(self, frame: np.ndarray) -> None:
        """Fit and copy into the input buffer."""
        self._pre(frame, self._tensor)

    def invoke(self) -> None:
        """Wait like a TPU."""
        t0 = time.perf_counter()
        self._wait.wait(self._invoke_s)
        self.invoke_seconds.append(time.perf_counter() - t0)

    def postprocess(self) -> np.ndarray:
        """Fixed scores."""
        return self._scores


def _fps(source: Any, clf: Any, frames: int) -> float:
    from aoc.app.loop import run_loop
    from aoc.app.smoothing import Smoother
    from aoc.display.null import NullDisplay
    from aoc.display.threaded import ThreadedDisplay

    class ResultTimes:  # a LoopHook: when the first and the last result came, and how many
        def __init__(self) -> None:
            self.first = self.last = 0.0
            self.count = 0

        def on_result(self, stats: Any, first: bool) -> None:
            self.last = time.perf_counter()
            if self.count == 0:
                self.first = self.last
            self.count += 1

    times = ResultTimes()
    with ThreadedDisplay(NullDisplay()) as display:
        run_loop(source, clf, Smoother(clf.labels), display, max_frames=frames,
                 hooks=[times])
    # the rate between the first result and the last: N results span N-1 intervals (the
    # loop's own frames / seconds counts one frame too many over N-1 camera periods)
    return round((times.count - 1) / (times.last - times.first), 1)


def pipelined_figures(frames: Sequence[np.ndarray], *, invoke_ms: float = 3.0,
                      camera_fps: float = 60.0, n: int = 240,
                      bound_invoke_ms: float = 8.0, bound_camera_fps: float = 200.0,
                      ) -> dict[str, Any]:
    """Loop fps with and without prefetching: a camera-bound case (``camera_fps``,
    ``invoke_ms``: the target) and an invoke-bound one (``bound_*``). ``expected_fps``
    is min(camera fps, 1 / the measured median invoke): the fake's waits overrun a little
    on a loaded machine."""
    from aoc.app.pipeline import PrefetchSource

    def run(fps: float, wait_ms: float, pipelined: bool) -> dict[str, float]:
        camera = PacedCamera(frames, fps)
        clf = WaitingClassifier(wait_ms)
        if pipelined:
            with PrefetchSource(camera, size=clf.input_size) as source:
                got = _fps(source, clf, n)
        else:
            got = _fps(camera, clf, n)
        invoke = float(np.median(clf.invoke_seconds))
        return {"fps": got, "expected_fps": round(min(fps, 1.0 / invoke), 1),
                "invoke_ms": round(invoke * 1e3, 3)}

    def case(fps: float, wait_ms: float) -> dict[str, Any]:
        seq, pipe = run(fps, wait_ms, False), run(fps, wait_ms, True)
        return {"camera_fps": fps, "invoke_ms": wait_ms,
                "measured_invoke_ms": pipe["invoke_ms"], "expected_fps": pipe["expected_fps"],
                "sequential_fps": seq["fps"], "pipelined_fps": pipe["fps"],
                "pipelined_over_expected": round(pipe["fps"] / pipe["expected_fps"], 3)}

    result = case(camera_fps, invoke_ms)
    result["frame_size"] = f"{frames[0].shape[1]}x{frames[0].shape[0]}"
    result["invoke_bound"] = case(bound_camera_fps, bound_invoke_ms)
    return result


def tpu_like_rows(clf: Any, model_path: Path, by_size: dict[str, Sequence[np.ndarray]],
                  frames: int, *, head: Any = None,
                  wait_ms: float = TPU_LIKE_WAIT_MS) -> dict[str, Any]:
    """Both loops per size (``by_size``: key -> camera frames) with invoke replaced by a
    ``wait_ms`` wait and ours prefetching, as on an Edge TPU (see the module). Its
    ``capture`` stage is then the wait for the worker's fitted frame and ``preprocess`` the
    copy of a model-size frame into the tensor."""
    from aoc.bench.loops import compare

    keep = ("overhead_ms", "overhead_p95_ms", "baseline_overhead_ms",
            "baseline_overhead_p95_ms", "ratio", "stages_ms")
    rows = {}
    for key, size_frames in by_size.items():
        log.info("bench: %s frames, Edge-TPU-like invoke", key)
        row = compare(clf, model_path, size_frames, frames, head=head, wait_ms=wait_ms,
                      prefetch=True)
        rows[key] = {k: row[k] for k in keep}
    return {"invoke_wait_ms": wait_ms, "ours": "prefetch", "sizes": rows}
