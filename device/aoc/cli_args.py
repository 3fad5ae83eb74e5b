"""The ``aoc`` command line: its argument parser, argument types, and the config overrides
its flags stand for. Imports nothing heavy: ``aoc --help`` stays fast."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from aoc import __version__
from aoc.config_sections import DISPLAY_KINDS
from aoc.errors import ConfigError
from aoc.filecheck import open_fd_of


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (frame counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def count(text: str) -> int:
    """argparse type: a whole number, 0 or more (seeds, limits where 0 means none)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (0, 1, 2, ...)")
    return value


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0 (no nan, inf or negative)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of seconds > 0")
    return value


def output_file_problem(path: Path | None, flag: str) -> str | None:
    """Why ``path`` cannot be written after the run (missing folder, a folder itself,
    not writable), or ``None``; checked before the run so its summary is not lost."""
    if path is None:
        return None
    folder = path.parent
    if open_fd_of(path) is not None:  # /dev/stdout, >(jq ...): written through, never replaced
        return None
    if path.is_dir():
        return f"{flag} {path} is a folder; give a file name"
    if not folder.is_dir():
        return f"{flag} {path}: folder {folder} does not exist; create it first"
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"{flag} {path} is not writable; pick another path"
    if path.is_fifo() or path.is_socket():
        # opening a FIFO nobody reads blocks for ever, after the whole run
        return f"{flag} {path} is a FIFO or socket; give a file (or /dev/stdout)"
    return None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="config file (default /etc/anime-or-cartoon/config.toml if present)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--log-level", default=None,
                   choices=("DEBUG", "INFO", "WARNING", "ERROR"), type=str.upper,
                   help="log level (default: logging.level of the config)")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", help="model bundle folder (default: the packaged default)")
    p.add_argument("--model", help="bare .tflite model (needs --labels)")
    p.add_argument("--labels", help="labels file for --model")
    p.add_argument("--backend", choices=("auto", "edgetpu", "cpu"),
                   help="inference backend (default: inference.backend of the config)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``aoc``."""
    parser = argparse.ArgumentParser(prog="aoc", description="Anime or Cartoon? appliance")
    parser.add_argument("--version", action="version", version=f"aoc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the appliance loop")
    _common(run)
    _model_args(run)
    run.add_argument("--source", help="frame source: auto, demo, picamera2[:N], webcam:N, "
                     "a video file, a URL or an image folder/glob (default: camera.source)")
    run.add_argument("--display", choices=("auto", *DISPLAY_KINDS),
                     help="display (default: display.kind; auto = OLED on a Pi / under "
                     "systemd, terminal on a TTY, else null)")
    run.add_argument("--max-frames", type=positive_int, help="stop after N classified frames")
    run.add_argument("--duration", type=positive_seconds, help="stop after S seconds")
    run.add_argument("--stats-json", type=Path, help="write the run summary as JSON here")

    cls = sub.add_parser("classify", help="classify image files once")
    _common(cls)
    _model_args(cls)
    cls.add_argument("--json", action="store_true", help="one JSON object per line")
    cls.add_argument("--top", type=positive_int, default=3, help="how many labels (default 3)")
    cls.add_argument("images", nargs="+", type=Path)

    bench = sub.add_parser("bench", help="benchmark the loop against a naive baseline")
    _common(bench)
    _model_args(bench)
    bench.add_argument("--frames", type=positive_int, default=200,
                       help="frames per run (default 200)")
    bench.add_argument("--check-targets", action="store_true",
                       help="exit 1 when a reported target is not met")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.add_argument("--out", type=Path, help="also write the JSON result here")

    from aoc.explain.cli import add_parser as add_explain

    add_explain(sub, common=_common, model_args=_model_args)

    doctor = sub.add_parser("doctor", help="check TFLite, Edge TPU, camera, OLED, GPIO, model")
    _common(doctor)
    doctor.add_argument("--bundle", help="model bundle folder to verify")
    return parser


def config_overrides(args: argparse.Namespace) -> list[str | tuple[str, Any]]:
    """The ``--set`` overrides and what the other flags stand for, as config overrides
    (``(key, value)`` pairs after the ``--set`` strings, so a flag wins over ``--set``)."""
    if getattr(args, "bundle", None) and getattr(args, "model", None):
        raise ConfigError("--bundle and --model are both given; use a bundle folder OR a "
                          "bare --model with --labels, not both", key="model.model")
    out: list[str | tuple[str, Any]] = list(args.overrides)
    for attr, key in (("source", "camera.source"), ("display", "display.kind"),
                      ("backend", "inference.backend"), ("bundle", "model.bundle"),
                      ("model", "model.model"), ("labels", "model.labels"),
                      ("log_level", "logging.level")):
        value = getattr(args, attr, None)
        if value is not None:
            out.append((key, value))
    # a flag names the whole model: a bare model or a bundle set in the config gives way
    if getattr(args, "model", None):
        out.append(("model.bundle", ""))
    if getattr(args, "bundle", None):
        out += [("model.model", ""), ("model.labels", "")]
    return out
