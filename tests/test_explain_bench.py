"""aoc.explain.bench: the figures (seconds per map, seed-to-seed correlation per budget)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakes.explain_models import FakeClassifier, top_left_brightness
from PIL import Image

from aoc.explain.bench import bench_explain, correlation, format_bench, main

MODELS = Path(__file__).parent / "data" / "models"


def test_correlation():
    a = np.arange(16.0).reshape(4, 4)
    assert correlation(a, a) == pytest.approx(1.0)
    assert correlation(a, -a) == pytest.approx(-1.0)
    assert correlation(a, np.zeros((4, 4))) == 0.0


def test_bench_explain_reports_every_budget_and_the_default():
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    img[:32, :32] = 255
    result = bench_explain(FakeClassifier(top_left_brightness), [img, img[::-1]],
                           budgets=(16, 128), default_budget=64, model="fake")
    assert [f.budget for f in result.budgets] == [16, 64, 128]
    assert result.seconds_per_map == result.budgets[1].seconds_median >= 0
    big = result.budgets[-1]
    assert big.r_seeds_mean > 0.8 and big.r_seeds_min <= big.r_seeds_mean
    assert big.r_largest_mean == big.r_seeds_mean  # the largest budget against itself
    text = format_bench(result)
    assert "default budget 64" in text and len(text.splitlines()) == 6
    assert json.loads(json.dumps(result.to_dict()))["images"] == 2


def test_main_writes_json(tmp_path, capsys):
    picture = tmp_path / "p.png"
    Image.fromarray(np.full((40, 50, 3), (200, 30, 30), np.uint8)).save(picture)
    out = tmp_path / "bench.json"
    assert main(["--bundle", str(MODELS / "uint8"), "--budgets", "8", "--images",
                 str(picture), "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["model"] == "tiny-uint8" and figures["default_budget"] == 384
    assert [b["budget"] for b in figures["budgets"]] == [8, 384]
    assert "s per map" in capsys.readouterr().out
