"""aoc_train.stamps: a stage runs again only when its key changed or an output is gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aoc_train.stamps import StageResult, run_stage, stamp_path


def test_stage_line_is_one_line() -> None:
    r = StageResult("fit", False, 12.34, {"val_acc": 0.98765, "views": 4, "hist": {"a": 1}})
    assert r.line() == "[fit] 12.3s: val_acc=0.9877, views=4"
    assert StageResult("export", True, 0.0, {}).line() == "[export] cached: "


def test_a_stage_is_skipped_only_with_the_same_key_and_every_output(tmp_path: Path) -> None:
    out = tmp_path / "model.bin"
    calls = []

    def body() -> dict:
        calls.append(1)
        out.write_bytes(b"weights")
        return {"loss": 0.5}

    first = run_stage(tmp_path, "fit", "k1", [out], body)
    assert not first.skipped and first.summary == {"loss": 0.5} and len(calls) == 1
    saved = json.loads(stamp_path(tmp_path, "fit").read_text())
    assert saved["key"] == "k1" and saved["summary"] == {"loss": 0.5}

    again = run_stage(tmp_path, "fit", "k1", [out], body)
    assert again.skipped and again.summary == {"loss": 0.5} and len(calls) == 1

    assert not run_stage(tmp_path, "fit", "k2", [out], body).skipped  # settings changed
    assert len(calls) == 2
    out.unlink()  # an output deleted: the stamp alone does not count
    assert not run_stage(tmp_path, "fit", "k2", [out], body).skipped
    assert len(calls) == 3


def test_a_stage_that_fails_leaves_no_stamp(tmp_path: Path) -> None:
    def body() -> dict:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stage(tmp_path, "embed", "k", [], body)
    assert not stamp_path(tmp_path, "embed").exists()
