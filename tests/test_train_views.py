"""aoc_train.views: cached view arrays (deterministic per image) and cached_arrays."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from fakes.labelled_images import make_tree

from aoc_train.data import scan_dataset
from aoc_train.views import AUGMENT_VERSION, build_views, cache_key, cached_arrays, collage_partners


def test_cached_arrays_computes_once_then_loads(tmp_path: Path) -> None:
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"a": np.arange(3), "b": np.ones((2, 2), np.float16)}

    path = tmp_path / "x.npz"
    first = cached_arrays(path, compute)
    again = cached_arrays(path, compute)
    assert len(calls) == 1 and path.is_file()
    np.testing.assert_array_equal(again["a"], first["a"])
    assert again["b"].dtype == np.float16
    cached_arrays(None, compute)  # no key: computed, nothing written
    assert len(calls) == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["x.npz"]


def test_views_do_not_depend_on_order_or_workers(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "data", per_source=2)
    recs = list(scan_dataset(root).records)
    common = dict(mode="augmented", side=32, k=2, seed=3)
    a = build_views(root, recs, cache_dir=tmp_path / "c1", workers=1, **common)
    b = build_views(root, recs[::-1], cache_dir=tmp_path / "c2", workers=1, **common)
    assert a.shape == (len(recs), 2, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b[::-1])
    assert not np.array_equal(a[:, 0], a[:, 1])  # two views differ
    with pytest.raises(ValueError, match="unknown view mode"):
        build_views(root, recs, cache_dir=tmp_path, mode="sideways", side=32)


def test_collage_partners_come_from_the_same_source_and_repeat(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "data", per_source=6)
    recs = list(scan_dataset(root).records)
    partners = collage_partners(recs, seed=5)
    for r, js in zip(recs, partners, strict=True):
        assert len(js) == 3 and len(set(js)) == 3
        assert all(recs[j].source == r.source and recs[j] is not r for j in js)
    # a new scan of the same folder (same sorted order) gives the same partners
    assert collage_partners(list(scan_dataset(root).records), seed=5) == partners
    # three of five others: the choice differs between images and between seeds
    assert len({frozenset(js) for js in partners}) > 1
    assert collage_partners(recs, seed=6) != partners
    assert collage_partners(recs[:1], seed=5) == [[]]  # alone in its source: no partner


def test_collage_views_are_cached_apart_and_keys_of_old_caches_stay(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "data", per_source=3)
    recs = list(scan_dataset(root).records)
    common = dict(mode="augmented", side=32, k=2, seed=3, cache_dir=tmp_path / "c", workers=1)
    plain = build_views(root, recs, **common)
    mixed = build_views(root, recs, collage_p=1.0, **common)
    assert len(list((tmp_path / "c").glob("views-*.npy"))) == 2
    assert not np.array_equal(plain, mixed)
    # without collages the key is the one caches were made under before collages existed
    old = hashlib.sha256(json.dumps([AUGMENT_VERSION, "augmented", 32, 2, 3, 1.0]).encode())
    for r in recs:
        old.update(r.sha256.encode())
    assert cache_key(recs, "augmented", 32, 2, 3, 1.0, 0.0) == old.hexdigest()[:16]
    assert cache_key(recs, "augmented", 32, 2, 3, 1.0, 0.5) != old.hexdigest()[:16]
    with pytest.raises(ValueError, match="collage share must be within 0..1"):
        build_views(root, recs, collage_p=1.5, **common)


def test_cached_arrays_leaves_no_cache_when_the_save_fails(tmp_path: Path, monkeypatch) -> None:
    """A save cut short must not leave a file that the next run would load as the cache."""
    path = tmp_path / "x.npz"

    def broken_savez(fh, **arrays) -> None:
        fh.write(b"PK\x03\x04 truncated")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="No space left"):
        cached_arrays(path, lambda: {"a": np.arange(3)})
    assert not path.exists()
    monkeypatch.undo()
    assert cached_arrays(path, lambda: {"a": np.arange(4)})["a"].tolist() == [0, 1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz"]  # the partial was replaced
