"""Tests for aoc.bench: pure helpers, both loops on the tiny models, the CLI command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aoc.bench import (
    baseline_loop,
    format_result,
    overhead_of,
    run_bench,
    summarize_ms,
    targets_report,
)
from aoc.bundle import load_bundle
from aoc.classifier import open_classifier
from aoc.cli import main
from aoc.sources import list_images
from aoc.sources.demo_source import DEMO_DIR

MODELS = Path(__file__).parent / "data" / "models"


def test_overhead_excludes_invoke():
    rows = np.array([[0.001, 0.002, 0.100, 0.003], [0.002, 0.002, 0.200, 0.002]])
    np.testing.assert_allclose(overhead_of(rows, 2), [0.006, 0.006])
    assert summarize_ms(np.array([0.001, 0.002, 0.003])) == {"median": 2.0, "p95": 2.9}
    assert summarize_ms(np.array([])) == {"median": 0.0, "p95": 0.0}


def test_targets_report_directions():
    report = targets_report({"overhead_ms": 0.5, "baseline_ratio": 3.0, "startup_s": None,
                             "peak_rss_mb": 200.0})
    assert report["overhead_ms"]["met"] is True
    assert report["baseline_ratio"]["met"] is False  # must be at least 5x
    assert report["startup_s"]["met"] is None
    assert report["peak_rss_mb"]["met"] is False


@pytest.mark.parametrize("name", ["uint8", "int8", "float_logits"])
def test_baseline_runs_every_model_kind(name):
    result = baseline_loop(MODELS / name / "model.tflite", list_images(DEMO_DIR), 4)
    assert set(result["stages_ms"]) == {"decode_resize", "set_tensor", "invoke",
                                        "get_dequantize"}
    assert result["stages_ms"]["decode_resize"]["median"] > 0 and result["fps"] > 0


def test_run_bench_on_tiny_model():
    bundle = load_bundle(MODELS / "uint8")
    with open_classifier(bundle, prefer="cpu") as clf:
        r = run_bench(clf, bundle, frames=12, images_dir=DEMO_DIR, measure_startup=False)
    assert r["backend"] == "cpu" and r["frames"] == 12 and "tiny-uint8" in r["model"]
    assert set(r["stages_ms"]) == {"capture", "preprocess", "invoke", "postprocess", "display"}
    assert r["overhead_ms"] > 0 and r["baseline_overhead_ms"] > 0
    assert r["baseline_ratio"] == pytest.approx(r["baseline_overhead_ms"] / r["overhead_ms"],
                                                rel=0.01)
    assert r["targets"]["startup_s"]["met"] is None
    text = format_result(r)
    assert "baseline" in text and "overhead_ms" in text


def test_cli_bench_writes_json_with_startup(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))  # the child's last-good file
    out = tmp_path / "bench.json"
    empty = tmp_path / "config.toml"
    empty.write_text("")
    code = main(["bench", "--config", str(empty), "--frames", "5", "--bundle",
                 str(MODELS / "uint8"), "--json", "--out", str(out)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads(out.read_text())
    assert printed == written
    for key in ("overhead_ms", "baseline_overhead_ms", "baseline_ratio", "startup_s",
                "peak_rss_mb", "backend", "model"):
        assert key in written
    assert written["startup_s"] > 0 and written["peak_rss_mb"] > 10


def test_check_targets_makes_a_missed_target_exit_1(tmp_path, capsys, monkeypatch):
    import aoc.bench

    def fake_run_bench(clf, bundle, **kwargs):
        result = {"overhead_ms": 9.0, "baseline_ratio": 1.0, "startup_s": None,
                  "peak_rss_mb": 50.0}
        result["targets"] = aoc.bench.targets_report(result)
        return result

    monkeypatch.setattr(aoc.bench, "run_bench", fake_run_bench)
    monkeypatch.setattr(aoc.bench, "format_result", lambda r: "table")
    empty = tmp_path / "config.toml"
    empty.write_text("")
    args = ["bench", "--config", str(empty), "--frames", "1", "--bundle", str(MODELS / "uint8")]
    assert main(args) == 0  # reported, not judged
    assert main([*args, "--check-targets"]) == 1  # overhead_ms 9.0 > 1.0 is a miss
    capsys.readouterr()
