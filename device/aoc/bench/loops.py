"""Our loop as :mod:`aoc.bench.run` measures it, and :func:`compare`, which times it against
the naive loop (:mod:`aoc.bench.naive`) per camera size, on the same in-memory frames.

:func:`our_loop` is :func:`aoc.app.loop.run_loop` with the real classifier (resize straight
into the input tensor with ``area_linear``), smoothing and a threaded null display; a YUV420
frame is converted by :mod:`aoc.sources.yuv` (fused with the first 2x area step when the
model is at most half the frame size).

Both read the same list of frames, prepared before the clock starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aoc.bench.naive import LoopTimes, periods_of

log = logging.getLogger(__name__)


def summarize_ms(values_s: np.ndarray) -> dict[str, float]:
    """Median and p95 in milliseconds."""
    if values_s.size == 0:
        return {"median": 0.0, "p95": 0.0}
    return {"median": round(float(np.median(values_s)) * 1e3, 4),
            "p95": round(float(np.percentile(values_s, 95)) * 1e3, 4)}


def camera_frames(images: Sequence[Path], size: tuple[int, int]) -> list[np.ndarray]:
    """The images as RGB frames of ``size`` (stretched, bicubic): what a camera hands over."""
    frames = []
    for path in images:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize(size, Image.Resampling.BICUBIC)
        frames.append(np.ascontiguousarray(np.asarray(rgb)))
    return frames


def rgb_to_yuv420(frame: np.ndarray) -> np.ndarray:
    """A full-range BT.601 I420 capture of ``frame``, laid out like picamera2's YUV420."""
    rgb = frame.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - y) / 1.772 + 128.0
    v = (r - y) / 1.402 + 128.0
    h, w = y.shape

    def sub(c: np.ndarray) -> np.ndarray:
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = [np.clip(np.rint(p), 0, 255).astype(np.uint8).reshape(-1)
              for p in (y, sub(u), sub(v))]
    return np.concatenate(planes).reshape(h * 3 // 2, w)


class MemorySource:
    """Cycles through frames prepared in memory; ``read`` hands them over without a copy.

    ``yuv=(width, height)`` means the frames are YUV420 captures of that size, converted
    to RGB by :mod:`aoc.sources.yuv` into a preallocated buffer (at half size when
    ``half=True``).
    """

    is_live = False

    def __init__(self, frames: Sequence[np.ndarray], *, name: str = "memory",
                 yuv: tuple[int, int] | None = None, half: bool = False) -> None:
        self.frames = list(frames)
        self.name = name
        self._i = 0
        self._yuv = yuv
        self._half = half
        self._rgb: np.ndarray | None = None
        if yuv is not None:
            w, h = (yuv[0] // 2, yuv[1] // 2) if half else yuv
            self._rgb = np.empty((h, w, 3), np.uint8)

    def read(self) -> np.ndarray:
        """The next frame (RGB)."""
        frame = self.frames[self._i % len(self.frames)]
        self._i += 1
        if self._yuv is None:
            return frame
        from aoc.sources.yuv import yuv420_to_rgb_full, yuv420_to_rgb_half

        convert = yuv420_to_rgb_half if self._half else yuv420_to_rgb_full
        return convert(frame, *self._yuv, out=self._rgb)

    def open(self) -> None:
        """Nothing to open."""

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> MemorySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WaitingInvoke:
    """``clf`` with its invoke replaced by a wait of ``wait_ms`` (as an Edge TPU's invoke
    is: the CPU and its caches are left alone meanwhile). Preprocess and postprocess are
    the real classifier's; postprocess reads the output of one real invoke made first."""

    def __init__(self, clf: Any, wait_ms: float) -> None:
        self._clf = clf
        self._wait_s = wait_ms / 1e3
        self._event = threading.Event()
        self._primed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clf, name)

    def invoke(self) -> None:
        """One real invoke the first time (so postprocess has an output), then waits."""
        if not self._primed:
            self._clf.invoke()
            self._primed = True
            return
        self.wait()

    def wait(self) -> None:
        """The wait alone (the naive loop's replacement invoke)."""
        self._event.wait(self._wait_s)


class _ReadStamps:
    """``source`` with the time of each ``read`` call kept: the start of each frame of
    :func:`aoc.app.loop.run_loop` (its capture stage begins with the read)."""

    def __init__(self, source: Any, clock: Any = time.perf_counter) -> None:
        self._source = source
        self._clock = clock
        self.starts: list[float] = []

    def read(self) -> Any:
        self.starts.append(self._clock())
        return self._source.read()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


def our_loop(clf: Any, source: Any, n: int, *, hooks: Sequence[Any] = ()) -> LoopTimes:
    """Seconds per stage of :func:`aoc.app.loop.run_loop` (columns = ``loop.STAGES``) and
    its frame periods, which also count the loop's work between stages (statistics,
    ``hooks``)."""
    from aoc.app.loop import run_loop
    from aoc.app.smoothing import Smoother
    from aoc.display.null import NullDisplay
    from aoc.display.threaded import ThreadedDisplay

    stamped = _ReadStamps(source)
    with ThreadedDisplay(NullDisplay()) as display:
        stats = run_loop(stamped, clf, Smoother(clf.labels), display, max_frames=n,
                         timings_capacity=max(n, 1), hooks=tuple(hooks))
    stages = stats.timings.samples()
    # every read gave a frame (memory sources never fail), so reads and rows pair up
    return LoopTimes(stages, periods_of(stamped.starts[: len(stages)]))


def our_source(clf: Any, frames: Sequence[np.ndarray], *, yuv: tuple[int, int] | None = None,
               half: bool = False, prefetch: bool = False) -> Any:
    """Our loop's source of ``frames``; with ``prefetch`` wrapped in
    :class:`aoc.app.pipeline.PrefetchSource`, as ``aoc run`` does on an Edge TPU (frames are
    then fitted by its worker thread while the loop waits in invoke)."""
    source = MemorySource(frames, yuv=yuv, half=half)
    if not prefetch:
        return source
    from aoc.app.pipeline import PrefetchSource

    return PrefetchSource(source, size=clf.input_size, policy=clf.preprocess_spec.resize)


def compare(clf: Any, model_path: Path, frames: Sequence[np.ndarray], n: int, *,
            delegates: Sequence[Any] = (), yuv: tuple[int, int] | None = None,
            head: Any = None, wait_ms: float | None = None, prefetch: bool = False,
            num_threads: int | None = None, rounds: int = 3) -> dict[str, Any]:
    """Both loops on ``frames``, alternating in ``rounds`` chunks (the load drifts), ->
    per-stage and overhead median/p95 (ms), ratio and loop-over-invoke. With ``wait_ms``
    both loops' invoke is a wait of that long (:class:`WaitingInvoke`); ``prefetch``
    runs ours as ``aoc run`` does on an Edge TPU (:func:`our_source`). The naive loop's
    interpreter gets ``num_threads``: ``clf``'s, so both invokes leave the caches alike."""
    from aoc.app.loop_stats import STAGES
    from aoc.bench.naive import NAIVE_STAGES, naive_loop

    half = False
    if yuv is not None:
        width, height = clf.input_size
        half = 2 * width <= yuv[0] and 2 * height <= yuv[1]
    # n frames in all, the remainder spread over the first chunks; the last frame of a
    # chunk has no period: two at least
    chunks = [max(2, n // rounds + (i < n % rounds)) for i in range(rounds)]
    ours, naive = [], []
    waiting = None if wait_ms is None else WaitingInvoke(clf, wait_ms)  # one real invoke
    for chunk in chunks:
        with our_source(clf, frames, yuv=yuv, half=half, prefetch=prefetch) as source:
            ours.append(our_loop(waiting or clf, source, chunk))
        naive.append(naive_loop(model_path, frames, chunk, delegates=delegates, yuv=yuv,
                                head=head, invoke=None if waiting is None else waiting.wait,
                                num_threads=num_threads))
    o = np.concatenate([t.stages for t in ours])
    b = np.concatenate([t.stages for t in naive])
    # a frame's overhead is its period (start to next start) less its invoke: the loop's
    # work between the timed stages counts too; the last frame of each chunk has no period
    period_o = np.concatenate([t.periods for t in ours])
    period_b = np.concatenate([t.periods for t in naive])
    inv_o, inv_b = STAGES.index("invoke"), NAIVE_STAGES.index("invoke")
    known_o, known_b = ~np.isnan(period_o), ~np.isnan(period_b)
    over_o = period_o[known_o] - o[known_o, inv_o]
    over_b = period_b[known_b] - b[known_b, inv_b]
    row: dict[str, Any] = {
        "frames": int(o.shape[0]),
        "stages_ms": {name: summarize_ms(o[:, k]) for k, name in enumerate(STAGES)},
        "between_stages_ms": summarize_ms(period_o[known_o] - o[known_o].sum(axis=1)),
        "baseline_stages_ms": {name: summarize_ms(b[:, k])
                               for k, name in enumerate(NAIVE_STAGES)},
        "overhead": summarize_ms(over_o),
        "baseline_overhead": summarize_ms(over_b),
    }
    row["overhead_ms"] = row["overhead"]["median"]
    row["overhead_p95_ms"] = row["overhead"]["p95"]
    row["baseline_overhead_ms"] = row["baseline_overhead"]["median"]
    row["baseline_overhead_p95_ms"] = row["baseline_overhead"]["p95"]
    row["ratio"] = (round(row["baseline_overhead_ms"] / row["overhead_ms"], 2)
                    if row["overhead_ms"] > 0 else None)
    invoke = float(np.median(o[:, inv_o]))
    row["invoke_ms"] = round(invoke * 1e3, 4)
    row["loop_over_invoke"] = (round(float(np.median(period_o[known_o])) / invoke, 3)
                               if invoke > 0 else None)
    row["fps"] = round(1.0 / float(np.median(period_o[known_o])), 1)
    row["baseline_fps"] = round(1.0 / float(np.median(period_b[known_b])), 1)
    if yuv is not None:
        row["yuv_conversion"] = "half" if half else "full"
    return row
