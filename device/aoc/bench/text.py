"""The human-readable form of :func:`aoc.bench.run.run_bench`'s result."""

from __future__ import annotations

from typing import Any

__all__ = ["format_result"]


def _stage_lines(stages: dict[str, dict[str, float]]) -> list[str]:
    return [f"    {stage:<14} median {v['median']:8.3f} ms  p95 {v['p95']:8.3f} ms"
            for stage, v in stages.items()]


def _overhead_cells(row: dict[str, Any]) -> str:
    """Ours, naive (medians with p95) and their ratio: the columns every row shares."""
    ratio = row["ratio"] if row["ratio"] is not None else "-"
    return (f"{row['overhead_ms']:7.3f} (p95 {row['overhead_p95_ms']:6.3f})"
            f" {row['baseline_overhead_ms']:6.3f} (p95 {row['baseline_overhead_p95_ms']:6.3f})"
            f" {ratio:>7}")


def format_result(r: dict[str, Any]) -> str:
    """Human-readable bench figures."""
    m = r.get("machine") or {}
    threads = r.get("num_threads") or "runtime default"
    lines = [f"model: {r['model']}", f"backend: {r['backend']} ({r['reason']}), CPU threads"
             f" {threads}",
             f"input {r['input_size'][0]}x{r['input_size'][1]}, resize filter "
             f"{r.get('resize_filter')}, {r['frames']} frames per row over {r['images']} "
             "images",
             f"machine: {m.get('machine')}, {m.get('cpus')} CPUs, load {m.get('loadavg_1min')}"
             f" (1 min), OpenCV {m.get('opencv')}",
             f"loop at the model size: {r['fps']:.1f} fps (naive {r['baseline_fps']:.1f})"]
    if "head_ms" in r:
        v = r["head_ms"]
        lines.append(f"  {'head':<14} median {v['median']:8.3f} ms  p95 {v['p95']:8.3f} ms"
                     "  (numpy, part of postprocess)")
    rows = [(f"{k} RGB", v) for k, v in (r.get("sizes") or {}).items()]
    rows += [(f"{k} YUV420", v) for k, v in (r.get("yuv420") or {}).items()]
    lines.append(f"{'frames':<16} {'ours ms':>16} {'naive ms':>16} {'ratio':>7}"
                 f" {'invoke ms':>9} {'loop/invoke':>11}")
    for name, row in rows:
        lines.append(f"{name:<16} {_overhead_cells(row)}"
                     f" {row['invoke_ms']:9.3f} {row['loop_over_invoke']:>11}")
    for name, row in rows:
        lines.append(f"  {name}: ours")
        lines += _stage_lines({**row["stages_ms"], "between stages": row["between_stages_ms"]})
        lines.append(f"  {name}: naive (Coral examples-camera / pycoral style)")
        lines += _stage_lines(row["baseline_stages_ms"])
    tpu = r.get("tpu_like")
    if tpu:
        lines.append(f"with an Edge-TPU-like invoke (a {tpu['invoke_wait_ms']} ms wait; ours "
                     "prefetching as aoc run does on an Edge TPU; information, not a target):")
        for name, row in tpu["sizes"].items():
            lines.append(f"{name + ' RGB':<16} {_overhead_cells(row)}")
    lines.append("decode row (pycoral classify_image: a file decoded per frame):")
    lines += _stage_lines(r["decode"]["stages_ms"])
    oled = r.get("oled")
    if oled and "bytes_per_update" in oled:
        lines.append(
            f"oled: {oled['bytes_per_update']:.0f} bytes per update (p95 "
            f"{oled['bytes_per_update_p95']:.0f}; full frame {oled['full_frame_bytes']}), "
            f"{oled['ms_per_update']['100kHz']} ms at 100 kHz, "
            f"{oled['ms_per_update']['400kHz']} ms at 400 kHz (full frame "
            f"{oled['full_frame_ms']['100kHz']} / {oled['full_frame_ms']['400kHz']} ms)")
    pipe = r.get("pipeline")
    if pipe:
        for label, p in (("camera-bound", pipe), ("invoke-bound", pipe["invoke_bound"])):
            lines.append(
                f"pipeline ({label}: {p['camera_fps']:.0f} fps camera, {p['invoke_ms']} ms "
                f"invoke, measured {p['measured_invoke_ms']} ms): pipelined "
                f"{p['pipelined_fps']} fps, sequential {p['sequential_fps']} fps, expected "
                f"{p['expected_fps']} fps")
    for key, t in r["targets"].items():
        state = "not measured" if t["met"] is None else ("met" if t["met"] else "NOT met")
        lines.append(f"{key}: {t['value']} (target {t['direction']} {t['target']}) {state}")
    lines.append(r.get("method", ""))
    return "\n".join(lines)
