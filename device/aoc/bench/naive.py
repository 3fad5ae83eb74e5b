"""The naive loops :mod:`aoc.bench.run` measures ours against, written as Coral's examples are.

* :func:`naive_loop`: Coral's ``examples-camera`` / pycoral's ``common.set_input`` and
  ``classify.get_classes`` way, as the speed issue wrote it down:
  ``Image.fromarray(frame).resize(size)`` with Pillow's default filter (bicubic for RGB:
  2.8 ms for 640x480 here, the issue's "about 2.7 ms"), copy into the input tensor,
  ``invoke``, dequantize, sort. No file decoding. A YUV420 frame is first converted the
  way one would write it, ``cv2.cvtColor(frame, cv2.COLOR_YUV2RGB_I420)`` (the numpy
  converter of :mod:`aoc.sources.yuv` without OpenCV).
* :func:`decode_loop`: decoding an image file per frame and resizing it with Lanczos
  (``Image.ANTIALIAS``), as pycoral's ``classify_image.py`` does (the bench's separate
  "decode" row: a camera never hands over files).

Both drive the interpreter through :class:`NaiveModel`, so they differ only in where a
frame comes from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

__all__ = [
    "DECODE_STAGES",
    "NAIVE_STAGES",
    "LoopTimes",
    "NaiveModel",
    "decode_loop",
    "naive_loop",
    "periods_of",
]

NAIVE_STAGES = ("resize", "set_input", "invoke", "get_classes")
DECODE_STAGES = ("decode_resize", "set_tensor", "invoke", "get_dequantize")


class LoopTimes(NamedTuple):
    """What a timed loop returns: seconds per stage (rows = frames, columns = its stages)
    and each frame's period, from its start to the next frame's start (NaN for the last
    frame): the period also counts the loop's own work between the timed stages."""

    stages: np.ndarray
    periods: np.ndarray


def periods_of(starts: Sequence[float]) -> np.ndarray:
    """Frame periods from the frames' start times (the last one unknown: NaN)."""
    return np.append(np.diff(np.asarray(starts, dtype=np.float64)), np.nan)


class NaiveModel:
    """An interpreter driven as pycoral's adapters drive it, with the bundle's ``head`` (if
    any) applied to the dequantized output, as a backbone's embedding needs."""

    def __init__(self, model_path: Path, *, delegates: Sequence[Any] = (),
                 num_threads: int | None = None, head: Any = None) -> None:
        from aoc.inference.runtime import find_runtime, make_interpreter

        self.interpreter = make_interpreter(find_runtime(), model_path, delegates=delegates,
                                            num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        _, height, width, _ = (int(d) for d in self._in["shape"])
        self.size = (width, height)
        self._head = head

    def set_input(self, pixels: np.ndarray) -> None:
        """pycoral's ``common.set_input``: quantize if the model wants it, copy into the
        input tensor."""
        inp = self._in
        scale, zero_point = inp["quantization"]
        if inp["dtype"] == np.float32:
            data = pixels.astype(np.float32)
        elif scale and not (inp["dtype"] == np.uint8 and scale == 1.0 and zero_point == 0):
            info = np.iinfo(inp["dtype"])
            data = np.clip(np.round(pixels.astype(np.float32) / scale + zero_point),
                           info.min, info.max).astype(inp["dtype"])
        else:
            data = pixels
        self.interpreter.tensor(inp["index"])()[0][:, :] = data

    def get_classes(self, top_k: int = 3) -> list[tuple[int, float]]:
        """pycoral's ``classify.get_classes``: dequantize, (head,) sort."""
        out = self._out
        scale, zero_point = out["quantization"]
        raw = self.interpreter.get_tensor(out["index"])[0]
        scores = (raw.astype(np.float32) - zero_point) * scale if scale else raw.copy()
        if self._head is not None:
            scores = self._head(scores.reshape(-1))
        top = np.argsort(-scores)[:top_k]
        return [(int(c), float(scores[c])) for c in top]


def naive_yuv_converter(width: int, height: int) -> Callable[[np.ndarray], np.ndarray]:
    """How a naive loop turns a YUV420 capture into RGB: one cv2 call, else numpy."""
    from aoc.opencv import optional_cv2

    cv2 = optional_cv2()
    if cv2 is None:
        from aoc.sources.yuv import yuv420_to_rgb

        return lambda frame: yuv420_to_rgb(frame, width, height)
    return lambda frame: cv2.cvtColor(frame, cv2.COLOR_YUV2RGB_I420)


def naive_loop(model_path: Path, frames: Sequence[np.ndarray], n: int, *,
               delegates: Sequence[Any] = (), num_threads: int | None = None,
               yuv: tuple[int, int] | None = None, head: Any = None,
               invoke: Callable[[], None] | None = None,
               clock: Callable[[], float] = time.perf_counter) -> LoopTimes:
    """Seconds per stage (columns = :data:`NAIVE_STAGES`) and periods. ``invoke``
    replaces the interpreter's after one real invoke (the Edge-TPU-like rows: a wait that
    leaves the CPU and its caches alone); the output read is then that real invoke's."""
    model = NaiveModel(model_path, delegates=delegates, num_threads=num_threads, head=head)
    to_rgb = naive_yuv_converter(*yuv) if yuv is not None else None
    if invoke is not None:
        model.interpreter.invoke()
    run = model.interpreter.invoke if invoke is None else invoke
    rows = np.zeros((n, len(NAIVE_STAGES)), dtype=np.float64)
    starts = np.zeros(n, dtype=np.float64)
    for i in range(n):
        frame = frames[i % len(frames)]
        t0 = clock()
        starts[i] = t0
        if to_rgb is not None:
            frame = to_rgb(frame)
        # Pillow's default filter, as examples-camera-style code calls it (no filter named);
        # Lanczos, classify_image's filter, made the baseline 40 % slower than the issue's
        image = Image.fromarray(frame).resize(model.size)
        t1 = clock()
        model.set_input(np.asarray(image))
        t2 = clock()
        run()
        t3 = clock()
        model.get_classes()
        t4 = clock()
        rows[i] = (t1 - t0, t2 - t1, t3 - t2, t4 - t3)
    return LoopTimes(rows, periods_of(starts))


def decode_loop(model_path: Path, images: Sequence[Path], n: int, *,
                delegates: Sequence[Any] = (), num_threads: int | None = None,
                head: Any = None, clock: Callable[[], float] = time.perf_counter) -> np.ndarray:
    """Seconds per stage (rows = frames, columns = :data:`DECODE_STAGES`) of the naive loop
    decoding ``images`` in turn, one file per frame."""
    model = NaiveModel(model_path, delegates=delegates, num_threads=num_threads, head=head)
    rows = np.zeros((n, len(DECODE_STAGES)), dtype=np.float64)
    for i in range(n):
        path = images[i % len(images)]
        t0 = clock()
        with Image.open(path) as opened:
            image = opened.convert("RGB").resize(model.size, Image.Resampling.LANCZOS)
        t1 = clock()
        model.set_input(np.asarray(image))
        t2 = clock()
        model.interpreter.invoke()
        t3 = clock()
        model.get_classes()
        t4 = clock()
        rows[i] = (t1 - t0, t2 - t1, t3 - t2, t4 - t3)
    return rows
