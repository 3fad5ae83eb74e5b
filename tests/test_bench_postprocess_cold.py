"""Tests for aoc.bench.postprocess_cold: the A/B of the output reads and the stage's parts,
on the default bundle's real CPU model; a bundle without a head is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aoc.bench.postprocess_cold import PARTS, main

pytest.importorskip("ai_edge_litert")

ROOT = Path(__file__).resolve().parents[1]


def test_figures_for_both_reads_and_every_part(tmp_path, capsys):
    out = tmp_path / "cold.json"
    assert main(["--bundle", str(ROOT / "models" / "default"), "--frames", "3",
                 "--rounds", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["frames_each"] == 6 and result["backend"] == "cpu"
    assert set(result["read_us"]) == {"get_tensor", "view"}
    assert set(result["parts_us"]) == set(PARTS)
    parts = result["parts_us"]
    assert all(v["median"] > 0 for v in (*result["read_us"].values(), *parts.values()))
    assert parts["total"]["median"] >= parts["dot"]["median"]
    assert "read  view" in capsys.readouterr().out


def test_a_bundle_without_a_head_is_refused(capsys):
    assert main(["--bundle", str(ROOT / "tests" / "data" / "models" / "uint8"),
                 "--frames", "1", "--rounds", "1"]) == 2
    assert "compiled backbone + head" in capsys.readouterr().err
