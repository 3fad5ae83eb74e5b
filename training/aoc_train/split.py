"""Deterministic, source-aware train / val / test splits and cross-split duplicate detection.

* ``test`` is the held-out evaluation split: every image of the ``holdout_sources``, plus, for
  a class none of whose sources is held out, a hash-chosen ``class_test_fraction`` of each of
  its sources (so every class is evaluated).
* ``val`` (early stopping, model selection) is a hash-chosen ``val_fraction`` of the rest.
* ``train`` is everything else.

Membership depends only on the seed and each image's content hash, never on file order or
the machine, so a split is reproducible and an image copied twice lands in one split.
Near-duplicates (same picture re-encoded or resized) are found with the perceptual hash;
duplicates that straddle splits are removed from the evaluation side and listed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .data import Dataset, ImageRecord
from .errors import DataError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DuplicatePair:
    """Two images in different splits that are the same picture."""

    kept: str  # file kept (training side)
    dropped: str  # file removed from the evaluation side
    kind: str  # "exact" (same bytes) or "near" (perceptual hash distance <= threshold)
    distance: int


@dataclass(frozen=True)
class Split:
    """Record indices per split plus what was removed and why."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    holdout_sources: tuple[str, ...]
    duplicates: tuple[DuplicatePair, ...] = field(default=())

    def indices(self, name: str) -> tuple[int, ...]:
        """Indices of split ``name`` (one of :data:`SPLITS`)."""
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; use one of {SPLITS}")
        return getattr(self, name)


def unit_hash(seed: int, key: str) -> float:
    """A deterministic number in [0, 1) from a seed and a string."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _dhash_matrix(records: Sequence[ImageRecord]) -> np.ndarray:
    return np.stack(
        [np.frombuffer(bytes.fromhex(r.dhash), dtype=np.uint64) for r in records]
    ) if records else np.zeros((0, 4), dtype=np.uint64)


_POPCOUNT8 = np.array([bin(v).count("1") for v in range(256)], dtype=np.uint8)


def hamming_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between every row of ``a`` (n, words) and of ``b`` (m, words),
    unsigned integer hashes -> (n, m) counts.

    numpy 2's ``bitwise_count`` where there is one; on numpy 1.x (the Raspberry Pi OS
    Bookworm numpy, 1.24, which the project supports) a table of the 256 byte counts, the
    same counts.
    """
    diff = a[:, None, :] ^ b[None, :, :]
    count = getattr(np, "bitwise_count", None)
    if count is not None:
        return count(diff).sum(axis=2, dtype=np.int64)
    as_bytes = np.ascontiguousarray(diff).view(np.uint8)  # (n, m, 8 * words)
    return _POPCOUNT8[as_bytes].sum(axis=2, dtype=np.int64)


MIN_HASH_BITS = 16
"""A difference hash with fewer set bits than this (or fewer clear ones) says little: a flat
or nearly flat picture (all bits 0) or a smooth left-to-right ramp (all 1). Such pictures
are matched by their bytes (sha256) only, or every flat picture would be one "copy"."""


def informative_hashes(hashes: np.ndarray) -> np.ndarray:
    """Which rows of ``hashes`` (n, words) carry enough bits to be compared (bool, n)."""
    bits = hashes.shape[1] * 64
    ones = hamming_distances(hashes, np.zeros((1, hashes.shape[1]), hashes.dtype))[:, 0]
    return (ones >= MIN_HASH_BITS) & (ones <= bits - MIN_HASH_BITS)


def find_cross_duplicates(
    records: Sequence[ImageRecord],
    keep: Sequence[int],
    check: Sequence[int],
    *,
    max_distance: int = 12,
) -> list[DuplicatePair]:
    """Images in ``check`` that duplicate one in ``keep``: same sha256 or near perceptual hash.

    ``max_distance`` is a Hamming distance over the 256-bit hash; 12 (under 5 %) catches
    re-encodes and rescales while distinct pictures differ by ~100 bits.
    """
    by_sha = {records[i].sha256: i for i in keep}
    pairs: list[DuplicatePair] = []
    rest: list[int] = []
    for i in check:
        j = by_sha.get(records[i].sha256)
        if j is not None:
            pairs.append(DuplicatePair(records[j].file, records[i].file, "exact", 0))
        else:
            rest.append(i)
    if not rest or not keep or max_distance < 0:
        return pairs
    keep_list = list(keep)
    kh = _dhash_matrix([records[i] for i in keep_list])
    ch = _dhash_matrix([records[i] for i in rest])
    far = kh.shape[1] * 64 + 1  # beyond any distance: never a near match
    keep_ok, check_ok = informative_hashes(kh), informative_hashes(ch)
    for start in range(0, len(rest), 256):
        block = ch[start:start + 256]
        dist = hamming_distances(block, kh)
        dist[:, ~keep_ok] = far
        dist[~check_ok[start:start + 256], :] = far
        best = dist.argmin(axis=1)
        for row, col in enumerate(best):
            d = int(dist[row, col])
            if d <= max_distance:
                pairs.append(DuplicatePair(records[keep_list[col]].file,
                                           records[rest[start + row]].file, "near", d))
    return pairs


def near_duplicate_groups(records: Sequence[ImageRecord], indices: Sequence[int], *,
                          max_distance: int = 12) -> dict[int, int]:
    """Each of ``indices`` -> the first index of its group: pictures within
    ``max_distance`` bits of perceptual hash (the test of :func:`find_cross_duplicates`),
    or with the same bytes, chained, are one group (copies, re-encodes, rescales of one
    picture). Flat pictures (:data:`MIN_HASH_BITS`) are grouped by their bytes only."""
    idx = list(indices)
    parent = list(range(len(idx)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def join(a: int, b: int) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first_of: dict[str, int] = {}
    for k, i in enumerate(idx):
        join(first_of.setdefault(records[i].sha256, k), k)
    hashes = _dhash_matrix([records[i] for i in idx])
    ok = informative_hashes(hashes)
    for start in range(0, len(idx), 256):
        block = hashes[start:start + 256]
        near = hamming_distances(block, hashes) <= max_distance
        near[:, ~ok] = False
        near[~ok[start:start + 256], :] = False
        for a, b in zip(*np.nonzero(near), strict=True):
            join(start + int(a), int(b))
    return {i: idx[root(k)] for k, i in enumerate(idx)}


def make_split(
    dataset: Dataset,
    *,
    holdout_sources: Sequence[str] = (),
    val_fraction: float = 0.1,
    class_test_fraction: float = 0.2,
    seed: int = 1234,
    max_duplicate_distance: int = 12,
) -> Split:
    """Split ``dataset`` deterministically (see the module docstring)."""
    records = dataset.records
    known = {r.source for r in records}
    unknown = sorted(set(holdout_sources) - known)
    if unknown:
        raise DataError(f"held-out sources {unknown} are not in the data "
                        f"(sources: {sorted(known)}); name your own with --holdout-sources, "
                        "or build as the default model is built, from Coral's compiled "
                        "backbone: --backbone coral-mobilenet-v1-embedding --backbone-dir DIR")
    if not 0 <= val_fraction < 1 or not 0 <= class_test_fraction < 1:
        raise DataError("val_fraction and class_test_fraction must be in [0, 1)")
    held = set(holdout_sources)
    covered = {r.label for r in records if r.source in held}
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for i, r in enumerate(records):
        u = unit_hash(seed, r.sha256)
        if r.source in held or (r.label not in covered and u < class_test_fraction):
            test.append(i)
        elif unit_hash(seed + 1, r.sha256) < val_fraction:
            val.append(i)
        else:
            train.append(i)
    dups = find_cross_duplicates(records, train, val + test,
                                 max_distance=max_duplicate_distance)
    if len(val) and len(test):
        dups += find_cross_duplicates(records, val, test, max_distance=max_duplicate_distance)
    dropped = {d.dropped for d in dups}
    val = [i for i in val if records[i].file not in dropped]
    test = [i for i in test if records[i].file not in dropped]
    for name, idx in (("train", train), ("test", test)):
        labels = {records[i].label for i in idx}
        if idx and len(labels) < len(dataset.classes):
            missing = sorted(set(dataset.classes) - labels)
            fix = ("hold out fewer sources" if held else
                   "add images of them (dozens at least), or a manifest.csv naming their "
                   "sources")
            raise DataError(f"split {name!r} has no images of {missing}; {fix}")
    return Split(tuple(train), tuple(val), tuple(test), tuple(sorted(held)), tuple(dups))


def balanced_weights(records: Sequence[ImageRecord], indices: Sequence[int],
                     classes: Sequence[str], *, source_power: float = 0.5) -> np.ndarray:
    """Per-sample weights giving every class equal total weight; within a class each source
    gets weight proportional to ``count ** source_power`` (0.5: big sources still count more,
    but a 1,500-image source no longer drowns a 100-image one). Mean weight is 1.
    """
    by_class_source: dict[tuple[str, str], int] = {}
    for i in indices:
        key = (records[i].label, records[i].source)
        by_class_source[key] = by_class_source.get(key, 0) + 1
    class_total: dict[str, float] = {}
    for (label, _), n in by_class_source.items():
        class_total[label] = class_total.get(label, 0.0) + n**source_power
    present = [c for c in classes if c in class_total]
    w = np.empty(len(indices), dtype=np.float64)
    for k, i in enumerate(indices):
        label, source = records[i].label, records[i].source
        n = by_class_source[(label, source)]
        share = n**source_power / class_total[label]  # this source's share of its class
        w[k] = share / n / len(present)
    return (w / w.mean()).astype(np.float32) if len(w) else w.astype(np.float32)


def shared_with_other_sources(records: Sequence[ImageRecord],
                              sources: Sequence[str]) -> np.ndarray:
    """Which images also appear in another source of their class (same bytes, or within
    the perceptual hash distance of :func:`find_cross_duplicates`): when their source is held
    out, the head has still seen the picture, so their held-out scores are optimistic. (A
    twin in another class is a label conflict, not counted here: the scan warns of one with
    the same bytes, not of a re-encoded one.)"""
    src = np.asarray(sources)
    label = np.asarray([r.label for r in records])
    shared = np.zeros(len(records), bool)
    for s in sorted(set(sources)):
        check = np.flatnonzero(src == s)
        same_class = (src != s) & (label == label[check[0]])
        pairs = find_cross_duplicates(records, list(np.flatnonzero(same_class)), list(check))
        dropped = {p.dropped for p in pairs}
        shared[check] = [records[i].file in dropped for i in check]
    return shared
