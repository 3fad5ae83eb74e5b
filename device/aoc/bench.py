"""``aoc bench``: how much the appliance adds around ``invoke()``, against a naive loop.

Three measurements on the same model and the same demo images:

1. **ours**: :func:`aoc.loop.run_loop` with the real parts (image source delivering frames
   at the model's size, the classifier's preallocated buffers, smoothing, a threaded null
   display) -> per-stage median / p95 and the loop's frame rate;
2. **baseline**: a loop written the way pycoral's ``classify_image.py`` example works: per
   frame decode the file and resize with Pillow (``Image.open(p).convert('RGB').resize(size,
   Image.LANCZOS)``), ``np.asarray``, ``set_tensor``, ``invoke``, ``get_tensor`` and
   dequantize into fresh arrays;
3. **start-up and memory**: a separate ``aoc run --source demo --display null`` process,
   timed from process start to its first result, with its peak RSS.

``overhead_ms`` is the median per-frame cost of everything except ``invoke``;
``baseline_ratio`` is the baseline's overhead over ours. Targets are reported; with
``--check-targets`` a missed one makes the exit code 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TARGETS = {"overhead_ms": 1.0, "baseline_ratio": 5.0, "startup_s": 2.0, "peak_rss_mb": 150.0}


def overhead_of(samples: np.ndarray, invoke_column: int) -> np.ndarray:
    """Per-frame seconds of every stage but ``invoke`` (rows = frames, columns = stages)."""
    return samples.sum(axis=1) - samples[:, invoke_column]


def summarize_ms(values_s: np.ndarray) -> dict[str, float]:
    """Median and p95 in milliseconds."""
    if values_s.size == 0:
        return {"median": 0.0, "p95": 0.0}
    return {"median": round(float(np.median(values_s)) * 1e3, 4),
            "p95": round(float(np.percentile(values_s, 95)) * 1e3, 4)}


def baseline_loop(model_path: Path, images: Sequence[Path], frames: int, *,
                  delegates: Sequence[Any] = (), num_threads: int | None = None,
                  clock: Any = time.perf_counter) -> dict[str, Any]:
    """The naive pycoral-example loop; returns per-stage and overhead timings (ms)."""
    from PIL import Image

    from aoc.runtime import find_runtime, make_interpreter

    interpreter = make_interpreter(find_runtime(), model_path, delegates=delegates,
                                   num_threads=num_threads)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    _, height, width, _ = inp["shape"]
    in_scale, in_zp = inp["quantization"]
    out_scale, out_zp = out["quantization"]
    rows = np.zeros((frames, 4), dtype=np.float64)  # decode+resize, set, invoke, get+deq
    for i in range(frames):
        path = images[i % len(images)]
        t0 = clock()
        image = Image.open(path).convert("RGB").resize((int(width), int(height)),
                                                       Image.LANCZOS)
        t1 = clock()
        pixels = np.asarray(image)
        if inp["dtype"] == np.float32:
            tensor = np.expand_dims(pixels.astype(np.float32), 0)
        elif in_scale and not (inp["dtype"] == np.uint8 and in_scale == 1.0 and in_zp == 0):
            info = np.iinfo(inp["dtype"])
            q = np.round(pixels.astype(np.float32) / in_scale + in_zp)
            tensor = np.expand_dims(np.clip(q, info.min, info.max).astype(inp["dtype"]), 0)
        else:
            tensor = np.expand_dims(pixels, 0).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], tensor)
        t2 = clock()
        interpreter.invoke()
        t3 = clock()
        raw = interpreter.get_tensor(out["index"])[0]
        scores = (raw.astype(np.float32) - out_zp) * out_scale if out_scale else raw.copy()
        np.argsort(-scores)[:3]  # pycoral's get_classes sorts the scores
        t4 = clock()
        rows[i] = (t1 - t0, t2 - t1, t3 - t2, t4 - t3)
    return {
        "stages_ms": {name: summarize_ms(rows[:, k]) for k, name in
                      enumerate(("decode_resize", "set_tensor", "invoke", "get_dequantize"))},
        "overhead_ms": summarize_ms(overhead_of(rows, 2)),
        "fps": round(frames / float(rows.sum()), 2) if rows.sum() > 0 else 0.0,
    }


def our_loop(clf: Any, images_dir: Path, frames: int, *, resize: str = "stretch"
             ) -> dict[str, Any]:
    """:func:`run_loop` with the real parts on ``images_dir``; timings in ms."""
    from aoc.display.null import NullDisplay
    from aoc.display.threaded import ThreadedDisplay
    from aoc.loop import STAGES, run_loop
    from aoc.smoothing import Smoother
    from aoc.sources import ImageFolderSource

    source = ImageFolderSource(images_dir, size=clf.input_size, loop=True, resize=resize)
    with source, ThreadedDisplay(NullDisplay()) as display:
        stats = run_loop(source, clf, Smoother(clf.labels), display, max_frames=frames,
                         timings_capacity=max(frames, 1))
    samples = stats.timings.samples()
    return {
        "stages_ms": stats.to_dict()["stages_ms"],
        "overhead_ms": summarize_ms(overhead_of(samples, STAGES.index("invoke"))),
        "fps": round(stats.fps, 2),
    }


def startup_and_rss(cli_args: Sequence[str], frames: int) -> dict[str, Any]:
    """Run ``aoc run`` in a fresh process; its start-up to first result and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stats.json"
        cmd = [sys.executable, "-m", "aoc", "run", "--source", "demo", "--display", "null",
               "--max-frames", str(frames), "--stats-json", str(out), *cli_args]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603
        if proc.returncode != 0 or not out.exists():
            log.warning("aoc run for start-up timing failed (%d): %s", proc.returncode,
                        proc.stderr.strip()[-500:])
            return {"startup_s": None, "peak_rss_mb": None}
        stats = json.loads(out.read_text())
    return {"startup_s": stats.get("startup_s"), "peak_rss_mb": stats.get("peak_rss_mb")}


def targets_report(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its value and whether it is met (None when not measured)."""
    report = {}
    for key, target in TARGETS.items():
        value = result.get(key)
        if key == "baseline_ratio":
            met = None if value is None else value >= target
        else:
            met = None if value is None else value <= target
        report[key] = {"value": value, "target": target, "met": met}
    return report


def run_bench(clf: Any, bundle: Any, *, frames: int, images_dir: Path,
              cli_args: Sequence[str] = (), measure_startup: bool = True) -> dict[str, Any]:
    """All three measurements; returns the JSON-ready result."""
    from aoc.sources import list_images

    images = list_images(images_dir)
    from aoc.app import source_resize

    ours = our_loop(clf, images_dir, frames, resize=source_resize(bundle))
    current = getattr(clf, "current", clf)
    model_path = Path(current.model_path)
    delegates: list[Any] = []
    if clf.backend == "edgetpu":
        from aoc.runtime import load_edgetpu_delegate

        delegates.append(load_edgetpu_delegate())
    base = baseline_loop(model_path, images, frames, delegates=delegates)
    result: dict[str, Any] = {
        "model": f"{bundle.name} ({model_path})",
        "backend": clf.backend,
        "reason": clf.reason,
        "input_size": list(clf.input_size),
        "frames": frames,
        "images": len(images),
        "fps": ours["fps"],
        "stages_ms": ours["stages_ms"],
        "overhead_ms": ours["overhead_ms"]["median"],
        "overhead_p95_ms": ours["overhead_ms"]["p95"],
        "baseline": base,
        "baseline_overhead_ms": base["overhead_ms"]["median"],
        "baseline_fps": base["fps"],
    }
    ours_ms = result["overhead_ms"]
    result["baseline_ratio"] = (round(result["baseline_overhead_ms"] / ours_ms, 2)
                                if ours_ms > 0 else None)
    if measure_startup:
        result.update(startup_and_rss(cli_args, max(frames, 20)))
    else:
        result.update(startup_s=None, peak_rss_mb=None)
    result["targets"] = targets_report(result)
    return result


def format_result(r: dict[str, Any]) -> str:
    """Human-readable bench figures."""
    lines = [f"model: {r['model']}", f"backend: {r['backend']} ({r['reason']})",
             f"input {r['input_size'][0]}x{r['input_size'][1]}, {r['frames']} frames over "
             f"{r['images']} images",
             f"loop: {r['fps']:.1f} fps (baseline {r['baseline_fps']:.1f})"]
    for stage, v in r["stages_ms"].items():
        lines.append(f"  {stage:<14} median {v['median']:8.3f} ms  p95 {v['p95']:8.3f} ms")
    lines.append("baseline (pycoral classify_image style):")
    for stage, v in r["baseline"]["stages_ms"].items():
        lines.append(f"  {stage:<14} median {v['median']:8.3f} ms  p95 {v['p95']:8.3f} ms")
    for key, t in r["targets"].items():
        state = "not measured" if t["met"] is None else ("met" if t["met"] else "NOT met")
        lines.append(f"{key}: {t['value']} (target {'>=' if key == 'baseline_ratio' else '<='}"
                     f" {t['target']}) {state}")
    return "\n".join(lines)


def cmd_bench(args: argparse.Namespace, config: Any, host: Any) -> int:
    """``aoc bench``: print figures, write JSON to ``--out``."""
    from aoc.cli import open_one_shot_classifier
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
                           images_dir=DEMO_DIR, cli_args=cli_args)
    finally:
        selection.opened.close()
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text if args.json else format_result(result))  # noqa: T201 - CLI output
    missed = [k for k, t in result["targets"].items() if t["met"] is False]
    if missed and getattr(args, "check_targets", False):
        log.error("targets not met: %s", ", ".join(missed))
        return 1
    return 0
