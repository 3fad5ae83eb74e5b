"""aoc_train.embed: the backbone's preprocessing spec and the embedding cache key."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from aoc_train.data import ImageRecord
from aoc_train.embed import _VERSION, VIEWS, Backbone, cache_key

BACKBONE = Backbone(name="bb", cpu_model=Path("m.tflite"), edgetpu_model=Path("m_edgetpu.tflite"),
                    origin="test")
RECORDS = [ImageRecord(f"a/{i}.png", "a", "s", f"{i:064x}", "0" * 64, 8, 8) for i in range(3)]


def test_the_white_balance_reaches_the_device_spec() -> None:
    assert BACKBONE.preprocess_spec().white_balance == "none"
    gray = replace(BACKBONE, white_balance="grayworld")
    assert gray.preprocess_spec().white_balance == "grayworld"


def test_cache_key_names_the_white_balance_and_keeps_older_keys() -> None:
    plain = cache_key(BACKBONE, RECORDS, 7)
    assert cache_key(replace(BACKBONE, white_balance="grayworld"), RECORDS, 7) != plain
    # caches written before the white balance existed are still found
    h = hashlib.sha256(f"{_VERSION}|bb|7|{VIEWS}|{BACKBONE.resample}".encode())
    for r in RECORDS:
        h.update(r.sha256.encode())
    assert plain == h.hexdigest()[:16]
