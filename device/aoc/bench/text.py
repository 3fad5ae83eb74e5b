"""The human-readable form of :func:`aoc.bench.run.run_bench`'s result, and the paragraph
that says how it was measured (printed with it and stored in its JSON)."""

from __future__ import annotations

from typing import Any

__all__ = ["METHOD", "format_result"]

METHOD = (
    "Method: both loops run in this one process on the same model and the same frames "
    "(the demo images, converted to each camera size in memory before any clock "
    "starts), alternating in chunks so that a changing machine load hits both. Ours is "
    "aoc.app.loop.run_loop with the real classifier (frames resized straight into the input "
    "tensor with the 'area_linear' filter), smoothing and a threaded null display (drawing "
    "at most 10 times a second, the [display] default, so the loop builds a reading about "
    "that often), as aoc run runs it: on an Edge TPU (and in the tpu_like rows) the frames "
    "are captured and fitted by aoc.app.pipeline.PrefetchSource's worker while the loop "
    "waits in invoke, so the capture stage is the wait for that frame; on the CPU one stage "
    "after the other. The "
    "naive loop follows Coral's examples-camera and pycoral's common.set_input / "
    "classify.get_classes: Image.fromarray(frame).resize(size) (Pillow's default filter, "
    "bicubic), copy into the input tensor, invoke, dequantize, sort, with no file decoding "
    "(decoding a file per "
    "frame, as pycoral's classify_image does, is the separate 'decode' row). A YUV420 "
    "frame is converted inside the measured time, by one cv2.cvtColor(I420) call in the "
    "naive loop and by aoc.sources.yuv in ours. Overhead is a frame's period (from its start "
    "to the next frame's, so the loop's own work between its timed stages counts) less its "
    "invoke; figures are medians and 95th percentiles over all frames; ratio = naive "
    "overhead / ours. OLED "
    "bytes come from luma's real ssd1306 driver on a recording serial interface, I2C "
    "times are computed from those bytes (9 clocks a byte plus address and control "
    "bytes per transaction); pipelined_fps uses a fake camera paced at 60 fps and a fake "
    "3 ms invoke that waits like an Edge TPU. The tpu_like rows repeat the sizes with both "
    "loops' invoke replaced by a 2.4 ms wait (Coral's published MobileNet V1 time), after one "
    "real invoke whose output both postprocess: the loop's cost when invoke leaves the CPU "
    "caches alone, as an Edge TPU does; it is information, not a target."
)


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
        state = ("does not apply here" if not t.get("applies", True) else
                 "NOT measured" if t["met"] is None else "met" if t["met"] else "NOT met")
        lines.append(f"{key}: {t['value']} (target {t['direction']} {t['target']}) {state}")
    lines.append(r.get("method", ""))
    return "\n".join(lines)
