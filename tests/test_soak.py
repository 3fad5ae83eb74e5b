"""aoc.testing.soak: a short soak through the real loop, with every kind of fault injected.

The full benchmark (``python -m aoc.testing.soak --frames 100000``) is run by hand; here 2,000
frames run with fault rates high enough that every kind fires, and the same checks apply:
every frame classified, no stall, the last state on screen, all faults recovered, RSS
growth under 5 MB, and no network socket in the process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fakes.head_bundles import standin_bundle

from aoc.testing.soak import SoakConfig, run_soak

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "data" / "models" / "uint8"


def test_short_soak_with_every_fault(tmp_path: Path) -> None:
    config = SoakConfig(
        frames=2000, warmup=500, model=str(MODEL), camera_rate=0.01, camera_open_rate=0.3,
        tpu_rate=0.005, tpu_open_rate=0.3, cpu_rate=0.005, display_rate=0.02, seed=3,
        reprobe_s=0.01,
    )
    report = run_soak(config)
    assert report["checks"] == dict.fromkeys(report["checks"], True), report["checks"]
    assert report["passed"]
    faults = report["faults"]
    assert faults["camera"]["read_errors"] > 0 and faults["camera"]["recovered"] > 0
    assert faults["tpu"]["failovers"] > 0 and faults["tpu"]["recovered"] > 0
    assert faults["cpu_inference"]["injected"] > 0
    assert faults["cpu_inference"]["frames_skipped"] == faults["cpu_inference"]["injected"]
    assert faults["display"]["injected"] > 0 and faults["display"]["fault_at_end"] is None
    assert report["frames"] == 2000
    assert report["rss_growth_mb"] < 5.0
    assert report["listening_sockets"] == []  # no network listener
    start = faults["start_up"]
    assert start["state_records_survived"] == start["damaged_state_records"] >= 5
    assert start["bad_configs_refused"] == start["bad_configs"] >= 5


def test_soak_survives_killed_inference_children() -> None:
    report = run_soak(SoakConfig(frames=1500, warmup=500, model=str(MODEL), kill_rate=0.004,
                                 seed=1, reprobe_s=0.01, stall_s=30.0))
    assert report["passed"], report["checks"]
    assert report["faults"]["tpu"]["child_kills"] > 0
    assert report["faults"]["tpu"]["failovers"] == report["faults"]["tpu"]["child_kills"]


def test_soak_fails_when_the_loop_cannot_finish() -> None:
    # A camera that never comes back: not every frame is classified, so the soak must fail.
    report = run_soak(SoakConfig(frames=200, warmup=100, model=str(MODEL), camera_rate=1.0,
                                 camera_open_rate=1.0, stall_s=30.0, max_seconds=1.0))
    assert not report["passed"]
    assert not report["checks"]["all_frames"]


def test_cli_writes_json_and_prints_counts(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "device"),
                                                         os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "aoc.testing.soak", "--frames", "600", "--warmup", "200", "--model",
         str(MODEL), "--json", str(out), "--quiet"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASSED" in proc.stdout
    for name in ("camera", "tpu", "cpu_inference", "display"):
        assert f"  {name}" in proc.stdout
    report = json.loads(out.read_text())
    assert report["frames"] == 600 and report["passed"] is True


def test_cli_names_the_missing_model(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "device")}
    proc = subprocess.run(
        [sys.executable, "-m", "aoc.testing.soak", "--frames", "10",
         "--model", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 2
    assert "nope" in proc.stderr




def test_short_soak_on_a_head_bundle(tmp_path: Path) -> None:
    """A compiled backbone + head bundle soaks like any bundle: faults on the "TPU", the
    CPU and the camera, every frame classified by backbone + head."""
    bundle = standin_bundle(tmp_path)
    report = run_soak(SoakConfig(frames=600, warmup=200, model=str(bundle.root),
                                 camera_rate=0.01, tpu_rate=0.01, cpu_rate=0.005, seed=4,
                                 reprobe_s=0.01, stall_s=30.0))
    assert report["passed"], report["checks"]
    assert report["frames"] == 600
    assert report["faults"]["tpu"]["failovers"] > 0
