"""The training data's optional ``manifest.csv``: reading it, and checking it against the
images a scan found (:func:`aoc_train.data.scan_dataset`).

Columns ``file`` (relative to the data folder, class folder first) and ``source`` (one
collector, or one show of one collector), optionally ``label``. A row that names no image, or
an image no row names, is warned about: the image then takes its folder's source.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DataError

if TYPE_CHECKING:
    from .data import ImageRecord, SkippedFile

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"


def read_manifest(path: Path) -> dict[str, dict[str, str]]:
    """Rows of a manifest CSV keyed by their ``file`` column (relative POSIX path)."""
    # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark
    start = 1  # the line the record being read begins on
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = set(reader.fieldnames or ())
            if not {"file", "source"} <= fields:
                raise DataError(
                    f"manifest {path} needs the columns 'file' and 'source' (has "
                    f"{sorted(fields)}); fix its header, or remove it to take each image's "
                    "sub-folder of its class folder as its source"
                )
            rows: dict[str, dict[str, str]] = {}
            start = reader.line_num + 1  # where the row being read begins
            for row in reader:
                if any("\n" in (row.get(k) or "") for k in ("file", "source")):
                    # a quote never closed took the following rows into this field
                    raise csv.Error("a 'file' or 'source' value runs over several lines")
                file = _manifest_path(row["file"])
                earlier = rows.get(file)
                if earlier is not None and earlier.get("source") != row.get("source"):
                    # the last row won without a word: a one-image source held out alone
                    raise DataError(
                        f"manifest {path} gives {file} twice, with sources "
                        f"{earlier.get('source')!r} and {row.get('source')!r} (line "
                        f"{start}); keep one row per image")
                rows[file] = row
                start = reader.line_num + 1
            return rows
    except UnicodeDecodeError as exc:
        raise DataError(f"manifest {path} is not UTF-8 text ({exc.reason} at byte "
                        f"{exc.start}); save it as UTF-8 (CSV UTF-8)") from exc
    except csv.Error as exc:  # a quote never closed swallows the rest: "field larger..."
        raise DataError(f"manifest {path} is not valid CSV from about line {start} ({exc}); "
                        "look for an unbalanced double quote there") from exc


def _manifest_path(text: str) -> str:
    """A manifest's ``file`` as scanning names it: relative POSIX, no leading ``./``."""
    path = (text or "").strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def check_against_manifest(manifest: dict[str, dict[str, str]], manifest_path: Path,
                           records: Sequence[ImageRecord], skipped: Sequence[SkippedFile],
                           names: Sequence[str], root: Path) -> None:
    """Refuse a manifest that names none of the images; warn of rows that name no image and
    of images no row names (each then takes its folder's source)."""
    seen = {r.file for r in records} | {s.file for s in skipped}
    if manifest and records and not seen & set(manifest):
        # every image would be "unlisted": one source per class, split in random thirds,
        # and an optimistic estimate from a manifest that was meant to prevent it
        raise DataError(
            f"manifest {manifest_path} names {len(manifest)} file(s), none of them under "
            f"{root} as written (e.g. {next(iter(manifest))!r}; the images are like "
            f"{records[0].file!r}): write each path relative to the data folder, "
            "class folder first")
    # rows of a class left out by --classes are not missing; any other row that names no
    # image is (a "wrong/anime/..." prefix was passed over without a word)
    tops = {f.split("/", 1)[0] for f in manifest}
    present = {t for t in tops if (root / t).is_dir()}  # one look per folder, not per row
    missing = sorted(f for f in manifest if f not in seen and (
        f.split("/", 1)[0] in names or f.split("/", 1)[0] not in present))
    if missing:
        log.warning("%d file(s) the manifest names are not under %s (e.g. %s); a path prefix "
                    "that differs makes every image 'unlisted'", len(missing), root, missing[0])
    unlisted = [r.file for r in records if r.file not in manifest] if manifest else []
    if unlisted:
        log.warning("%d image(s) under %s are not in the manifest (e.g. %s): each gets its "
                    "sub-folder of the class as its source; add them to %s", len(unlisted),
                    root, unlisted[0], MANIFEST_NAME)
