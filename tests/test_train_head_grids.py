"""aoc_train.head_grids: the cache tag of the held-out mistake grids."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from aoc_train.head_grids import _grids_tag


def _prepared(clean: np.ndarray, shas: list[str]) -> SimpleNamespace:
    held = SimpleNamespace(clean=clean, tv=np.zeros((len(shas), 2, 3), np.float32))
    records = [SimpleNamespace(sha256=s) for s in shas]
    return SimpleNamespace(backbone=SimpleNamespace(name="coral"), held=held,
                           labels=np.zeros(len(shas), np.int64),
                           dataset=SimpleNamespace(records=records))


def test_the_grids_are_drawn_again_when_what_they_show_changes():
    """A stale grid would show mistakes the shipped model no longer makes."""
    clean = np.full((2, 3), 1 / 3, np.float32)
    base = _prepared(clean, ["a" * 64, "b" * 64])
    head = SimpleNamespace(head=SimpleNamespace(arrays=lambda: {"w0": np.ones((4, 3))}))
    tag = _grids_tag(head, base, 1)
    assert tag == _grids_tag(head, _prepared(clean.copy(), ["a" * 64, "b" * 64]), 1)
    other_head = SimpleNamespace(head=SimpleNamespace(arrays=lambda: {"w0": np.zeros((4, 3))}))
    for changed in (_grids_tag(head, base, 2),
                    _grids_tag(head, _prepared(clean, ["a" * 64, "c" * 64]), 1),
                    _grids_tag(head, _prepared(clean * 0.5, ["a" * 64, "b" * 64]), 1),
                    _grids_tag(other_head, base, 1)):
        assert changed != tag
