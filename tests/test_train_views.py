"""aoc_train.views: cached view arrays (deterministic per image) and cached_arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes.labelled_images import make_tree

from aoc_train.data import scan_dataset
from aoc_train.views import build_views, cached_arrays


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
