"""Image arrays for training and evaluation, cached as ``.npy`` files.

:func:`build_views` makes one array per mode (:data:`MODES`):

* "augmented" -- ``k`` augmented views per training image (``(n, k, s, s, 3)`` uint8),
  generated in worker processes. Head training runs over the backbone features of these
  fixed views and fine-tuning cycles through them, so augmentation costs once.
* "clean" -- the device's own preprocessing (centre crop, resize).
* "screen" -- clean views passed through the screen-capture chain with a fixed seed, for
  the robustness score.

Every image's random stream derives from the seed and its content hash, so results do not
depend on the number of workers or the file order. Collage partners (:func:`collage_partners`)
are the exception: they are picked from the records of the image's source in the order given,
which the scan keeps sorted, so a build still repeats itself.
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

from aoc.preprocess import resize_frame

from . import augment
from .data import ImageRecord, read_rgb

log = logging.getLogger(__name__)

AUGMENT_VERSION = 4  # bump when augment.py changes behaviour, to invalidate caches
COLLAGE_PARTNERS = 3  # other pictures of its source loaded with each image for collages
PARTNER_STREAM = 1_000_003  # random stream of partner choice, apart from the views' 0..k-1
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
           screen_strength: float, *, partners: Sequence[np.ndarray] = (),
           collage_p: float = 0.0) -> np.ndarray:
    """One (side, side, 3) uint8 view of ``image`` in ``mode`` (see :data:`MODES`);
    ``partners`` (pictures of the same source) and ``collage_p`` only for "augmented"."""
    if mode == "augmented":
        return augment.training_view(image, rng, side, screen_strength=screen_strength,
                                     partners=partners, collage_p=collage_p)
    # the device's own resize (centre crop, Lanczos), so evaluation sees what it sees
    clean = resize_frame(image, (side, side), "center_crop", resample="lanczos")
    if mode == "clean":
        return clean
    return augment.screen_capture(clean, rng, strength=screen_strength)


def collage_partners(records: Sequence[ImageRecord], seed: int,
                     count: int = COLLAGE_PARTNERS) -> list[list[int]]:
    """For each record, up to ``count`` indices of other records of the same source and
    label, drawn with the seed and the record's content hash from those records in the order
    given (the scan's sorted order): the same records in the same order give the same
    partners."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault((r.source, r.label), []).append(i)
    partners = []
    for i, r in enumerate(records):
        others = [j for j in groups[(r.source, r.label)] if j != i]
        n = min(count, len(others))
        rng = image_rng(seed, r.sha256, PARTNER_STREAM)
        partners.append([others[int(j)] for j in rng.choice(len(others), n, replace=False)]
                        if n else [])
    return partners


def _work(args: tuple) -> int:
    out_path, shape, start, items, mode, side, k, seed, strength, collage_p = args
    out = np.lib.format.open_memmap(out_path, mode="r+")
    for row, (path, sha, partner_paths) in enumerate(items, start=start):
        image = np.asarray(read_rgb(Path(path)))
        partners = [np.asarray(read_rgb(Path(q))) for q in partner_paths]
        for v in range(k):
            view = render(image, mode, side, image_rng(seed, sha, v), strength,
                          partners=partners, collage_p=collage_p)
            if out.ndim == 5:
                out[row, v] = view
            else:
                out[row] = view
    out.flush()
    del out
    return len(items)


def cache_key(records: Sequence[ImageRecord], mode: str, side: int, k: int, seed: int,
              strength: float, collage_p: float = 0.0) -> str:
    """A short hash naming one cached array."""
    settings: list = [AUGMENT_VERSION, mode, side, k, seed, strength]
    if collage_p > 0:  # keyed only when on, so caches made before collages stay valid
        settings.append(collage_p)
    h = hashlib.sha256(json.dumps(settings).encode())
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
    collage_p: float = 0.0,
    workers: int = 2,
    progress: Callable[[Iterable, int], Iterable] | None = None,
) -> np.ndarray:
    """The cached views array for ``records`` (computing it if missing), memory-mapped.

    Shape ``(n, k, side, side, 3)`` for mode "augmented", else ``(n, side, side, 3)``.
    ``collage_p``: the share of augmented views that are collages of the image with others
    of its source (:mod:`.collage`).
    """
    if mode not in MODES:
        raise ValueError(f"unknown view mode {mode!r}; use one of {MODES}")
    if not 0 <= collage_p <= 1:
        raise ValueError(f"collage share must be within 0..1, not {collage_p}")
    k = k if mode == "augmented" else 1
    collage_p = collage_p if mode == "augmented" else 0.0
    key = cache_key(records, mode, side, k, seed, screen_strength, collage_p)
    path = Path(cache_dir) / f"views-{mode}-{side}-{key}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r")
    shape = ((len(records), k, side, side, 3) if mode == "augmented"
             else (len(records), side, side, 3))
    tmp = path.with_suffix(".partial.npy")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape).flush()
    partners = (collage_partners(records, seed) if collage_p > 0
                else [[] for _ in records])
    items = [(str(root / r.file), r.sha256, [str(root / records[j].file) for j in js])
             for r, js in zip(records, partners, strict=True)]
    chunk = 64
    jobs = [(str(tmp), shape, s, items[s:s + chunk], mode, side, k, seed, screen_strength,
             collage_p) for s in range(0, len(items), chunk)]
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
