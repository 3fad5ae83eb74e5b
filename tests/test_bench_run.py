"""Tests for aoc.bench.run: pure helpers, both loops on the tiny models, the CLI command.
(aoc.bench.loops and aoc.bench.extra are exercised here too: they are run's parts; the
naive loops have tests/test_bench_naive.py.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from fakes.head_bundles import standin_bundle

from aoc.bench.extra import oled_figures, pipelined_figures, tpu_like_rows
from aoc.bench.loops import (
    MemorySource,
    WaitingInvoke,
    camera_frames,
    our_loop,
    our_source,
    rgb_to_yuv420,
    summarize_ms,
)
from aoc.bench.run import decode_row, overhead_of, run_bench, targets_report
from aoc.cli import main
from aoc.inference.bundle import load_bundle
from aoc.inference.classifier import open_classifier
from aoc.inference.preprocess import Preprocessor
from aoc.sources import list_images
from aoc.sources.demo_source import DEMO_DIR

MODELS = Path(__file__).parent / "data" / "models"


def test_overhead_excludes_invoke():
    rows = np.array([[0.001, 0.002, 0.100, 0.003], [0.002, 0.002, 0.200, 0.002]])
    np.testing.assert_allclose(overhead_of(rows, 2), [0.006, 0.006])
    assert summarize_ms(np.array([0.001, 0.002, 0.003])) == {"median": 2.0, "p95": 2.9}
    assert summarize_ms(np.array([])) == {"median": 0.0, "p95": 0.0}


def test_targets_report_directions():
    report = targets_report({"overhead_ms": 0.05, "baseline_ratio": 0.8, "startup_s": None,
                             "peak_rss_mb": 200.0, "pipelined_fps": 58.0,
                             "sizes": {"640x480": {"ratio": 12.0}, "1280x720": {"ratio": 9.0}},
                             "oled": {"bytes_per_update": 80.0}, "backend": "cpu",
                             "model_row": {"loop_over_invoke": 1.2}})
    assert report["overhead_ms"]["met"] is True  # at most 0.1 ms
    assert report["baseline_ratio"]["met"] is False  # must win at the model size too
    assert report["startup_s"]["met"] is None
    assert report["peak_rss_mb"]["met"] is False
    assert report["ratio_640x480"]["met"] is True and report["ratio_1280x720"]["met"] is False
    assert report["pipelined_fps"]["met"] is True
    assert report["oled_bytes_per_update"]["met"] is True
    assert report["loop_over_invoke"]["met"] is False
    edgetpu = targets_report({"backend": "edgetpu", "model_row": {"loop_over_invoke": 3.0}})
    assert edgetpu["loop_over_invoke"]["met"] is None  # only a CPU model's loop is judged


def test_our_frame_periods_count_the_work_between_stages():
    """A hook's work after the display stage is in no stage, but in the frame's period."""
    import threading

    class SlowHook:
        def __init__(self):
            self.pause = threading.Event()

        def on_result(self, stats, first):
            self.pause.wait(0.003)

    bundle = load_bundle(MODELS / "uint8")
    frames = camera_frames(list_images(DEMO_DIR)[:2], (32, 32))
    with open_classifier(bundle, prefer="cpu") as clf:
        times = our_loop(clf, MemorySource(frames), 5, hooks=[SlowHook()])
    assert times.stages.shape == (5, 5) and np.isnan(times.periods[-1])
    between = times.periods[:-1] - times.stages[:-1].sum(axis=1)
    assert (between >= 0.003).all()


def test_compare_takes_the_overhead_from_the_frame_periods(monkeypatch):
    import aoc.bench.loops as loops
    import aoc.bench.naive as naive
    from aoc.bench.naive import LoopTimes

    def ours(clf, source, n, **kw):  # stages 0.1 ms each, invoke 5 ms; a 6 ms period
        stages = np.full((n, 5), 1e-4)
        stages[:, 2] = 5e-3
        return LoopTimes(stages, np.append(np.full(n - 1, 6e-3), np.nan))

    def theirs(model_path, frames, n, **kw):  # 1 ms + invoke 5 ms, nothing between
        stages = np.full((n, 4), 1e-3 / 3)
        stages[:, 2] = 5e-3
        return LoopTimes(stages, np.append(np.full(n - 1, 6e-3), np.nan))

    monkeypatch.setattr(loops, "our_loop", ours)
    monkeypatch.setattr(naive, "naive_loop", theirs)
    bundle = load_bundle(MODELS / "uint8")
    with open_classifier(bundle, prefer="cpu") as clf:
        row = loops.compare(clf, bundle.cpu_model, [np.zeros((32, 32, 3), np.uint8)], 12)
    # 0.4 ms in stages, but a frame takes 1 ms more than its invoke: the overhead is 1 ms
    assert row["overhead_ms"] == pytest.approx(1.0) and row["ratio"] == pytest.approx(1.0)
    assert row["between_stages_ms"]["median"] == pytest.approx(0.6)
    assert row["fps"] == pytest.approx(166.7) and row["loop_over_invoke"] == pytest.approx(1.2)
    assert row["frames"] == 12
    with open_classifier(bundle, prefer="cpu") as clf:  # the text says "N frames per row"
        assert loops.compare(clf, bundle.cpu_model, [np.zeros((32, 32, 3), np.uint8)],
                             50)["frames"] == 50


def test_memory_source_converts_yuv_like_the_naive_loop():
    frame = camera_frames(list_images(DEMO_DIR)[:1], (64, 48))[0]
    capture = rgb_to_yuv420(frame)
    full = MemorySource([capture], yuv=(64, 48)).read()
    assert full.shape == (48, 64, 3) and np.abs(full.astype(int) - frame).mean() < 6
    half = MemorySource([capture], yuv=(64, 48), half=True).read()
    assert half.shape == (24, 32, 3)


@pytest.mark.parametrize("name", ["uint8", "int8", "float_logits"])
def test_decode_row_runs_every_model_kind(name):
    result = decode_row(MODELS / name / "model.tflite", list_images(DEMO_DIR), 4)
    assert set(result["stages_ms"]) == {"decode_resize", "set_tensor", "invoke",
                                        "get_dequantize"}
    assert result["stages_ms"]["decode_resize"]["median"] > 0 and result["fps"] > 0


def test_run_bench_on_tiny_model():
    bundle = load_bundle(MODELS / "uint8")
    with open_classifier(bundle, prefer="cpu") as clf:
        r = run_bench(clf, bundle, frames=12, images_dir=DEMO_DIR, measure_startup=False,
                      sizes={"64x48": (64, 48), "32x32": (32, 32)}, extras=False)
    assert r["backend"] == "cpu" and r["frames"] == 12 and "tiny-uint8" in r["model"]
    assert set(r["stages_ms"]) == {"capture", "preprocess", "invoke", "postprocess", "display"}
    assert r["overhead_ms"] > 0 and r["baseline_overhead_ms"] > 0
    assert r["baseline_ratio"] == pytest.approx(r["baseline_overhead_ms"] / r["overhead_ms"],
                                                rel=0.01)
    assert r["targets"]["startup_s"]["met"] is None
    assert set(r["sizes"]) == {"64x48", "32x32"} and set(r["yuv420"]) == {"640x480"}
    for row in [*r["sizes"].values(), *r["yuv420"].values()]:
        assert row["overhead_ms"] > 0 and row["baseline_overhead_ms"] > 0
        assert row["ratio"] == pytest.approx(row["baseline_overhead_ms"] / row["overhead_ms"],
                                             rel=0.01)
    assert r["sizes"]["32x32"]["overhead_ms"] == r["overhead_ms"]  # the model-size row
    assert r["resize_filter"] == "area_linear" and "Method:" in r["method"]
    assert set(r["decode"]["stages_ms"]) == {"decode_resize", "set_tensor", "invoke",
                                             "get_dequantize"}


def test_oled_and_pipelined_figures():
    oled = oled_figures(updates=12)
    assert oled["full_frame_bytes"] == 1030 and 0 < oled["bytes_per_update"] < 1030
    assert oled["ms_per_update"]["100kHz"] == pytest.approx(
        4 * oled["ms_per_update"]["400kHz"], rel=0.05)
    frames = camera_frames(list_images(DEMO_DIR)[:2], (64, 48))
    pipe = pipelined_figures(frames, invoke_ms=0.5, camera_fps=500, n=10,
                             bound_invoke_ms=0.5, bound_camera_fps=500)
    assert pipe["pipelined_fps"] > 0 and pipe["invoke_bound"]["sequential_fps"] > 0
    # no loop classifies faster than its camera delivers: 20 frames span 19 periods, and
    # counting 20 over them read 105 fps from a 100 fps camera
    paced = pipelined_figures(frames, invoke_ms=0.5, camera_fps=100, n=20,
                              bound_invoke_ms=0.5, bound_camera_fps=100)
    for case in (paced, paced["invoke_bound"]):
        assert case["pipelined_fps"] <= 101 and case["sequential_fps"] <= 101


class CountingClassifier:
    """A real classifier that counts its invokes."""

    def __init__(self, clf):
        self.clf, self.invokes = clf, 0

    def __getattr__(self, name):
        return getattr(self.clf, name)

    def invoke(self):
        self.invokes += 1
        self.clf.invoke()


def test_waiting_invoke_invokes_once_then_waits():
    bundle = load_bundle(MODELS / "uint8")
    with open_classifier(bundle, prefer="cpu") as clf:
        counting = CountingClassifier(clf)
        waiting = WaitingInvoke(counting, wait_ms=2.0)
        frame = camera_frames(list_images(DEMO_DIR)[:1], (64, 48))[0]
        first = None
        for _ in range(3):
            waiting.preprocess(frame)
            waiting.invoke()
            scores = waiting.postprocess()
            first = scores if first is None else first
            np.testing.assert_array_equal(scores, first)  # the one real invoke's output
        assert counting.invokes == 1
        assert waiting.labels == clf.labels  # everything else is the classifier's


def test_tpu_like_rows_time_a_wait_for_invoke():
    bundle = load_bundle(MODELS / "uint8")
    with open_classifier(bundle, prefer="cpu") as clf:
        frames = camera_frames(list_images(DEMO_DIR), (64, 48))
        rows = tpu_like_rows(clf, bundle.cpu_model, {"64x48": frames},
                             6, wait_ms=3.0)
    row = rows["sizes"]["64x48"]
    assert rows["invoke_wait_ms"] == 3.0
    assert rows["ours"] == "prefetch"  # as aoc run does on an Edge TPU
    assert row["stages_ms"]["invoke"]["median"] >= 2.9  # the wait, not the tiny model
    assert row["overhead_ms"] > 0 and row["baseline_overhead_ms"] > 0


def test_our_source_prefetches_fitted_frames_as_aoc_run_does_on_a_tpu():
    bundle = load_bundle(MODELS / "uint8")
    with open_classifier(bundle, prefer="cpu") as clf:
        frames = camera_frames(list_images(DEMO_DIR), (64, 48))
        fit = Preprocessor(clf.preprocess_spec).fit
        with our_source(clf, frames) as source:
            assert source.read() is frames[0]  # in turn: the loop fits it itself
        with our_source(clf, frames, prefetch=True) as source:
            for frame in frames[:3]:  # fitted by the worker, in order
                np.testing.assert_array_equal(source.read(), fit(frame))


def test_the_naive_loops_run_on_the_threads_ours_does(monkeypatch):
    import aoc.inference.runtime as runtime

    seen = []
    real = runtime.make_interpreter

    def spy(*args, num_threads=None, **kwargs):
        seen.append(num_threads)
        return real(*args, num_threads=num_threads, **kwargs)

    bundle = load_bundle(MODELS / "uint8")
    with open_classifier(bundle, prefer="cpu", num_threads=2) as clf:
        monkeypatch.setattr(runtime, "make_interpreter", spy)
        r = run_bench(clf, bundle, frames=3, images_dir=DEMO_DIR, measure_startup=False,
                      sizes={"32x32": (32, 32)}, extras=False, num_threads=2)
    assert r["num_threads"] == 2
    assert len(seen) == 3 * 2 + 1 and set(seen) == {2}  # 3 rounds x 2 rows, the decode row


@pytest.mark.parametrize("twin", [False, True], ids=["uint8", "head-with-edgetpu-twin"])
def test_cli_bench_writes_json_with_startup(tmp_path, capsys, monkeypatch, twin):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))  # the child's last-good file
    out = tmp_path / "bench.json"
    empty = tmp_path / "config.toml"
    empty.write_text("")
    # with an Edge TPU twin and no TPU, the classifier is a FailoverClassifier's CPU
    # stand-in, as for the default bundle
    bundle = standin_bundle(tmp_path).root if twin else MODELS / "uint8"
    code = main(["bench", "--config", str(empty), "--frames", "5", "--bundle",
                 str(bundle), "--json", "--out", str(out)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads(out.read_text())
    assert printed == written
    for key in ("overhead_ms", "baseline_overhead_ms", "baseline_ratio", "startup_s",
                "peak_rss_mb", "backend", "model", "sizes", "oled", "pipelined_fps"):
        assert key in written
    assert set(written["sizes"]) == {"224x224", "640x480", "1280x720"}
    for row in written["sizes"].values():
        assert {"overhead_ms", "baseline_overhead_ms", "ratio"} <= set(row)
    assert {"bytes_per_update", "full_frame_bytes"} <= set(written["oled"])
    assert set(written["tpu_like"]["sizes"]) == {"224x224", "640x480", "1280x720"}
    assert written["startup_s"] > 0 and written["peak_rss_mb"] > 10
    # both loops' interpreters run on the threads `aoc run` would use: every usable CPU
    threads = len(os.sched_getaffinity(0))
    assert written["num_threads"] == threads and written["reason"].endswith(
        (f", {threads} threads", f", {threads} threads; then head 8-5-3 on the CPU"))


def test_bench_on_a_head_bundle_times_the_head(tmp_path):
    bundle = standin_bundle(tmp_path)
    with open_classifier(bundle, prefer="cpu") as clf:
        r = run_bench(clf, bundle, frames=12, images_dir=DEMO_DIR, measure_startup=False)
    assert r["backend"] == "cpu" and "then head 8-5-3 on the CPU" in r["reason"]
    assert set(r["head_ms"]) == {"median", "p95"} and r["head_ms"]["median"] > 0
    assert r["stages_ms"]["postprocess"]["median"] > 0  # the head runs inside postprocess


def test_check_targets_makes_a_missed_target_exit_1(tmp_path, capsys, monkeypatch):
    import aoc.bench.run
    import aoc.bench.text

    def fake_run_bench(clf, bundle, **kwargs):
        result = {"overhead_ms": 9.0, "baseline_ratio": 1.0, "startup_s": None,
                  "peak_rss_mb": 50.0}
        result["targets"] = aoc.bench.run.targets_report(result)
        return result

    monkeypatch.setattr(aoc.bench.run, "run_bench", fake_run_bench)
    monkeypatch.setattr(aoc.bench.text, "format_result", lambda r: "table")
    empty = tmp_path / "config.toml"
    empty.write_text("")
    args = ["bench", "--config", str(empty), "--frames", "1", "--bundle", str(MODELS / "uint8")]
    assert main(args) == 0  # reported, not judged
    assert main([*args, "--check-targets"]) == 1  # overhead_ms 9.0 > 1.0 is a miss
    capsys.readouterr()


def test_check_targets_counts_a_failed_measurement_as_missed(tmp_path, capsys, monkeypatch):
    """A start-up run that crashed (startup_s None) passed --check-targets with exit 0; a
    target that does not apply (an Edge TPU's loop over invoke) is still no miss."""
    import aoc.bench.run
    import aoc.bench.text

    complete = {"overhead_ms": 0.05, "baseline_ratio": 2.0, "startup_s": 0.3,
                "peak_rss_mb": 50.0, "pipelined_fps": 58.0, "backend": "edgetpu",
                "sizes": {"640x480": {"ratio": 12.0}, "1280x720": {"ratio": 20.0}},
                "oled": {"bytes_per_update": 80.0}, "model_row": {}}
    results = iter([complete, {**complete, "startup_s": None}])

    def fake_run_bench(clf, bundle, **kwargs):
        result = dict(next(results))
        result["targets"] = aoc.bench.run.targets_report(result)
        return result

    monkeypatch.setattr(aoc.bench.run, "run_bench", fake_run_bench)
    monkeypatch.setattr(aoc.bench.text, "format_result", lambda r: "table")
    (tmp_path / "config.toml").write_text("")
    args = ["bench", "--config", str(tmp_path / "config.toml"), "--frames", "1", "--bundle",
            str(MODELS / "uint8"), "--check-targets"]
    assert main(args) == 0  # loop_over_invoke does not apply on an Edge TPU
    assert main(args) == 1  # no start-up figure: not measured is not met
    capsys.readouterr()


def test_start_up_timing_runs_aoc_in_its_own_state_folder(monkeypatch, tmp_path):
    """The timed `aoc run` recorded the bundle it was given as the appliance's last good
    one (in the caller's state folder), and would have notified the caller's systemd."""
    import subprocess

    from aoc.bench import run as bench_run

    seen = {}

    def fake_run(cmd, **kwargs):
        env = kwargs["env"]
        seen.update(env=env, cmd=cmd)
        state = Path(env["STATE_DIRECTORY"])
        assert state.is_dir() and state != tmp_path / "appliance-state"
        out = Path(cmd[cmd.index("--stats-json") + 1])
        out.write_text(json.dumps({"startup_s": 0.3, "peak_rss_mb": 120.0}))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "appliance-state"))
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setattr(bench_run.subprocess, "run", fake_run)
    assert bench_run.startup_and_rss(["--bundle", "x"], 20) == {"startup_s": 0.3,
                                                                 "peak_rss_mb": 120.0}
    assert "NOTIFY_SOCKET" not in seen["env"] and "WATCHDOG_USEC" not in seen["env"]
    assert seen["cmd"][-2:] == ["--bundle", "x"]
    assert not Path(seen["env"]["STATE_DIRECTORY"]).exists()  # a temporary folder, gone
