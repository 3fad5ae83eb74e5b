"""Labels files: class names, one per line (line index = class id) or Coral's ``id label`` pairs.

Two formats are read, never mixed within one file:

* one label per line; the line index (counting from 0) is the class id;
* Coral's pairs, ``0 background`` (also ``0: background`` as pycoral accepts), in any
  order; the ids must be exactly ``0 .. n-1``, no gaps and no duplicates.

Blank lines at the end are ignored; a blank line between labels is refused (it would be
an empty label). Every failure is a :class:`~aoc.errors.BundleError` naming the file and
the line. :func:`write_labels` always writes the one-per-line format, the bundle's format.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from aoc.errors import BundleError
from aoc.filecheck import require_regular_file

__all__ = ["parse_labels", "read_labels", "write_labels"]

log = logging.getLogger(__name__)

# pycoral's read_label_file splits on r"[:\s]+" after a leading integer; same here.
_PAIR = re.compile(r"^(\d+)(?::\s*|\s+)(\S.*)$")


def parse_labels(text: str, *, source: str | os.PathLike[str] = "<labels>") -> tuple[str, ...]:
    """Parse the text of a labels file; ``source`` names the file in error messages."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise BundleError(
            f"labels file {source} is empty: write one class name per line "
            "(line 1 = class 0), e.g. anime / cartoon / neither",
            path=source,
        )
    pairs = [_PAIR.match(line.strip()) for line in lines]
    if any(pairs) and not all(pairs):
        first_pair = next(i for i, m in enumerate(pairs) if m)
        first_plain = next(i for i, m in enumerate(pairs) if not m)
        raise BundleError(
            f"labels file {source} mixes formats: line {first_pair + 1} is an 'id label' pair "
            f"but line {first_plain + 1} ({lines[first_plain].strip()!r}) is not; "
            "use either one label per line or 'id label' on every line",
            path=source,
        )
    if all(pairs):
        labels = _from_pairs(pairs, source)  # type: ignore[arg-type]  # all() guarantees matches
    else:
        labels = _from_lines(lines, source)
    dupes = sorted({name for name in labels if labels.count(name) > 1})
    if dupes:
        # Coral's own imagenet_labels.txt repeats names ("crane"), so only warn.
        log.warning("labels file %s repeats class names %s", source, dupes)
    return labels


def _from_lines(lines: list[str], source: str | os.PathLike[str]) -> tuple[str, ...]:
    labels = []
    for number, line in enumerate(lines, start=1):
        name = line.strip()
        if not name:
            raise BundleError(
                f"labels file {source} line {number} is blank between labels: remove it "
                "(each line is one class, line 1 = class 0)",
                path=source,
            )
        labels.append(name)
    return tuple(labels)


def _from_pairs(pairs: list[re.Match[str]], source: str | os.PathLike[str]) -> tuple[str, ...]:
    by_id: dict[int, str] = {}
    line_of: dict[int, int] = {}
    for number, match in enumerate(pairs, start=1):
        class_id = int(match.group(1))
        if class_id in by_id:
            raise BundleError(
                f"labels file {source} line {number} repeats class id {class_id} "
                f"(first on line {line_of[class_id]}): give each id once",
                path=source,
            )
        by_id[class_id] = match.group(2).strip()
        line_of[class_id] = number
    missing = sorted(set(range(len(by_id))) - set(by_id))
    if missing:
        beyond = sorted(i for i in by_id if i >= len(by_id))
        raise BundleError(
            f"labels file {source} has gaps in its class ids: {missing[:5]} missing while "
            f"id {beyond[0]} is on line {line_of[beyond[0]]}; ids must run 0..{len(by_id) - 1} "
            "with one line each",
            path=source,
        )
    return tuple(by_id[i] for i in range(len(by_id)))


def read_labels(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Read a labels file; raise :class:`BundleError` naming the file and the fix."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a FIFO or device would block or never end
        require_regular_file(path, what="labels file", error=BundleError,
                             fix="pass the labels file that came with the model", path=path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BundleError(
            f"labels file {path} does not exist: pass the labels file that came with the model",
            path=path,
        ) from None
    except OSError as exc:
        raise BundleError(
            f"labels file {path} cannot be read ({exc.strerror or exc}): check it is a "
            "readable file",
            path=path,
        ) from exc
    try:
        text = data.decode("utf-8-sig")  # tolerate a BOM written by Windows editors
    except UnicodeDecodeError as exc:
        raise BundleError(
            f"labels file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8",
            path=path,
        ) from exc
    return parse_labels(text, source=path)


def write_labels(path: str | os.PathLike[str], labels: Iterable[str]) -> Path:
    """Write ``labels`` one per line (atomically) and return the path.

    Refuses names that could not be read back unchanged: empty, containing a line break,
    with surrounding spaces, or looking like an ``id label`` pair.
    """
    path = Path(path)
    labels = tuple(labels)
    if not labels:
        raise BundleError(f"no labels to write to {path}: give at least one class", path=path)
    for index, name in enumerate(labels):
        problem = None
        if not isinstance(name, str):
            problem = f"is a {type(name).__name__}, not a str"
        elif not name.strip():
            problem = "is empty"
        elif name != name.strip() or "\n" in name or "\r" in name:
            problem = "has surrounding spaces or a line break"
        elif _PAIR.match(name):
            problem = "looks like an 'id label' pair and would be read back as one"
        if problem:
            raise BundleError(
                f"cannot write labels file {path}: label {index} ({name!r}) {problem}; "
                "rename the class",
                path=path,
            )
    text = "".join(f"{name}\n" for name in labels)
    fd, tmp = tempfile.mkstemp(prefix=".labels-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the device may run as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
