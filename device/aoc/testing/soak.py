"""Soak benchmark: many frames through the real loop with faults injected at set rates.

``python -m aoc.testing.soak --frames 100000 --json out.json`` runs :func:`aoc.app.loop.run_loop`
with
the production recovery wrappers -- :class:`~aoc.sources.resilient.ResilientSource`,
:class:`~aoc.inference.failover.FailoverClassifier` (a CPU model standing in for the Edge TPU, a
second one as the CPU fallback), :class:`~aoc.display.threaded.ThreadedDisplay` -- around
:mod:`aoc.testing.faults` wrappers that fail camera reads and opens, "TPU" inference and opens,
CPU inference and display writes. Before the loop it starts the model selection on damaged
``last-good-bundle`` records and loads broken configs (:func:`aoc.testing.faults.start_up_faults`;
config reload is not implemented, so these are start-up faults). It passes when every
frame is classified, the loop never stalls, the last state reaches the screen, every fault
was recovered from, every damaged record meant "no record" and every bad config was
refused, RSS grew by less than the limit between warm-up and the end, and the process
listened on no network socket.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aoc.app.repeat_filter import RepeatFilter
from aoc.errors import AocError, EdgeTpuUnavailable
from aoc.inference.model_select import REPO_DEFAULT_BUNDLE, SYSTEM_DEFAULT_BUNDLE
from aoc.testing.faults import (
    FaultSchedule,
    FaultyClassifier,
    FaultyDisplay,
    FaultySource,
    start_up_faults,
)
from aoc.testing.soak_doubles import RecordingDisplay, SyntheticSource
from aoc.testing.soak_monitor import SoakMonitor

__all__ = [
    "SoakConfig",
    "find_model",
    "main",
    "run_soak",
]

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # aoc/
MODEL_CANDIDATES = (
    PACKAGE_DIR.parents[1] / "tests" / "data" / "models" / "uint8",  # a checkout: tiny model
    REPO_DEFAULT_BUNDLE,
    SYSTEM_DEFAULT_BUNDLE,
)


@dataclass(frozen=True)
class SoakConfig:
    """What to run and how often each fault strikes (rates are per call)."""

    frames: int = 100_000
    warmup: int = 0  # 0: 10% of frames, at least 500
    model: str = ""  # bundle folder; "" picks the first of MODEL_CANDIDATES that exists
    camera_rate: float = 0.002
    camera_open_rate: float = 0.2  # of reopen attempts: the camera stays away a while
    tpu_rate: float = 0.001
    tpu_open_rate: float = 0.2
    cpu_rate: float = 0.001
    display_rate: float = 0.01
    kill_rate: float = 0.0  # >0: the "TPU" runs in an inference child that gets SIGKILLed
    reprobe_s: float = 0.05
    seed: int = 0
    stall_s: float = 5.0
    rss_limit_mb: float = 5.0
    max_seconds: float = 0.0  # >0: give up after this long (a soak must never hang)



def find_model(model: str) -> Path:
    """The bundle to run: ``model`` or the first candidate that exists."""
    if model:
        return Path(model)
    for candidate in MODEL_CANDIDATES:
        if (candidate / "manifest.json").is_file():
            return candidate
    raise AocError(
        "no model bundle for the soak: pass --model DIR (e.g. tests/data/models/uint8 in a "
        "checkout, or /usr/share/anime-or-cartoon/models/default)"
    )


def run_soak(config: SoakConfig) -> dict[str, Any]:
    """Run the soak; returns the report (``report["passed"]`` says whether it passed)."""
    from aoc.app.loop import run_loop
    from aoc.app.smoothing import Smoother
    from aoc.display.threaded import ThreadedDisplay
    from aoc.inference.bundle import load_bundle
    from aoc.inference.classifier import open_classifier
    from aoc.inference.failover import FailoverClassifier
    from aoc.inference.isolated import open_isolated_classifier
    from aoc.sources.resilient import ResilientSource

    warmup = config.warmup or max(500, config.frames // 10)
    bundle = load_bundle(find_model(config.model))
    # Start-up faults first: a damaged last-good record, configs that must be refused.
    with tempfile.TemporaryDirectory(prefix="aoc-soak-") as scratch:
        start_up = start_up_faults(scratch, bundle.root)
    sched = _fault_schedules(config)
    fallback = open_classifier(bundle, prefer="cpu")
    size = fallback.input_size
    opened = {"tpu": 0}

    def open_tpu() -> Any:
        if sched["tpu_open"].fire():
            raise EdgeTpuUnavailable("injected fault: no Edge TPU found on usb; check the cable")
        if config.kill_rate:
            inner = open_isolated_classifier(bundle, prefer="cpu")
            clf = FaultyClassifier(inner, faults=sched["tpu_invoke"], kind="kill",
                                   backend="edgetpu")
        else:
            clf = FaultyClassifier(open_classifier(bundle, prefer="cpu"),
                                   faults=sched["tpu_invoke"], backend="edgetpu")
        opened["tpu"] += 1
        return clf

    def open_camera() -> FaultySource:
        return FaultySource(SyntheticSource(size, seed=config.seed),
                            read_faults=sched["camera_read"], open_faults=sched["camera_open"])

    source = ResilientSource(open_camera, backoff=(0.0, 0.001, 0.002), idle_s=0.001)
    classifier = FailoverClassifier(
        open_tpu, lambda: FaultyClassifier(fallback, faults=sched["cpu_invoke"]),
        reprobe_interval_s=config.reprobe_s,
    )
    screen = RecordingDisplay(keep=1)
    display = ThreadedDisplay(FaultyDisplay(screen, faults=sched["display"]), max_fps=0,
                              retry_interval_s=0.005)
    monitor = SoakMonitor(warmup, final=config.frames,
                          sample_every=max(1, (config.frames - warmup) // 10))
    t0 = time.perf_counter()
    try:
        with source:
            stats = run_loop(source, classifier, Smoother(fallback.labels), display,
                             max_frames=config.frames, hooks=[monitor], idle_wait_s=0.001,
                             duration_s=config.max_seconds or None)
        final_shown = screen.wait_for(
            lambda s: s is not None and s.anime == stats.anime and s.cartoon == stats.cartoon,
            timeout=10.0,
        )
        display_fault = display.fault
    finally:
        display.close()
        classifier.close()
        fallback.close()
    elapsed = time.perf_counter() - t0
    return _report(config, bundle_root=bundle.root, warmup=warmup, sched=sched, source=source,
                   classifier=classifier, display=display, display_fault=display_fault,
                   final_shown=final_shown, monitor=monitor, stats=stats, start_up=start_up,
                   tpu_opened=opened["tpu"], elapsed=elapsed)


def _fault_schedules(config: SoakConfig) -> dict[str, FaultSchedule]:
    """One seeded schedule per injected fault, at the configured rates."""
    return {
        name: FaultSchedule(rate, seed=config.seed + i, name=name)
        for i, (name, rate) in enumerate((
            ("camera_read", config.camera_rate), ("camera_open", config.camera_open_rate),
            ("tpu_invoke", config.kill_rate or config.tpu_rate),
            ("tpu_open", config.tpu_open_rate), ("cpu_invoke", config.cpu_rate),
            ("display", config.display_rate),
        ))
    }


def _report(config: SoakConfig, *, bundle_root: Path, warmup: int,
            sched: dict[str, FaultSchedule], source: Any, classifier: Any, display: Any,
            display_fault: str | None, final_shown: bool, monitor: SoakMonitor, stats: Any,
            start_up: dict[str, Any], tpu_opened: int, elapsed: float) -> dict[str, Any]:
    """The soak's report: what was injected, what was seen, and the pass/fail checks."""
    rss_growth_mb = ((monitor.rss_end or 0) - (monitor.rss_warm or 0)) / 2**20
    counts = {
        "camera": {"injected": sched["camera_read"].injected + sched["camera_open"].injected,
                   "read_errors": sched["camera_read"].injected,
                   "open_errors": sched["camera_open"].injected,
                   "failures_seen": source.failures, "recovered": source.recoveries,
                   "up_at_end": not source.is_down},
        "tpu": {"injected": sched["tpu_invoke"].injected + sched["tpu_open"].injected,
                "invoke_errors" if not config.kill_rate else "child_kills":
                    sched["tpu_invoke"].injected,
                "open_errors": sched["tpu_open"].injected,
                "failovers": classifier.failovers, "reprobes": classifier.reprobes,
                "recovered": max(0, tpu_opened - 1) if stats.frames else 0,
                "backend_at_end": stats.backend},
        "cpu_inference": {"injected": sched["cpu_invoke"].injected,
                          "frames_skipped": stats.faults["inference"]},
        "display": {"injected": sched["display"].injected, "errors_seen": display.errors,
                    "frames_shown": display.frames_shown, "fault_at_end": display_fault,
                    "final_state_shown": final_shown},
        "start_up": start_up,
    }
    checks = {
        "all_frames": stats.frames == config.frames,
        "no_stall": monitor.max_gap_s < config.stall_s,
        "final_state_shown": final_shown,
        "camera_recovered": counts["camera"]["up_at_end"]
        and source.failures == counts["camera"]["injected"],
        "tpu_failovers": classifier.failovers == sched["tpu_invoke"].injected,
        "cpu_faults_survived": stats.faults["inference"] == sched["cpu_invoke"].injected,
        "display_recovered": display_fault is None,
        "rss_growth": rss_growth_mb < config.rss_limit_mb,
        "no_listeners": monitor.listeners == [],
        "hooks_ok": stats.faults["hook"] == 0,
        "damaged_state_survived": start_up["state_records_survived"]
        == start_up["damaged_state_records"],
        "bad_configs_refused": start_up["bad_configs_refused"] == start_up["bad_configs"],
    }
    return {
        "passed": all(checks.values()),
        "checks": checks,
        "config": asdict(config) | {"warmup": warmup, "model": str(bundle_root)},
        "frames": stats.frames,
        "seconds": round(elapsed, 2),
        "fps": round(stats.frames / elapsed, 1) if elapsed > 0 else 0.0,
        "max_loop_gap_s": round(monitor.max_gap_s, 4),
        "rss_warm_mb": round((monitor.rss_warm or 0) / 2**20, 2),
        "rss_end_mb": round((monitor.rss_end or 0) / 2**20, 2),
        "rss_growth_mb": round(rss_growth_mb, 3),
        "rss_after_stop_mb": round((monitor.rss_stop or 0) / 2**20, 2),
        "rss_samples_mb": [(n, round(b / 2**20, 2)) for n, b in monitor.rss_samples],
        "listening_sockets": monitor.listeners,
        "faults": counts,
        "loop": stats.to_dict(),
    }


def _parser() -> argparse.ArgumentParser:
    d = SoakConfig()
    p = argparse.ArgumentParser(prog="python -m aoc.testing.soak",
                                description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=d.frames)
    p.add_argument("--warmup", type=int, default=d.warmup, help="frames before the first "
                   "RSS sample (default 10%%, at least 500)")
    p.add_argument("--model", default=d.model, help="model bundle folder")
    for name in ("camera_rate", "camera_open_rate", "tpu_rate", "tpu_open_rate", "cpu_rate",
                 "display_rate", "kill_rate", "reprobe_s", "stall_s", "rss_limit_mb",
                 "max_seconds"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--json", type=Path, help="write the report here")
    p.add_argument("--quiet", action="store_true", help="log errors only")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; exit status 0 when the soak passed."""
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.addFilter(RepeatFilter(burst=3, interval_s=30.0))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING,
                        handlers=[handler])
    fields = {k: v for k, v in vars(args).items() if k not in ("json", "quiet")}
    try:
        report = run_soak(SoakConfig(**fields))
    except AocError as exc:
        sys.stderr.write(f"soak: {exc}\n")
        return 2
    out = sys.stdout
    out.write(f"soak: {report['frames']} frames in {report['seconds']} s "
              f"({report['fps']} fps), longest loop gap {report['max_loop_gap_s']} s\n")
    out.write(f"RSS {report['rss_warm_mb']} MB after warm-up -> {report['rss_end_mb']} MB "
              f"at the end ({report['rss_growth_mb']:+} MB)\n")
    for name, counts in report["faults"].items():
        out.write(f"  {name:14} " + " ".join(f"{k}={v}" for k, v in counts.items()) + "\n")
    failed = [name for name, ok in report["checks"].items() if not ok]
    out.write("PASSED\n" if not failed else f"FAILED: {', '.join(failed)}\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
