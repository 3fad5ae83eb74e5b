"""A small dense classification head run in numpy on a backbone's embedding.

Bundles of kind "compiled backbone + head" run a backbone that Coral compiled for the Edge
TPU (or its CPU twin) and then this head on the CPU. The head is plain numpy weights in
``head.npz`` (no pickles), loaded with :func:`load_head`:

* ``power`` (optional scalar, format ``dense-v2``): the embedding is first raised to this
  power, ``x = max(x, 0) ** power`` (0.5: the square root, which evens out the pooled
  activations; a linear head separates the classes better on it);
* ``shift`` and ``scale`` (``(D,)`` float32): the embedding is standardised,
  ``z = (x - shift) * scale``, where ``x`` is the backbone's dequantized output;
* ``w0, b0, w1, b1, ...``: dense layers, ``(D_in, D_out)`` and ``(D_out,)``, with ReLU
  between them and softmax after the last.

The same :class:`DenseHead` runs at training time (``aoc_train``) and on the device, so the
scores a build reports are the ones the device shows. numpy only.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aoc.errors import BundleError

log = logging.getLogger(__name__)

HEAD_FORMAT = "dense-v1"
HEAD_FORMAT_POWER = "dense-v2"  # dense-v1 with an input power
MAX_LAYERS = 4


def input_power(x: np.ndarray, power: float) -> np.ndarray:
    """What a head does to the embedding before its first layer: ``max(x, 0) ** power``
    (``x`` itself for power 1). Training calls this too, so both sides agree."""
    if power == 1.0:
        return x
    return np.power(np.maximum(x, 0.0), power).astype(x.dtype, copy=False)


@dataclass(frozen=True)
class DenseHead:
    """Standardise, dense layers with ReLU between, softmax: ``(..., D) -> (..., classes)``."""

    shift: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    power: float = 1.0

    @property
    def format(self) -> str:
        """The ``head.format`` this head needs: ``dense-v2`` only with an input power."""
        return HEAD_FORMAT if self.power == 1.0 else HEAD_FORMAT_POWER

    @property
    def input_dim(self) -> int:
        """Length of the embedding the head takes."""
        return int(self.shift.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of scores the head returns."""
        return int(self.biases[-1].shape[0])

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """``(D, hidden..., classes)``."""
        return (self.input_dim, *(int(b.shape[0]) for b in self.biases))

    def logits(self, embedding: np.ndarray) -> np.ndarray:
        """Pre-softmax scores for one ``(D,)`` or a batch ``(N, D)`` of float embeddings."""
        x = np.asarray(embedding, dtype=np.float32)
        x = input_power(x, self.power)
        x = (x - self.shift) * self.scale
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = x @ w + b
            if i < last:
                np.maximum(x, 0.0, out=x)
        return x

    def __call__(self, embedding: np.ndarray) -> np.ndarray:
        """Probabilities (float32, softmax over the last axis)."""
        z = self.logits(embedding)
        z = z - z.max(axis=-1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=-1, keepdims=True)
        return z.astype(np.float32, copy=False)

    def arrays(self) -> dict[str, np.ndarray]:
        """The ``head.npz`` arrays, by name."""
        out = {"shift": self.shift, "scale": self.scale}
        if self.power != 1.0:
            out["power"] = np.asarray(self.power, dtype=np.float32)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"w{i}"], out[f"b{i}"] = w, b
        return out


def make_head(
    shift: np.ndarray,
    scale: np.ndarray,
    weights: list[np.ndarray] | tuple[np.ndarray, ...],
    biases: list[np.ndarray] | tuple[np.ndarray, ...],
    *,
    power: float = 1.0,
    where: object = "head",
) -> DenseHead:
    """A checked :class:`DenseHead` (float32, contiguous, shapes that chain)."""

    def f32(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(a, dtype=np.float32))

    shift, scale = f32(shift), f32(scale)
    ws, bs = tuple(f32(w) for w in weights), tuple(f32(b) for b in biases)

    def bad(what: str) -> BundleError:
        return BundleError(
            f"head {where}: {what}; rebuild the bundle with aoc-train", path=where
        )

    if shift.ndim != 1 or scale.shape != shift.shape:
        raise bad(f"shift {shift.shape} and scale {scale.shape} must be equal (D,) vectors")
    if not ws or len(ws) != len(bs) or len(ws) > MAX_LAYERS:
        raise bad(f"needs 1 to {MAX_LAYERS} layers with one bias each, has {len(ws)} / {len(bs)}")
    d = shift.shape[0]
    for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
        if w.ndim != 2 or w.shape[0] != d or b.shape != (w.shape[1],):
            raise bad(
                f"layer {i} has weights {w.shape} and bias {b.shape}, expected ({d}, n), (n,)"
            )
        d = w.shape[1]
    named = [("shift", shift), ("scale", scale), *((f"w{i}", w) for i, w in enumerate(ws))]
    for name, a in named:
        if not np.isfinite(a).all():
            raise bad(f"array {name} holds NaN or infinity")
    if not (np.isfinite(power) and 0.0 < power <= 2.0):
        raise bad(f"input power {power} must be in (0, 2]")
    return DenseHead(shift, scale, ws, bs, float(power))


def load_head(path: str | os.PathLike[str]) -> DenseHead:
    """Read ``head.npz`` (see the module docstring); BundleError naming the file if unusable."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
        if magic != b"PK\x03\x04":  # numpy would speak of pickles and of trusting the file
            raise ValueError(f"not a .npz archive: it starts with {magic!r}")
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise BundleError(
            f"head file {path} cannot be read ({exc}): re-copy the bundle or rebuild it "
            "with aoc-train",
            path=path,
        ) from exc
    for key in ("shift", "scale", "w0", "b0"):
        if key not in arrays:
            raise BundleError(
                f"head file {path} has no array {key!r} (has {sorted(arrays)}): rebuild the "
                "bundle with aoc-train",
                path=path,
            )
    n = 0
    while f"w{n}" in arrays:
        n += 1
    weights = [arrays[f"w{i}"] for i in range(n)]
    biases = [arrays.get(f"b{i}", np.zeros(0)) for i in range(n)]
    power = arrays.get("power")
    if power is not None and power.shape != ():
        raise BundleError(f"head file {path}: array 'power' must be a scalar, has shape "
                          f"{power.shape}; rebuild the bundle with aoc-train", path=path)
    return make_head(arrays["shift"], arrays["scale"], weights, biases,
                     power=1.0 if power is None else float(power), where=path)


def save_head(head: DenseHead, path: str | os.PathLike[str]) -> Path:
    """Write ``head`` as an uncompressed ``.npz`` (no pickles)."""
    path = Path(path)
    with open(path, "wb") as f:
        np.savez(f, **head.arrays())
    return path


class QuantizedHead:
    """``head`` for one quantized embedding tensor (uint8 or int8 bytes), as the device runs
    it after every invoke: a 256-entry table replaces dequantizing and the input power, and
    the standardisation is folded into the first layer. Same scores as
    ``head(dequantize(raw))`` up to float rounding; a few microseconds per call."""

    def __init__(self, head: DenseHead, *, scale: float, zero_point: int, dtype: str) -> None:
        if dtype not in ("uint8", "int8"):
            raise BundleError(f"a quantized head needs a uint8 or int8 embedding, not {dtype}")
        self.head = head
        self._signed = dtype == "int8"
        codes = np.arange(256, dtype=np.float64)
        if self._signed:  # the table is indexed by the byte pattern of the int8 value
            codes = np.where(codes > 127, codes - 256, codes)
        x = (codes - zero_point) * scale
        x = input_power(x, head.power)
        self._table = x.astype(np.float32)
        w0 = head.weights[0].astype(np.float64)
        # stored transposed, (out, D) C-contiguous: right after an invoke (cold caches)
        # ``w0t.dot(x)`` costs less than ``x @ w0`` (measured: the whole call 72 against
        # 83 us, medians of 600 calls each after a real invoke, alternating with the old code)
        self._w0t = np.ascontiguousarray((w0 * head.scale[:, None]).T.astype(np.float32))
        self._b0 = (head.biases[0] - (head.shift.astype(np.float64) * head.scale) @ w0).astype(
            np.float32
        )
        self._b0_list = self._b0.tolist()
        self._deeper = tuple(zip(head.weights[1:], head.biases[1:], strict=True))

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Probabilities (float32) for one raw embedding tensor (any shape of D bytes)."""
        codes = raw.reshape(-1)
        if self._signed:
            codes = codes.view(np.uint8)
        x = self._w0t.dot(self._table.take(codes))
        if self._deeper:
            x += self._b0
            for w, b in self._deeper:
                np.maximum(x, 0.0, out=x)
                x = x @ w + b
            logits = x.tolist()
        else:
            logits = [v + b for v, b in zip(x.tolist(), self._b0_list, strict=True)]
        # the softmax of a few classes in plain floats: right after an invoke numpy's code
        # is out of the CPU caches, and each small array call costs tens of microseconds
        top = max(logits)
        e = [math.exp(v - top) for v in logits]
        total = sum(e)
        return np.array([v / total for v in e], np.float32)


def time_head(
    head: DenseHead,
    *,
    calls: int = 200,
    embedding: np.ndarray | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> np.ndarray:
    """Seconds per call of ``head`` on one embedding, ``calls`` times (for ``aoc bench``).

    The embedding defaults to ones (the head's cost does not depend on the values).
    """
    x = np.ones(head.input_dim, np.float32) if embedding is None else embedding
    out = np.empty(max(0, calls), np.float64)
    for i in range(out.size):
        t0 = clock()
        head(x)
        out[i] = clock() - t0
    return out
