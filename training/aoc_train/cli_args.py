"""The ``aoc-train`` command line: its parser and the build settings it stands for.

Imports no TensorFlow, so ``aoc-train --help`` is fast; :mod:`aoc_train.cli` runs the
commands.
"""

from __future__ import annotations

import argparse
import logging
import shlex
from collections.abc import Sequence
from pathlib import Path

from aoc.cli_args import count, positive_int

from .config import DEFAULT_CLASSES, DEFAULT_HOLDOUT, BuildConfig

log = logging.getLogger(__name__)

DESCRIPTION = "aoc-train: build a model bundle from a folder of images, or run one stage of it."
EPILOG = ("--json, --no-progress and -v may stand before or after the command. Exit codes: "
          "0 ok, 1 failure (message on stderr), 2 usage, 65 the trained model is degenerate "
          "(nothing written to --out), 130 interrupted (the same command resumes).")
GLOBAL_FLAGS = ("--json", "--no-progress", "-v", "--verbose")
"""The top-level flags :func:`globals_first` moves in front of the command."""


def globals_first(argv: Sequence[str]) -> list[str]:
    """``argv`` with the top-level flags (:data:`GLOBAL_FLAGS`) before the command, where
    argparse wants them: ``aoc-train build DATA --no-progress`` works as well."""
    argv = list(argv)
    end = argv.index("--") if "--" in argv else len(argv)  # after it, every token is data
    head = argv[:end]
    return ([t for t in head if t in GLOBAL_FLAGS] + [t for t in head if t not in GLOBAL_FLAGS]
            + argv[end:])


def recorded_command(argv: Sequence[str]) -> str:
    """The command line as a report records it: shell-quoted, so it can be pasted."""
    return "aoc-train " + shlex.join(argv)


def _csv(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _class_list(text: str) -> tuple[str, ...]:
    """``--classes``: '' (the sorted folders) or two or more distinct names."""
    names = _csv(text)
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r} names a class twice")
    if len(names) == 1:
        raise argparse.ArgumentTypeError(f"{text!r} is one class; a classifier needs two or "
                                         "more (or '' for every folder)")
    return names


def work_dir_of(a: argparse.Namespace) -> Path:
    """``--work-dir``, or the default ``.cache/aoc-train/<out folder's name>``."""
    return a.work_dir or Path(".cache") / "aoc-train" / a.out.resolve().name


def path_problem(a: argparse.Namespace) -> str | None:
    """Why the data folder, ``--out`` and ``--work-dir`` cannot go together, before any
    work is done (each found at the end of a whole build before), or ``None``."""
    data, out, work = (Path(x).expanduser().resolve()
                       for x in (a.data_dir, a.out, work_dir_of(a)))
    if data.exists() and not data.is_dir():
        return f"data folder {a.data_dir} is a file; give a folder with one sub-folder per class"
    for flag, path in (("--out", out), ("--work-dir", work)):
        below = path.relative_to(data).parts if path == data or data in path.parents else None
        if below is not None and not (below and below[0].startswith(".")):
            # the next build would scan the bundle's pictures (or the cache) as images; a
            # hidden folder (the default .cache/aoc-train/NAME, run from the data folder)
            # is one the scan skips
            return (f"{flag} {path} is inside the data folder {data}; give a folder outside "
                    "it (or a hidden one, which the scan skips)")
    if work == out or out in work.parents:
        return (f"--work-dir {work} is inside --out {out}, which a build replaces whole; give "
                "a work folder of its own")
    if work.exists() and not work.is_dir():
        return f"--work-dir {work} is a file; give a folder for the cache"
    return None


def _pipeline_args(p: argparse.ArgumentParser) -> None:
    from .fit import FitConfig

    d = FitConfig()
    p.add_argument("data_dir", type=Path, help="folder with one sub-folder per class "
                   "(optional manifest.csv with file,source columns)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="bundle folder, e.g. models/mine (replaced whole)")
    p.add_argument("--work-dir", type=Path, metavar="DIR",
                   help="caches (default .cache/aoc-train/<bundle name>)")
    p.add_argument("--backbone", choices=("mobilenet-v2", "coral-mobilenet-v1-embedding"),
                   default="mobilenet-v2",
                   help="mobilenet-v2 (default): Keras transfer learning, int8, edgetpu_compiler; "
                   "coral-mobilenet-v1-embedding: a numpy head on Coral's compiled embedding "
                   "extractor (build only)")
    p.add_argument("--backbone-dir", type=Path, default=None, metavar="DIR",
                   help="folder of Coral's mobilenet_v1_1.0_224_quant_embedding_extractor"
                   "(_edgetpu).tflite, or a bundle that carries them (default: "
                   "../shared/reference/coral when there, else the project's models/default)")
    p.add_argument("--weights", metavar="FILE", help="no-top MobileNetV2 .weights.h5 matching "
                   "--alpha, 'imagenet' to let Keras download them, or omit for random init")
    p.add_argument("--classes", type=_class_list, default=None, metavar="A,B,C",
                   help="label order ('' = sorted folders; default anime,cartoon,neither)")
    p.add_argument("--holdout-sources", type=_csv, default=DEFAULT_HOLDOUT, metavar="S,T",
                   help="sources held out whole as the test split (default: models/default's "
                   "with a manifest.csv, else none)")
    p.add_argument("--val-fraction", type=float, default=0.1, metavar="F")
    p.add_argument("--class-test-fraction", type=float, default=0.2, metavar="F",
                   help="test share of each source of a class with no held-out source")
    p.add_argument("--seed", type=count, default=1234, metavar="N",
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
    p.add_argument("--workers", type=positive_int, default=2, metavar="N", help="augment processes")
    p.add_argument("--max-images", type=count, default=0, metavar="N",
                   help="use at most N images (smoke runs; 0 = all)")
    p.add_argument("--notes", type=Path, metavar="FILE",
                   help="markdown file appended to report.md as 'Notes'")


def config_from_args(a: argparse.Namespace) -> BuildConfig:
    """The build settings of parsed ``aoc-train`` arguments (also for experiment scripts)."""
    from dataclasses import replace

    from .fit import FitConfig

    fit = replace(FitConfig(seed=a.seed), head_epochs=a.head_epochs, head_l2=a.head_l2,
                  top_tune_from=a.top_tune_from, top_tune_epochs=a.top_tune_epochs,
                  top_tune_lr=a.top_tune_lr)
    work = work_dir_of(a)
    classes = a.classes
    if classes is None:  # not given: the default model's, unless the data has other folders
        classes = DEFAULT_CLASSES
        missing = [c for c in classes if not (a.data_dir / c).is_dir()]
        if a.data_dir.is_dir() and missing:
            classes = ()
            log.warning("%s has no %s folder: the classes are its sub-folders, sorted; pass "
                        "--classes to name them (a class named there and missing is "
                        "refused)", a.data_dir, " or ".join(repr(c) for c in missing))
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
    parser = argparse.ArgumentParser(prog="aoc-train", description=DESCRIPTION,
                                     allow_abbrev=False, epilog=EPILOG)
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
                           help="leave-source-out accuracy of the Keras recipe "
                           "(--backbone mobilenet-v2; every source held out in turn; sources "
                           "from a manifest or from sub-folders of the class folders; the "
                           "compiled backbone's build holds out every source itself)")
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
