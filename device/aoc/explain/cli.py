"""``aoc explain IMAGE... --out DIR``: which parts of each picture made the model say what
it said, as a PNG per image (and a JSON summary with ``--json``).

Runs through the configured model exactly like ``aoc classify`` (any bundle, any backend);
see :mod:`aoc.explain.rise` for the method and ``device/docs/explain.md`` for how to read a map.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aoc.cli_args import count
from aoc.errors import ImageReadError
from aoc.explain.png import explanation_png
from aoc.explain.rise import DEFAULT_BUDGET, explain
from aoc.explain.summary import summarize

log = logging.getLogger(__name__)

def add_parser(
    sub: Any, *, common: Callable[[argparse.ArgumentParser], None],
    model_args: Callable[[argparse.ArgumentParser], None],
) -> argparse.ArgumentParser:
    """Add ``explain`` to ``aoc``'s subcommands (``common``/``model_args`` add the shared
    options)."""
    p = sub.add_parser("explain", help="show which parts of each image made its scores")
    common(p)
    model_args(p)
    p.add_argument("--out", dest="out_dir", type=Path, required=True,
                   help="folder for the PNGs (and JSON)")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET,
                   help=f"model invocations per image, besides one unmasked (default "
                   f"{DEFAULT_BUDGET}); more is steadier and slower")
    p.add_argument("--seed", type=count, default=0,
                   help="seed of the random masks, 0 or more (default 0)")
    p.add_argument("--json", action="store_true",
                   help="also write NAME.json per image and print one JSON line per image")
    p.add_argument("images", nargs="+", type=Path)
    return p


def _out_name(path: Path, taken: set[str], out_dir: Path, inputs: set[Path]) -> str:
    """``photo`` for ``photo.jpg``; ``photo-2`` if another image already had that name, or
    if ``photo.png`` / ``photo.json`` in ``out_dir`` is one of the ``inputs`` (resolved):
    ``aoc explain photos/*.png --out photos`` must not write over the pictures."""
    stem, n = path.stem, 1
    name = stem
    while name in taken or any((out_dir / f"{name}{ext}").resolve() in inputs
                               for ext in (".png", ".json")):
        n += 1
        name = f"{stem}-{n}"
    taken.add(name)
    return name


def cmd_explain(
    args: argparse.Namespace, config: Any, host: Any, *, open_classifier: Callable[..., Any]
) -> int:
    """``aoc explain``: one PNG per readable image; unreadable ones are reported on stderr
    and the rest still processed (exit 1 if any failed). ``open_classifier(config, host)``
    returns a model selection whose ``opened`` is the classifier."""
    if args.budget < 2:
        sys.stderr.write(f"aoc explain: --budget {args.budget} is too small: use 2 or more "
                         f"(default {DEFAULT_BUDGET})\n")
        return 2
    try:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, a path through a file, no permission
        sys.stderr.write(f"aoc explain: --out {args.out_dir} cannot be a folder for the "
                         f"pictures ({exc.strerror or exc}); give a folder path\n")
        return 2
    selection = open_classifier(config, host)
    failed = 0
    taken: set[str] = set()
    inputs = {Path(path).resolve() for path in args.images}
    from aoc.images import load_frame

    with contextlib.closing(selection.opened) as clf:
        for path in args.images:
            try:
                # as `aoc classify` reads it: 16-bit and float pictures scaled, not clipped
                # white; FIFOs, folders and bombs refused with the reason
                frame = load_frame(path)
            except ImageReadError as exc:
                failed += 1
                sys.stderr.write(f"aoc explain: {exc}; skipped\n")
                continue
            expl = explain(clf, frame, budget=args.budget, seed=args.seed)
            name = _out_name(path, taken, args.out_dir, inputs)
            png = explanation_png(frame, expl, args.out_dir / f"{name}.png", name=path.name)
            line = f"{path}: {expl.labels[expl.top]} {expl.scores[expl.top]:.1%} -> {png}"
            if args.json:
                record = {"image": str(path), "png": str(png), "backend": clf.backend,
                          **summarize(expl).to_dict()}
                (args.out_dir / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
                line = json.dumps(record)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    return 1 if failed else 0
