"""Tests for aoc.inference.model_select: candidate order, fallback on corrupt bundles, last good."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

import pytest

from aoc.errors import BundleError
from aoc.inference.bundle import Bundle
from aoc.inference.model_select import (
    CONFIGURED,
    DEFAULT,
    LAST_GOOD,
    Candidate,
    candidates,
    find_default_bundle,
    inspect_last_good,
    read_last_good,
    remember_good,
    select,
)

MODELS = Path(__file__).parent / "data" / "models"
UINT8, INT8 = MODELS / "uint8", MODELS / "int8"


def identity(bundle: Bundle) -> Bundle:
    return bundle


@pytest.fixture
def corrupt(tmp_path) -> Path:
    """A copy of the uint8 bundle whose model no longer matches its checksum."""
    bad = tmp_path / "corrupt"
    shutil.copytree(UINT8, bad)
    data = bytearray((bad / "model.tflite").read_bytes())
    data[100] ^= 0xFF
    (bad / "model.tflite").write_bytes(bytes(data))
    return bad


def test_candidate_order_and_dedupe(tmp_path):
    cands = candidates(bundle=str(UINT8), last_good=INT8, default_dirs=[tmp_path / "x", UINT8])
    assert [(c.kind, c.path) for c in cands] == [(CONFIGURED, UINT8), (LAST_GOOD, INT8)]
    nothing_configured = candidates(last_good=INT8, default_dirs=[UINT8])
    assert [c.kind for c in nothing_configured] == [DEFAULT]
    bare = candidates(model="m.tflite", labels="l.txt", default_dirs=[INT8])
    assert bare[0] == Candidate(CONFIGURED, Path("m.tflite"), Path("l.txt"))
    assert bare[1] == Candidate(DEFAULT, INT8)


def test_configured_bundle_is_used_and_remembered(tmp_path):
    state = tmp_path / "state" / "last-good-bundle"
    sel = select(candidates(bundle=str(UINT8), default_dirs=[INT8]), identity, state_file=state)
    assert sel.candidate.kind == CONFIGURED and sel.bundle.name == "tiny-uint8"
    assert not sel.errors and sel.warning() is None
    assert read_last_good(state) == UINT8.resolve()


def test_corrupt_bundle_falls_back_to_default_with_error(corrupt, tmp_path):
    state = tmp_path / "last-good-bundle"
    sel = select(candidates(bundle=str(corrupt), default_dirs=[INT8]), identity,
                 state_file=state)
    assert sel.candidate.kind == DEFAULT and sel.bundle.root == INT8.resolve()
    assert sel.errors and "model.tflite" in sel.errors[0]
    assert sel.warning() == "model error - using packaged default model"
    assert not state.exists()  # a default is never recorded as "last good"


def test_a_missing_configured_bundle_is_told_from_a_broken_one(corrupt, tmp_path):
    """Only a bundle that was missing is worth waiting for (a drive that mounts late); one
    that is there but broken would restart the appliance for ever once it "appeared"."""
    missing = select(candidates(bundle=str(tmp_path / "late"), default_dirs=[INT8]), identity)
    assert missing.candidate.kind == DEFAULT
    assert [c.kind for c in missing.missing] == [CONFIGURED]
    broken = select(candidates(bundle=str(corrupt), default_dirs=[INT8]), identity)
    assert broken.candidate.kind == DEFAULT and broken.errors and broken.missing == ()


def test_last_good_is_written_only_when_it_changes(tmp_path):
    state = tmp_path / "last-good-bundle"
    remember_good(state, Candidate(CONFIGURED, UINT8))
    os.utime(state, ns=(1_000_000_000, 1_000_000_000))
    remember_good(state, Candidate(CONFIGURED, UINT8))  # same bundle: no write
    assert state.stat().st_mtime_ns == 1_000_000_000
    remember_good(state, Candidate(CONFIGURED, INT8))
    assert state.stat().st_mtime_ns != 1_000_000_000
    assert read_last_good(state) == INT8.resolve()


def test_last_good_comes_before_default(corrupt, tmp_path):
    state = tmp_path / "last-good-bundle"
    remember_good(state, Candidate(CONFIGURED, UINT8))
    sel = select(candidates(bundle=str(corrupt), last_good=read_last_good(state),
                            default_dirs=[INT8]), identity)
    assert sel.candidate.kind == LAST_GOOD and sel.bundle.name == "tiny-uint8"


def test_open_failure_also_falls_back():
    def opener(bundle: Bundle) -> str:
        if bundle.name == "tiny-uint8":
            raise BundleError("model.tflite has 4 outputs but 3 labels", path=bundle.root)
        return bundle.name

    sel = select(candidates(bundle=str(UINT8), default_dirs=[INT8]), opener)
    assert sel.opened == "tiny-int8"
    assert "4 outputs" in sel.errors[0]


def test_no_fallback_raises_the_configured_error(corrupt):
    with pytest.raises(BundleError, match="model.tflite"):
        select(candidates(bundle=str(corrupt), default_dirs=[INT8]), identity, fallback=False)


def test_nothing_usable_names_every_failure(corrupt, tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(BundleError) as err:
        select([Candidate(CONFIGURED, corrupt), Candidate(DEFAULT, missing)], identity)
    assert str(corrupt) in str(err.value) and str(missing) in str(err.value)


def test_no_default_bundle(tmp_path):
    with pytest.raises(BundleError, match="no default model bundle"):
        find_default_bundle([tmp_path])
    with pytest.raises(BundleError, match="no model to run"):
        select(candidates(default_dirs=[tmp_path]), identity)


def test_bare_model_candidate():
    cands = candidates(model=str(UINT8 / "model.tflite"), labels=str(UINT8 / "labels.txt"),
                       default_dirs=[])
    sel = select(cands, identity)
    assert not sel.bundle.manifest and sel.bundle.labels == ("anime", "cartoon", "neither")


def test_last_good_file_edge_cases(tmp_path):
    assert read_last_good(None) is None
    assert read_last_good(tmp_path / "absent") is None
    remember_good(tmp_path / "f", Candidate(DEFAULT, INT8))  # defaults are not recorded
    assert not (tmp_path / "f").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    remember_good(blocker / "sub" / "f", Candidate(CONFIGURED, UINT8))  # never raises


@pytest.mark.parametrize("content", [
    b"\xff\xfe/not/utf8\n", b"/opt/x\x00y\n", b"relative/path\n", b"/a\n/b\n", b"x" * 5000,
])
def test_damaged_last_good_record_is_no_record_with_one_warning(tmp_path, caplog, content):
    state = tmp_path / "last-good-bundle"
    state.write_bytes(content)
    caplog.set_level(logging.WARNING, logger="aoc.inference.model_select")
    assert read_last_good(state) is None
    assert len(caplog.records) == 1 and str(state) in caplog.text
    # the app goes on: the configured bundle is used and the record rewritten
    sel = select(candidates(bundle=str(UINT8), last_good=read_last_good(state),
                            default_dirs=[INT8]), identity, state_file=state)
    assert sel.candidate.kind == CONFIGURED
    assert read_last_good(state) == UINT8.resolve()


def test_last_good_record_that_is_a_fifo_is_ignored_without_blocking(tmp_path):
    state = tmp_path / "last-good-bundle"
    os.mkfifo(state)
    path, problem = inspect_last_good(state)
    assert path is None and "not a regular file" in problem
    remember_good(state, Candidate(CONFIGURED, UINT8))  # refuses to write, never blocks
    assert stat.S_ISFIFO(state.stat().st_mode)


def test_last_good_is_written_atomically(tmp_path, monkeypatch):
    state = tmp_path / "last-good-bundle"
    remember_good(state, Candidate(CONFIGURED, UINT8))
    calls = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append((a, b)), real_replace(a, b)))
    remember_good(state, Candidate(CONFIGURED, INT8))
    assert calls and Path(calls[0][1]) == state and Path(calls[0][0]).parent == tmp_path
    assert [p.name for p in tmp_path.iterdir()] == ["last-good-bundle"]  # no temp left
    assert read_last_good(state) == INT8.resolve()
