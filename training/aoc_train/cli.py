"""``aoc-train``: build a model bundle from a folder of images, or run one stage of it.

    aoc-train build DATA_DIR --out models/NAME [--weights FILE.weights.h5]
    aoc-train fit DATA_DIR --out models/NAME      # views, features, head, top-tune
    aoc-train export DATA_DIR --out models/NAME   # int8 + float TFLite (needs fit)
    aoc-train check MODEL.tflite                  # Edge TPU operator table
    aoc-train compile MODEL.tflite --out DIR      # edgetpu_compiler, when installed
    aoc-train evaluate DATA_DIR --out models/NAME # held-out scores, report, final bundle
    aoc-train crossval DATA_DIR --out models/NAME # leave-source-out accuracy of the recipe

``build`` runs every stage; each stage is skipped when its outputs exist and its inputs and
settings are unchanged (work folder ``.cache/aoc-train/NAME`` by default), so an interrupted
build continues. TensorFlow is imported only by the stages that need it.

Exit codes: 0 ok, 1 failure (message on stderr), 2 usage, 65 the trained model is degenerate
(constant outputs, or a class at or below chance on the held-out images; see
``aoc_train.quality``): nothing is written to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from aoc.errors import AocError

from .config import DEFAULT_CLASSES, DEFAULT_HOLDOUT, BuildConfig
from .errors import DataError, DegenerateModelError, MissingTrainExtraError
from .head_cli import run_head_build

STAGES = ("fit", "export", "check", "compile", "evaluate")

# sysexits EX_DATAERR: the data set trained a model that must not ship
EX_OK, EX_FAIL, EX_DEGENERATE, EX_INTERRUPTED = 0, 1, 65, 130


def _csv(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _pipeline_args(p: argparse.ArgumentParser) -> None:
    from .fit import FitConfig

    d = FitConfig()
    p.add_argument("data_dir", type=Path, help="folder with one sub-folder per class "
                   "(optional manifest.csv with file,source columns)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="bundle folder, e.g. models/default")
    p.add_argument("--work-dir", type=Path, metavar="DIR",
                   help="caches (default .cache/aoc-train/<bundle name>)")
    p.add_argument("--backbone", choices=("mobilenet-v2", "coral-mobilenet-v1-embedding"),
                   default="mobilenet-v2",
                   help="mobilenet-v2: Keras transfer learning, int8 export, edgetpu_compiler; "
                   "coral-mobilenet-v1-embedding: a numpy head on Coral's compiled embedding "
                   "extractor (build only)")
    p.add_argument("--backbone-dir", type=Path, default=None, metavar="DIR",
                   help="folder of Coral's mobilenet_v1_1.0_224_quant_embedding_extractor"
                   "(_edgetpu).tflite, or a bundle that carries them (default: "
                   "../shared/reference/coral when there, else the project's models/default)")
    p.add_argument("--weights", metavar="FILE", help="no-top MobileNetV2 .weights.h5 matching "
                   "--alpha, 'imagenet' to let Keras download them, or omit for random init")
    p.add_argument("--classes", type=_csv, default=DEFAULT_CLASSES, metavar="A,B,C",
                   help="label order ('' = sorted folders; default: anime,cartoon,neither)")
    p.add_argument("--holdout-sources", type=_csv, default=DEFAULT_HOLDOUT, metavar="S,T",
                   help="sources held out whole as the test split (default: models/default's)")
    p.add_argument("--val-fraction", type=float, default=0.1, metavar="F")
    p.add_argument("--class-test-fraction", type=float, default=0.2, metavar="F",
                   help="test share of each source of a class with no held-out source")
    p.add_argument("--seed", type=int, default=1234, metavar="N",
                   help="seed of the split, the augmented views and training")
    p.add_argument("--size", type=int, default=224, metavar="PX", help="input side")
    p.add_argument("--alpha", type=float, default=0.35, metavar="W", help="MobileNetV2 width")
    p.add_argument("--views", type=int, default=6, metavar="K",
                   help="augmented views per training image")
    p.add_argument("--screen-strength", type=float, default=1.0, metavar="S")
    p.add_argument("--source-power", type=float, default=0.5, metavar="P",
                   help="a source's weight in its class grows as count**P")
    p.add_argument("--head-epochs", type=int, default=d.head_epochs, metavar="N")
    p.add_argument("--head-l2", type=float, default=d.head_l2, metavar="X",
                   help="L2 on the head's kernel")
    p.add_argument("--dropout", type=float, default=0.5, metavar="X",
                   help="dropout before the head")
    p.add_argument("--top-tune-from", default=d.top_tune_from, metavar="LAYER",
                   help="also train the backbone from LAYER on ('' = off; %(default)s)")
    p.add_argument("--top-tune-epochs", type=int, default=d.top_tune_epochs, metavar="N")
    p.add_argument("--top-tune-lr", type=float, default=d.top_tune_lr, metavar="X")
    p.add_argument("--calibration", type=int, default=300, metavar="N",
                   help="int8 calibration images")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="augmentation processes")
    p.add_argument("--max-images", type=_count, default=0, metavar="N",
                   help="use at most N images (smoke runs)")
    p.add_argument("--notes", type=Path, metavar="FILE",
                   help="markdown file appended to report.md as 'Notes'")


def config_from_args(a: argparse.Namespace) -> BuildConfig:
    """The build settings of parsed ``aoc-train`` arguments (also for experiment scripts)."""
    from dataclasses import replace

    from .fit import FitConfig

    fit = replace(FitConfig(seed=a.seed), head_epochs=a.head_epochs, head_l2=a.head_l2,
                  top_tune_from=a.top_tune_from, top_tune_epochs=a.top_tune_epochs,
                  top_tune_lr=a.top_tune_lr)
    work = a.work_dir or Path(".cache") / "aoc-train" / a.out.resolve().name
    classes = a.classes
    if a.data_dir.is_dir() and classes == DEFAULT_CLASSES and not all(
            (a.data_dir / c).is_dir() for c in classes):
        classes = ()  # a different data set: take its folders
    holdout = a.holdout_sources
    if holdout == DEFAULT_HOLDOUT and not (a.data_dir / "manifest.csv").is_file():
        holdout = ()
    return BuildConfig(data_dir=a.data_dir, out=a.out, work_dir=work, weights=a.weights,
                       classes=tuple(classes), holdout_sources=tuple(holdout),
                       val_fraction=a.val_fraction, class_test_fraction=a.class_test_fraction,
                       seed=a.seed, side=a.size, alpha=a.alpha, views=a.views,
                       dropout=a.dropout, screen_strength=a.screen_strength,
                       calibration=a.calibration, source_power=a.source_power,
                       workers=a.workers, max_images=a.max_images, fit=fit)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (importing no TensorFlow)."""
    # no abbreviations: '--view 2' was taken as --views and passed the check that refuses
    # fine-tuning flags with the compiled backbone (which compares the spelled names)
    parser = argparse.ArgumentParser(prog="aoc-train", description=__doc__.split("\n\n")[0],
                                     allow_abbrev=False)
    parser.add_argument("--json", action="store_true", help="print one JSON object per stage")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("build", "run every stage (resumable)"),
                       ("fit", "augmented views, cached features, head, top-tune"),
                       ("export", "int8 and float TFLite from the fitted model"),
                       ("evaluate", "held-out scores via the device code, report, bundle")):
        _pipeline_args(sub.add_parser(name, help=text, allow_abbrev=False))
    cross = sub.add_parser("crossval", allow_abbrev=False,
                           help="leave-source-out accuracy of the head recipe "
                           "(every source held out in turn; sources from a manifest or from "
                           "sub-folders of the class folders)")
    _pipeline_args(cross)
    cross.add_argument("--folds", default="",
                       help="';'-separated folds of ','-separated sources "
                       "(default: every source on its own)")
    check = sub.add_parser("check", help="Edge TPU operator check of a .tflite")
    check.add_argument("model", type=Path)
    comp = sub.add_parser("compile", help="edgetpu_compiler a .tflite (when installed)")
    comp.add_argument("model", type=Path)
    comp.add_argument("--out", type=Path, required=True)
    return parser


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
    if a.command == "build":  # the bundle replaces its folder: refuse a wrong one now
        from aoc.inference.bundle_write import check_bundle_target

        check_bundle_target(a.out)
    if a.backbone != "mobilenet-v2":
        run_head_build(a, argv, config_from_args(a))
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
        notes = a.notes.read_text(encoding="utf-8") if a.notes else ""
        p.report(command="aoc-train " + " ".join(argv), wall_seconds=time.monotonic() - t0,
                 notes=notes)


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
        raise DataError(
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


def _count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (0, 1, 2, ...)")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``aoc-train``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
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
