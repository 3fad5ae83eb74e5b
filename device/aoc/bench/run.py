"""``aoc bench``: how much the appliance adds around ``invoke()``, against a naive loop.

Measured in one run, on the same model and the same frames (the demo images, prepared in
memory at each camera size before any clock starts):

1. **sizes**: at 224x224 (picamera2 scaling in its ISP), 640x480 and 1280x720 RGB (a
   webcam or capture card), and a 640x480 YUV420 row (a Pi 4 lores stream), **ours**
   (:func:`aoc.app.loop.run_loop` with the real classifier, smoothing and a threaded null
   display) against the **naive** loop of Coral's examples (:mod:`aoc.bench.loops`),
   alternating in chunks; per-stage median / p95, overhead (everything but ``invoke``)
   and their ratio;
2. **decode**: the naive loop as pycoral's ``classify_image.py`` runs it, decoding a
   file per frame (a separate row: a camera never hands over files);
3. **oled**: bytes and I2C milliseconds per display update, partial against full;
4. **pipelined_fps**: a fake 60 fps camera and a fake 3 ms invoke, with capture and
   fitting overlapped with invoke (:mod:`aoc.bench.extra`);
5. **tpu_like**: the sizes again with both loops' invoke replaced by a wait as long as
   Coral's published Edge TPU invoke, ours prefetching as ``aoc run`` does on an Edge TPU
   (with a real Edge TPU every row does): what the loop costs around an invoke that leaves the
   CPU's caches alone (a CPU invoke evicts them, and every small step after it pays for
   that). Information, not a target; skipped when a real Edge TPU runs;
6. **start-up and memory**: a separate ``aoc run --source demo --display null``
   process, timed from process start to its first result, with its peak RSS.

The top-level ``overhead_ms``, ``baseline_overhead_ms`` and ``baseline_ratio`` are those
of the row whose frames are already the model's size. Targets are reported, never asserted.
For a "compiled backbone + head" bundle the head runs inside both loops' postprocess
(``get_dequantize`` in the naive ones) and ``head_ms`` times it alone. With ``--check-targets``
a missed target makes the exit code 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aoc.bench.loops import summarize_ms
from aoc.bench.text import METHOD

__all__ = [
    "METHOD",
    "SIZES",
    "TARGETS",
    "cmd_bench",
    "decode_row",
    "overhead_of",
    "run_bench",
    "targets_report",
]

log = logging.getLogger(__name__)

TARGETS = {
    "overhead_ms": 0.1,  # at the model's size (224x224 for the default model)
    "baseline_ratio": 1.0,  # win at the model's size too
    "ratio_640x480": 10.0,
    "ratio_1280x720": 10.0,
    "loop_over_invoke": 1.10,  # CPU model: the whole loop within 10 % of invoke alone
    "pipelined_fps": 55.0,  # 60 fps camera, 3 ms invoke
    "oled_bytes_per_update": 256.0,
    "startup_s": 2.0,
    "peak_rss_mb": 150.0,
}
AT_LEAST = {"baseline_ratio", "ratio_640x480", "ratio_1280x720", "pipelined_fps"}
SIZES = {"224x224": (224, 224), "640x480": (640, 480), "1280x720": (1280, 720)}
YUV_SIZE = (640, 480)
def overhead_of(samples: np.ndarray, invoke_column: int) -> np.ndarray:
    """Per-frame seconds of every stage but ``invoke`` (rows = frames, columns = stages)."""
    return samples.sum(axis=1) - samples[:, invoke_column]


def decode_row(model_path: Path, images: Sequence[Path], frames: int, *,
               delegates: Sequence[Any] = (), num_threads: int | None = None,
               head: Any = None) -> dict[str, Any]:
    """The naive loop decoding a file per frame (:func:`aoc.bench.naive.decode_loop`):
    per-stage and overhead timings (ms) and fps."""
    from aoc.bench.naive import DECODE_STAGES, decode_loop

    rows = decode_loop(model_path, images, frames, delegates=delegates,
                       num_threads=num_threads, head=head)
    return {
        "stages_ms": {name: summarize_ms(rows[:, k]) for k, name in enumerate(DECODE_STAGES)},
        "overhead_ms": summarize_ms(overhead_of(rows, DECODE_STAGES.index("invoke"))),
        "fps": round(frames / float(rows.sum()), 2) if rows.sum() > 0 else 0.0,
    }


def startup_and_rss(cli_args: Sequence[str], frames: int) -> dict[str, Any]:
    """Run ``aoc run`` in a fresh process; its start-up to first result and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stats.json"
        cmd = [sys.executable, "-m", "aoc", "run", "--source", "demo", "--display", "null",
               "--max-frames", str(frames), "--stats-json", str(out), *cli_args]
        env = dict(os.environ)
        # a benchmark leaves the appliance alone: its own state folder (aoc run records
        # the last good bundle there), and no word to the caller's systemd
        state = Path(tmp) / "state"
        state.mkdir()
        env["STATE_DIRECTORY"] = str(state)
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(name, None)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603
        if proc.returncode != 0 or not out.exists():
            log.warning("aoc run for start-up timing failed (%d): %s", proc.returncode,
                        proc.stderr.strip()[-500:])
            return {"startup_s": None, "peak_rss_mb": None}
        stats = json.loads(out.read_text())
    return {"startup_s": stats.get("startup_s"), "peak_rss_mb": stats.get("peak_rss_mb")}


def targets_report(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its value and whether it is met (None when not measured), and
    whether it ``applies`` here (the loop-over-invoke target is a CPU model's)."""
    sizes = result.get("sizes") or {}
    values = dict(result)
    for key in ("640x480", "1280x720"):
        values[f"ratio_{key}"] = (sizes.get(key) or {}).get("ratio")
    model_row = result.get("model_row") or {}
    if result.get("backend") == "cpu":
        values["loop_over_invoke"] = model_row.get("loop_over_invoke")
    values["oled_bytes_per_update"] = (result.get("oled") or {}).get("bytes_per_update")
    report = {}
    for key, target in TARGETS.items():
        value = values.get(key)
        if key in AT_LEAST:
            met = None if value is None else value >= target
        else:
            met = None if value is None else value <= target
        applies = key != "loop_over_invoke" or result.get("backend") == "cpu"
        report[key] = {"value": value, "target": target, "met": met, "applies": applies,
                       "direction": ">=" if key in AT_LEAST else "<="}
    return report


def run_bench(clf: Any, bundle: Any, *, frames: int, images_dir: Path,
              cli_args: Sequence[str] = (), measure_startup: bool = True,
              sizes: dict[str, tuple[int, int]] | None = None,
              extras: bool = True, num_threads: int | None = None) -> dict[str, Any]:
    """All measurements; returns the JSON-ready result. ``extras=False`` skips the OLED
    and pipelining figures (tests). ``num_threads``: the CPU threads ``clf`` was opened
    with; the naive loops' interpreters get the same."""
    from aoc.bench.loops import camera_frames, compare, rgb_to_yuv420
    from aoc.sources import list_images

    images = list_images(images_dir)
    sizes = dict(SIZES if sizes is None else sizes)
    current = getattr(clf, "current", clf)
    model_path = Path(current.model_path)
    delegates: list[Any] = []
    # ours runs as `aoc run` does: on an Edge TPU frames are captured and fitted by a
    # worker thread while the loop waits in invoke (aoc.app.pipeline); on the CPU the loop
    # does one stage after the other
    prefetch = clf.backend == "edgetpu"
    if prefetch:
        from aoc.inference.runtime import load_edgetpu_delegate

        delegates.append(load_edgetpu_delegate())
    head = getattr(bundle, "head", None)
    model_key = f"{clf.input_size[0]}x{clf.input_size[1]}"
    rows: dict[str, Any] = {}
    # each size's frames are decoded and converted once, for every row that uses them
    by_size = {key: camera_frames(images, size)
               for key, size in {**sizes, model_key: tuple(clf.input_size)}.items()}
    for key, size_frames in by_size.items():
        log.info("bench: %s frames", key)
        rows[key] = compare(clf, model_path, size_frames, frames, delegates=delegates,
                            head=head, prefetch=prefetch, num_threads=num_threads)
    yuv_key = f"{YUV_SIZE[0]}x{YUV_SIZE[1]}"
    rgb_640 = by_size.get(yuv_key) or camera_frames(images, YUV_SIZE)
    yuv_frames = [rgb_to_yuv420(f) for f in rgb_640]
    yuv = {yuv_key: compare(clf, model_path, yuv_frames, frames, delegates=delegates,
                            yuv=YUV_SIZE, head=head, prefetch=prefetch,
                            num_threads=num_threads)}
    model_row = rows[model_key]
    decode = decode_row(model_path, images, frames, delegates=delegates, head=head,
                           num_threads=num_threads)
    result: dict[str, Any] = {
        "model": f"{bundle.name} ({model_path})",
        "backend": clf.backend,
        "reason": clf.reason,
        "ours": "prefetch" if prefetch else "sequential",
        "num_threads": num_threads,
        "input_size": list(clf.input_size),
        "resize_filter": _resize_filter(clf),
        "frames": frames,
        "images": len(images),
        "machine": _machine(),
        "method": METHOD,
        "fps": model_row["fps"],
        "stages_ms": model_row["stages_ms"],
        "overhead_ms": model_row["overhead_ms"],
        "overhead_p95_ms": model_row["overhead_p95_ms"],
        "baseline": {"stages_ms": model_row["baseline_stages_ms"],
                     "overhead_ms": model_row["baseline_overhead"],
                     "fps": model_row["baseline_fps"]},
        "baseline_overhead_ms": model_row["baseline_overhead_ms"],
        "baseline_fps": model_row["baseline_fps"],
        "baseline_ratio": model_row["ratio"],
        "model_row": model_row,
        "sizes": {key: rows[key] for key in sizes},
        "yuv420": yuv,
        "decode": decode,
    }
    if head is not None:
        from aoc.inference.head import time_head

        result["head_ms"] = summarize_ms(time_head(head, calls=max(frames, 50)))
    if extras:
        from aoc.bench.extra import oled_figures, pipelined_figures, tpu_like_rows

        result["oled"] = oled_figures()
        pipe = pipelined_figures(rgb_640, n=max(30, frames))
        result["pipeline"] = pipe
        result["pipelined_fps"] = pipe["pipelined_fps"]
        result["tpu_like"] = (None if clf.backend == "edgetpu" else
                              tpu_like_rows(clf, model_path, {k: by_size[k] for k in sizes},
                                            frames, head=head))
    else:
        result.update(oled=None, pipeline=None, pipelined_fps=None, tpu_like=None)
    if measure_startup:
        result.update(startup_and_rss(cli_args, max(frames, 20)))
    else:
        result.update(startup_s=None, peak_rss_mb=None)
    result["targets"] = targets_report(result)
    return result


def _resize_filter(clf: Any) -> str:
    spec = getattr(clf, "preprocess_spec", None)
    from aoc.inference.resize import DEVICE_RESAMPLE

    return str(getattr(spec, "resample", DEVICE_RESAMPLE))


def _machine() -> dict[str, Any]:
    """What ran the bench: CPU count and load (the figures are only as quiet as it was)."""
    import platform

    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    from aoc.opencv import optional_cv2

    cv2 = optional_cv2()
    opencv = cv2.__version__ if cv2 is not None else None
    return {"machine": platform.machine(), "cpus": os.cpu_count(),
            "loadavg_1min": round(load[0], 2) if load[0] is not None else None,
            "python": platform.python_version(), "opencv": opencv}


def cmd_bench(args: argparse.Namespace, config: Any, host: Any) -> int:
    """``aoc bench``: print figures, write JSON to ``--out``."""
    from aoc.app.model import inference_threads, open_one_shot_classifier
    from aoc.bench.text import format_result
    from aoc.sources.demo_source import DEMO_DIR

    selection = open_one_shot_classifier(config, host)
    cli_args: list[str] = []
    for flag in ("bundle", "model", "labels", "backend"):
        value = getattr(args, flag, None)
        if value:
            cli_args += [f"--{flag}", str(value)]
    if args.config:
        cli_args += ["--config", str(args.config)]
    for item in args.overrides:
        cli_args += ["--set", item]
    try:
        result = run_bench(selection.opened, selection.bundle, frames=max(1, args.frames),
                           images_dir=DEMO_DIR, cli_args=cli_args,
                           num_threads=inference_threads(config, host))
    finally:
        selection.opened.close()
    text = json.dumps(result, indent=2)
    # printed (and flushed) first: a result file that cannot be written loses nothing shown
    print(text if args.json else format_result(result), flush=True)  # noqa: T201 - CLI output
    if args.out:
        from aoc.filecheck import write_result_file

        write_result_file(args.out, text + "\n")  # an OutputError: one line, exit 1
    # a measurement that failed (a crashed start-up run, no luma) is no pass
    missed = [k for k, t in result["targets"].items()
              if t["met"] is False or (t["met"] is None and t["applies"])]
    if missed and getattr(args, "check_targets", False):
        log.error("targets not met: %s", ", ".join(missed))
        return 1
    return 0
