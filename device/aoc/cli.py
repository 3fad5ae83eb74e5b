"""``aoc``: run the appliance, classify images, benchmark, check the environment.

``aoc run`` (the service), ``aoc classify IMAGE...``, ``aoc explain IMAGE...``,
``aoc bench``, ``aoc doctor``.
Exit codes: 0 ok, 1 failure (e.g. an unreadable image, a bench target missed with
``--check-targets``), 2 usage (incl. nonsense counts and an
output file in a missing folder), 69 no usable model, 78 bad configuration, or `run` as
root under systemd without service.allow_root (EX_CONFIG: the systemd unit does not
restart on it), 130 interrupted by Ctrl-C, 141 output pipe closed (``| head``): both quiet,
like Unix tools.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from aoc.app.process_age import mark_start
from aoc.cli_args import build_parser, config_overrides, output_file_problem
from aoc.cli_output import EX_FAIL, run_guarded
from aoc.errors import AocError, BundleError, ConfigError, OutputError
from aoc.log_setup import setup_logging

log = logging.getLogger(__name__)

EX_OK, EX_USAGE, EX_UNAVAILABLE, EX_TEMPFAIL, EX_CONFIG = 0, 2, 69, 75, 78
NO_MODEL_TEXT = "no usable model - see log"
"""What the OLED keeps showing when ``aoc run`` finds no model it can load (exit 69)."""
# taken at import, before aoc runs any program: where the start-up figure may count from
_STARTED = mark_start()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``aoc``; returns the exit code.

    A closed output pipe (``aoc classify ... | head -1``) and Ctrl-C end the command
    quietly with 141 and 130, as Unix tools do, instead of a traceback; standard output
    that cannot be written (a full disk, ``> /dev/full``) is one line on stderr and exit 1;
    a closed standard output (``>&-``) is taken as ``/dev/null`` (:mod:`aoc.cli_output`).
    """
    return run_guarded(lambda: _main(argv))


def _main(argv: Sequence[str] | None = None) -> int:
    from aoc.app.host import Host
    from aoc.app.screen import show_config_error
    from aoc.config import load_config

    args = build_parser().parse_args(argv)
    host = Host.probe()
    setup_logging(args.log_level or "INFO", journald=host.under_systemd)
    try:
        config = load_config(args.config, overrides=config_overrides(args))
    except ConfigError as exc:
        # one line on stderr (the journal, under systemd), not a log line and a print
        if args.command == "doctor":  # doctor reports the bad key among its checks
            from aoc.config_sections import Config
            from aoc.doctor import cmd_doctor

            return cmd_doctor(args, Config(), host, config_error=str(exc))
        print(f"aoc: configuration error: {exc}", file=sys.stderr)
        if args.command == "run":
            show_config_error(exc, host)
        # a read error that may pass is restarted by the unit; 78 is not
        return EX_TEMPFAIL if exc.temporary else EX_CONFIG
    logging.getLogger().setLevel(config.logging.level)
    for attr, flag in (("stats_json", "--stats-json"), ("out", "--out")):
        problem = output_file_problem(getattr(args, attr, None), flag)
        if problem is not None:
            print(f"aoc: {problem}", file=sys.stderr)
            return EX_USAGE
    if args.command == "run":
        from aoc.app.host import root_refusal

        refusal = root_refusal(config, host)
        if refusal is not None:
            print(f"aoc: {refusal}", file=sys.stderr)
            return EX_CONFIG
    try:
        if args.command == "run":
            return cmd_run(args, config, host)
        if args.command == "classify":
            return cmd_classify(args, config, host)
        if args.command == "explain":
            from aoc.app.model import open_one_shot_classifier
            from aoc.explain.cli import cmd_explain

            return cmd_explain(args, config, host, open_classifier=open_one_shot_classifier)
        if args.command == "bench":
            from aoc.bench.run import cmd_bench

            return cmd_bench(args, config, host)
        from aoc.doctor import cmd_doctor

        return cmd_doctor(args, config, host)
    except ConfigError as exc:
        print(f"aoc: configuration error: {exc}", file=sys.stderr)
        if args.command == "run":
            show_config_error(exc, host)
        return EX_CONFIG
    except BundleError as exc:
        print(f"aoc: no usable model: {exc}", file=sys.stderr)
        if args.command == "run":
            from aoc.app.screen import show_startup_error

            show_startup_error(NO_MODEL_TEXT, host, config=config)
        return EX_UNAVAILABLE
    except OutputError:
        raise  # main() says it once and keeps the interpreter's last flush quiet
    except AocError as exc:
        print(f"aoc: {exc}", file=sys.stderr)
        return EX_FAIL


def cmd_run(args: argparse.Namespace, config: Any, host: Any) -> int:
    """``aoc run``: the appliance loop; prints a summary at the end.

    When the power button's shutdown command fails, the appliance starts again and keeps
    running (the error is logged and listed in the summary's warnings).
    """
    from aoc.app.process_age import timed_process_age
    from aoc.app.wiring import run

    age = timed_process_age(_STARTED)
    while True:
        result = run(config, host, max_frames=args.max_frames, duration_s=args.duration,
                     process_age=age)
        if not result.shutdown_failed:
            break
        log.error("the shutdown command failed: starting the appliance again")
    summary = result.to_dict()
    unwritten = None
    if args.stats_json:
        from aoc.filecheck import write_result_file

        try:
            write_result_file(args.stats_json, json.dumps(summary, indent=2) + "\n")
        except OutputError as exc:  # the summary below is not lost with it
            unwritten = exc
    # flushed here, so a closed output pipe raises now (-> 141), not in the interpreter's
    # final flush (exit status 120 and a traceback-like "Exception ignored")
    print(format_summary(summary), flush=True)
    if unwritten is not None:
        print(f"aoc: --stats-json: {unwritten}", file=sys.stderr)
        return EX_FAIL
    if result.restart_because:
        # non-zero, so that systemd starts the appliance afresh (and a run by hand says so)
        print(f"aoc: stopped to be restarted: {result.restart_because}", file=sys.stderr)
        return EX_TEMPFAIL
    return EX_OK


def format_summary(s: dict[str, Any]) -> str:
    """Human summary of a run."""
    lines = [
        f"frames: {s['frames']} in {s['seconds']:.1f} s ({s['fps']:.1f} fps)",
        f"backend: {s['backend']} ({s['reason']})",
        f"model: {s['model']}",
        f"source: {s['source']}",
        f"verdict at the end: {s['verdict']}",
    ]
    for stage, v in s["stages_ms"].items():
        lines.append(f"  {stage:<12} median {v['median']:8.3f} ms  p95 {v['p95']:8.3f} ms")
    if s.get("startup_s") is not None:
        lines.append(f"start-up to first result: {s['startup_s']:.2f} s")
    lines.append(f"peak RSS: {s['peak_rss_mb']:.0f} MB")
    lines += [f"warning: {w}" for w in s.get("warnings", [])]
    return "\n".join(lines)


def cmd_classify(args: argparse.Namespace, config: Any, host: Any) -> int:
    """``aoc classify``: one line (or JSON object) per image; errors on stderr."""
    from aoc.app.model import open_one_shot_classifier
    from aoc.errors import ImageReadError, InferenceError
    from aoc.images import load_frame
    from aoc.inference.postprocess import top_k

    selection = open_one_shot_classifier(config, host)
    failed = 0
    with contextlib.closing(selection.opened) as clf:
        for path in args.images:
            try:
                frame = load_frame(path, size=clf.input_size)
                scores = clf.classify(frame)
            except (ImageReadError, InferenceError) as exc:
                # one bad image never stops the others; the exit code says some failed
                failed += 1
                print(f"aoc classify: {path}: {exc}", file=sys.stderr, flush=True)
                if args.json:  # one object per image, so a script sees which one failed
                    print(json.dumps({"image": str(path), "error": str(exc)}), flush=True)
                continue
            top = top_k(scores, clf.labels, max(1, args.top))
            if args.json:
                print(json.dumps({"image": str(path), "backend": clf.backend,
                                  "top": [{"label": t.label, "score": round(t.score, 6)}
                                          for t in top]}), flush=True)
            else:
                shown = ", ".join(f"{t.label} {t.score:.1%}" for t in top)
                print(f"{path}: {shown} [{clf.backend}]", flush=True)
    if failed:
        print(f"aoc classify: {failed} of {len(args.images)} image(s) failed", file=sys.stderr)
    return EX_FAIL if failed else EX_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
