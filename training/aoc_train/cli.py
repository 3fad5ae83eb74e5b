"""``aoc-train``: build a model bundle from a folder of images, or run one stage of it.

    aoc-train build DATA_DIR --out models/NAME [--weights FILE.weights.h5]
    aoc-train fit DATA_DIR --out models/NAME      # views, features, head, top-tune
    aoc-train export DATA_DIR --out models/NAME   # int8 + float TFLite (needs fit)
    aoc-train check MODEL.tflite                  # Edge TPU operator table
    aoc-train compile MODEL.tflite --out DIR      # edgetpu_compiler, when installed
    aoc-train evaluate DATA_DIR --out models/NAME # held-out scores, report, final bundle
    aoc-train crossval DATA_DIR --out models/NAME # leave-source-out, Keras recipe

``build`` runs every stage; each stage is skipped when its outputs exist and its inputs and
settings are unchanged (work folder ``.cache/aoc-train/NAME`` by default), so an interrupted
build continues. TensorFlow is imported only by the stages that need it.

Exit codes: 0 ok, 1 failure (message on stderr), 2 usage, 130 interrupted, 65 the trained
model is degenerate (constant outputs, or a class at or below chance on the held-out images;
see ``aoc_train.quality``): nothing is written to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence

from aoc.errors import AocError

from .cli_args import (
    build_parser,
    config_from_args,
    globals_first,
    path_problem,
    recorded_command,
)
from .errors import DataError, DegenerateModelError, MissingTrainExtraError
from .head_cli import run_head_build, usage_error

__all__ = ["build_parser", "config_from_args", "main"]

STAGES = ("fit", "export", "check", "compile", "evaluate")

# sysexits EX_DATAERR: the data set trained a model that must not ship
EX_OK, EX_FAIL, EX_DEGENERATE, EX_INTERRUPTED = 0, 1, 65, 130


def _print_result(result, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"stage": result.stage, "skipped": result.skipped,
                          "seconds": round(result.seconds, 2), **result.summary}, default=str),
              flush=True)
    else:
        print(result.line(), flush=True)


def _run_pipeline(a: argparse.Namespace, argv: Sequence[str]) -> None:
    from .pipeline import Pipeline

    if getattr(a, "notes", None) and not a.notes.is_file():
        raise SystemExit(f"aoc-train: --notes {a.notes} is not a file: give a markdown file "
                         "to append to the report, or leave --notes out")
    problem = path_problem(a)
    if problem is not None:
        raise DataError(problem)
    if a.command == "build":  # the bundle replaces its folder: refuse a wrong one now
        from aoc.inference.bundle_write import check_bundle_target

        check_bundle_target(a.out)
    try:
        notes = a.notes.read_text(encoding="utf-8") if a.notes else ""
    except UnicodeDecodeError as exc:
        raise DataError(f"--notes {a.notes} is not UTF-8 text ({exc.reason} at byte "
                        f"{exc.start}): save it as UTF-8") from exc
    if a.backbone != "mobilenet-v2":
        run_head_build(a, argv, config_from_args(a), notes=notes)
        return

    if not a.weights and a.command in ("build", "fit"):
        print("aoc-train: note: no --weights, so MobileNetV2 starts from random "
              "initialisation and learns little from a small data set; the default model's "
              "recipe is --backbone coral-mobilenet-v1-embedding (Coral's compiled extractor, "
              "carried by models/default: runs on the Edge TPU with no compiler)",
              file=sys.stderr, flush=True)
    t0 = time.monotonic()
    p = Pipeline(config_from_args(a), progress=not a.no_progress and not a.json,
                 on_result=lambda r: _print_result(r, a.json))
    p.scan()
    p.make_split()
    stages = {"build": STAGES, "fit": ("fit",), "export": ("export",),
              "evaluate": ("evaluate",)}[a.command]
    for stage in stages:
        with _keras_recipe():
            getattr(p, stage)()
        while p.messages and not a.json:
            print(p.messages.pop(0))
    if a.command in ("build", "evaluate"):
        p.report(command=recorded_command(argv), wall_seconds=time.monotonic() - t0, notes=notes)


def _run_check(a: argparse.Namespace) -> None:
    from . import edgetpu_check

    report = edgetpu_check.check_model(a.model)
    from .bundle_stages import table_text

    text = table_text(report)
    if a.json:
        print(json.dumps({"stage": "check", "model": str(a.model),
                          "ok": bool(getattr(report, "ok", True)), "table": text}))
    else:
        print(text)
    if not getattr(report, "ok", True):
        raise SystemExit(f"aoc-train: {a.model}: some operators would run on the CPU")


def _run_compile(a: argparse.Namespace) -> None:
    from . import compiler

    result = compiler.compile_model(a.model, a.out)
    print(json.dumps({"stage": "compile", "model": str(result.model)}) if a.json
          else f"[compile] wrote {result.model}")


@contextlib.contextmanager
def _keras_recipe() -> Iterator[None]:
    """Turn a missing TensorFlow / Keras into the install command: the plain
    ``./install.sh`` gives ``aoc-train`` without them (the compiled-backbone recipe needs
    neither). Where they are first imported is the stages' business, so it is caught
    around them."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in ("tensorflow", "keras"):
            raise
        raise MissingTrainExtraError(
            f"--backbone mobilenet-v2 (the Keras recipe) needs the train extra, and "
            f"{exc.name} is not installed: run ./install.sh --with-train (or pip install -e "
            "'.[train]'), or use --backbone coral-mobilenet-v1-embedding, the default "
            "model's recipe, which needs neither") from exc


def _run_crossval(a: argparse.Namespace) -> None:
    from .crossval import parse_folds, run_crossval
    from .pipeline import Pipeline

    if a.backbone != "mobilenet-v2":
        # crossval trains the Keras recipe per fold; it would quietly ignore this backbone
        usage_error(
            f"aoc-train crossval runs the Keras recipe (--backbone mobilenet-v2) only; for "
            f"--backbone {a.backbone}, aoc-train build already holds out every source in "
            "turn and reports it (report.md and report/loso.json in the bundle)")

    p = Pipeline(config_from_args(a), progress=not a.no_progress and not a.json,
                 on_result=lambda r: _print_result(r, a.json))
    p.scan()
    folds = parse_folds(a.folds, [r.source for r in p.dataset.records])

    def show(f) -> None:
        if a.json:
            print(json.dumps({"stage": "crossval-fold", **f.__dict__}), flush=True)
        else:
            print(f"[crossval] {','.join(f.sources)} ({f.label}): {100 * f.accuracy:.1f} % "
                  f"of {f.images}", flush=True)

    with _keras_recipe():
        summary = run_crossval(p, folds, on_fold=show)
    if a.json:
        print(json.dumps({"stage": "crossval", "mean_accuracy": summary.mean_accuracy,
                          "balanced_accuracy": summary.balanced_accuracy,
                          "class_mean_accuracy": summary.class_mean_accuracy}))
    else:
        print(summary.table())
        print(f"written: {p.work / 'crossval.json'}, {p.work / 'crossval.md'}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``aoc-train``; returns the exit status."""
    argv = globals_first(sys.argv[1:] if argv is None else argv)
    a = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if a.command == "check":
            _run_check(a)
        elif a.command == "compile":
            _run_compile(a)
        elif a.command == "crossval":
            _run_crossval(a)
        else:
            _run_pipeline(a, argv)
    except DegenerateModelError as exc:
        print(f"aoc-train: {exc}", file=sys.stderr)
        return EX_DEGENERATE
    except AocError as exc:
        print(f"aoc-train: {exc}", file=sys.stderr)
        return EX_FAIL
    except KeyboardInterrupt:
        print("aoc-train: interrupted; the same command resumes (finished stages and "
              "embedded images are cached)", file=sys.stderr)
        return EX_INTERRUPTED
    return EX_OK


if __name__ == "__main__":
    raise SystemExit(main())
