"""``aoc-train build`` with a compiled backbone: the command-line side of
:mod:`aoc_train.head_build` (one stage; the Keras pipeline's flags are refused)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from .cli_args import recorded_command
from .config import BuildConfig

# flags of the fine-tuning pipeline that the compiled-backbone head build does not use
PIPELINE_ONLY_FLAGS = (
    "--weights", "--holdout-sources", "--val-fraction", "--class-test-fraction", "--size",
    "--alpha", "--views", "--screen-strength", "--source-power", "--head-epochs",
    "--head-l2", "--dropout", "--top-tune-from", "--top-tune-epochs", "--top-tune-lr",
    "--calibration",
)


def usage_error(message: str) -> NoReturn:
    """A flag that does not fit the command: the message on stderr and exit status 2, as
    argparse's own usage errors."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def run_head_build(a: argparse.Namespace, argv: Sequence[str], cfg: BuildConfig, *,
                   notes: str) -> None:
    """``aoc-train build --backbone coral-mobilenet-v1-embedding``: refuse the fine-tuning
    flags it would ignore, then :func:`aoc_train.head_build.build`. ``cfg`` is
    :func:`aoc_train.cli_args.config_from_args` of ``a`` (work folder and classes)."""
    from .embed import default_backbone_dir
    from .head_build import HeadBuildConfig, build

    if a.command != "build":
        usage_error(f"aoc-train {a.command}: --backbone {a.backbone} has one stage; run "
                     "'aoc-train build' (its stages are cached and resume)")
    given = sorted({t.split("=", 1)[0] for t in argv} & set(PIPELINE_ONLY_FLAGS))
    if given:
        # they would be ignored without a word, and the report would not show them
        what = f"{', '.join(given)} only apply" if len(given) > 1 else f"{given[0]} only applies"
        usage_error(f"aoc-train build: {what} to --backbone mobilenet-v2; --backbone "
                     f"{a.backbone} fits its head in closed form (the settings are in "
                     f"aoc_train.head_fit.HeadConfig): drop {'them' if len(given) > 1 else 'it'}")
    head_cfg = HeadBuildConfig(data_dir=a.data_dir, out=a.out, work_dir=cfg.work_dir,
                               backbone_dir=a.backbone_dir or default_backbone_dir(),
                               classes=cfg.classes, seed=a.seed,
                               workers=a.workers, max_images=a.max_images, notes=notes,
                               command=recorded_command(argv))

    def progress(it):
        if a.no_progress or a.json:
            return it
        from tqdm import tqdm

        return tqdm(it, mininterval=5)

    out = build(head_cfg, progress=progress,
                say=(lambda line: None) if a.json else (lambda line: print(line, flush=True)))
    if a.json:
        print(json.dumps({"stage": "build", "bundle": str(out)}))
