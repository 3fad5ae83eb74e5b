"""Image arrays for training and evaluation, cached as ``.npy`` files.

:func:`build_views` makes one array per mode (:data:`MODES`):

* "augmented" -- ``k`` augmented views per training image (``(n, k, s, s, 3)`` uint8),
  generated in worker processes. Head training and the top-tune run over the backbone
  features (activations) of these fixed views, so augmentation costs once.
* "clean" -- the device's own preprocessing (centre crop, resize).
* "screen" -- clean views passed through the screen-capture chain with a fixed seed, for
  the robustness score.

Every image's random stream derives from the seed and its content hash, so results do not
depend on the number of workers or the file order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from aoc.inference.resize import resize_frame

from . import augment
from .data import ImageRecord, read_rgb

log = logging.getLogger(__name__)

AUGMENT_VERSION = 5  # bump when augment.py or the image decoding changes behaviour
# 5: pictures are read as the device reads them (EXIF orientation, 16-bit scaled)
MODES = ("augmented", "clean", "screen")


def cached_arrays(path: Path | None,
                  compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays saved at ``path`` (an ``.npz``), else ``compute()``'s, saved there first.
    ``path`` None: compute and keep nothing (the inputs have no stable key)."""
    if path is not None and path.is_file():
        with np.load(path) as cached:
            return {name: cached[name] for name in cached.files}
    arrays = compute()
    if path is not None:
        # written beside and renamed: an interrupted save (a killed build, a full disk)
        # must not leave a truncated cache that the resumed build would then load
        tmp = path.with_name(path.name + ".partial")
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)
        tmp.replace(path)
    return arrays


def image_rng(seed: int, sha256: str, view: int) -> np.random.Generator:
    """The random stream of one view of one image."""
    return np.random.default_rng([seed, int(sha256[:15], 16), view])


def render(image: np.ndarray, mode: str, side: int, rng: np.random.Generator,
           screen_strength: float) -> np.ndarray:
    """One (side, side, 3) uint8 view of ``image`` in ``mode`` (see :data:`MODES`)."""
    if mode == "augmented":
        return augment.training_view(image, rng, side, screen_strength=screen_strength)
    # the device's own resize (centre crop, Lanczos), so evaluation sees what it sees
    clean = resize_frame(image, (side, side), "center_crop", resample="lanczos")
    if mode == "clean":
        return clean
    return augment.screen_capture(clean, rng, strength=screen_strength)


def _work(args: tuple) -> int:
    out_path, shape, start, items, mode, side, k, seed, strength = args
    out = np.lib.format.open_memmap(out_path, mode="r+")
    for row, (path, sha) in enumerate(items, start=start):
        image = np.asarray(read_rgb(Path(path)))
        for v in range(k):
            view = render(image, mode, side, image_rng(seed, sha, v), strength)
            if out.ndim == 5:
                out[row, v] = view
            else:
                out[row] = view
    out.flush()
    del out
    return len(items)


def cache_key(records: Sequence[ImageRecord], mode: str, side: int, k: int, seed: int,
              strength: float) -> str:
    """A short hash naming one cached array."""
    h = hashlib.sha256(json.dumps([AUGMENT_VERSION, mode, side, k, seed, strength]).encode())
    for r in records:
        h.update(r.sha256.encode())
    return h.hexdigest()[:16]


def build_views(
    root: Path,
    records: Sequence[ImageRecord],
    *,
    mode: str,
    side: int,
    cache_dir: Path,
    k: int = 1,
    seed: int = 0,
    screen_strength: float = 1.0,
    workers: int = 2,
    progress: Callable[[Iterable, int], Iterable] | None = None,
) -> np.ndarray:
    """The cached views array for ``records`` (computing it if missing), memory-mapped.

    Shape ``(n, k, side, side, 3)`` for mode "augmented", else ``(n, side, side, 3)``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown view mode {mode!r}; use one of {MODES}")
    k = k if mode == "augmented" else 1
    key = cache_key(records, mode, side, k, seed, screen_strength)
    path = Path(cache_dir) / f"views-{mode}-{side}-{key}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r")
    shape = ((len(records), k, side, side, 3) if mode == "augmented"
             else (len(records), side, side, 3))
    tmp = path.with_suffix(".partial.npy")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape).flush()
    items = [(str(root / r.file), r.sha256) for r in records]
    chunk = 64
    jobs = [(str(tmp), shape, s, items[s:s + chunk], mode, side, k, seed, screen_strength)
            for s in range(0, len(items), chunk)]
    done = progress(None, len(items)) if progress else None
    if workers > 1 and len(jobs) > 1:
        # spawn, not fork: the parent may already hold TensorFlow's threads.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            for n in pool.map(_work, jobs):
                if done is not None:
                    done.update(n)
    else:
        for job in jobs:
            n = _work(job)
            if done is not None:
                done.update(n)
    if done is not None:
        done.close()
    tmp.replace(path)
    return np.load(path, mmap_mode="r")
