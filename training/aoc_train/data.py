"""Training data: scan a one-folder-per-class tree, read its optional manifest, skip bad files.

The folder names are the class names. An optional ``manifest.csv`` in the data folder
(columns ``file`` and ``source``; ``file`` relative to the data folder) names the source of
each image so that splits, balancing and reports can be source-aware. Without one, an
image's source is its sub-folder of the class folder (``anime/naruto/``), or
``CLASS/unlisted`` for images directly in it. Files that cannot be decoded (truncated,
corrupt, not an image) are skipped and listed, never fatal; hidden files and folders are
left out, as the device's folder source leaves them out.

Every readable image gets a content hash (sha256 of the file) and a perceptual hash
(a 256-bit difference hash), used to find duplicates across splits (see ``split.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from stat import S_ISREG

import numpy as np
from PIL import Image

from aoc.errors import ImageReadError
from aoc.filecheck import files_under
from aoc.images import load_image
from aoc.sources.folder_source import IMAGE_SUFFIXES

from .errors import DataError
from .manifest_csv import MANIFEST_NAME, check_against_manifest, read_manifest

log = logging.getLogger(__name__)

DHASH_SIDE = 16  # 16x16 gradient bits = 256-bit perceptual hash
MIN_SIDE = 8  # images smaller than this carry no usable style


@dataclass(frozen=True)
class ImageRecord:
    """One readable training image."""

    file: str  # path relative to the data folder, POSIX separators
    label: str
    source: str
    sha256: str
    dhash: str  # hex of the 256-bit difference hash
    width: int
    height: int


@dataclass(frozen=True)
class SkippedFile:
    """A file in the data folder that was not used, and why."""

    file: str
    reason: str


@dataclass(frozen=True)
class Dataset:
    """The scan result: class names (index = class id), usable images and skipped files."""

    root: Path
    classes: tuple[str, ...]
    records: tuple[ImageRecord, ...]
    skipped: tuple[SkippedFile, ...]

    def label_ids(self) -> np.ndarray:
        """Class id of every record, in record order."""
        index = {c: i for i, c in enumerate(self.classes)}
        return np.array([index[r.label] for r in self.records], dtype=np.int64)

    def fingerprint(self) -> str:
        """A hash of the classes and every record's file, label, source and content hash."""
        h = hashlib.sha256(json.dumps(self.classes).encode())
        for r in self.records:
            h.update(f"{r.file}|{r.label}|{r.source}|{r.sha256}\n".encode())
        return h.hexdigest()[:16]


def difference_hash(image: Image.Image, side: int = DHASH_SIDE) -> str:
    """Perceptual difference hash: sign of horizontal gradients of a (side+1) x side thumbnail.

    Robust to re-encoding and rescaling, so it finds the same picture saved twice at
    different sizes or qualities. Returns ``side * side`` bits as hex.
    """
    grey = image.convert("L").resize((side + 1, side), Image.Resampling.BILINEAR)
    pixels = np.asarray(grey, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).ravel()
    return np.packbits(bits).tobytes().hex()


TRAIN_MAX_PIXELS = 120_000_000
"""Training reads bigger pictures than the device's limit (a 48 MP phone photo); Pillow's
own decompression-bomb limit still applies."""


def read_rgb(path: Path) -> Image.Image:
    """Decode an image file fully into an RGB PIL image, as the device reads it
    (:func:`aoc.images.load_image`: turned upright by its EXIF orientation, 16-bit and
    float images scaled to 8 bits, the first frame of an animation).

    Raises :class:`aoc.errors.ImageReadError` for missing, truncated, corrupt or non-image
    files (decoding happens here, so truncation is caught now and not during training).
    """
    return load_image(path, max_pixels=TRAIN_MAX_PIXELS)


def _inspect(path: Path) -> tuple[str, str, int, int]:
    """(sha256, dhash, width, height) of a readable image; raises ImageReadError."""
    data = path.read_bytes()
    image = read_rgb(path)
    if min(image.size) < MIN_SIDE:
        raise ImageReadError(f"image {path} is only {image.size[0]}x{image.size[1]} pixels")
    return hashlib.sha256(data).hexdigest(), difference_hash(image), *image.size


def list_class_folders(root: Path, classes: Sequence[str] | None = None) -> tuple[str, ...]:
    """Class names: the given ones (checked to exist) or the sorted sub-folders of ``root``."""
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        raise DataError(f"data folder {root} {what}; "
                        "pass a folder with one sub-folder per class")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes:
        missing = [c for c in classes if c not in found]
        if missing:
            raise DataError(f"class folders {missing} missing under {root} (found {found}): "
                            "add them, or pass --classes naming the classes there")
        for extra in sorted(set(found) - set(classes)):
            count = sum(1 for p in files_under(root / extra)
                        if p.suffix.lower() in IMAGE_SUFFIXES)
            if count:  # a class the user meant to train, dropped without a word otherwise
                log.warning("ignoring folder %s/ (%d images): not one of the classes %s; "
                            "pass --classes '' to train every folder", extra, count,
                            list(classes))
        return tuple(classes)
    if len(found) < 2:
        raise DataError(f"data folder {root} needs at least two class sub-folders, found {found}")
    return tuple(found)


def scan_dataset(
    root: Path,
    *,
    classes: Sequence[str] | None = None,
    cache_file: Path | None = None,
    progress: Callable[[Iterable], Iterable] = lambda it: it,
) -> Dataset:
    """Scan ``root`` (one sub-folder per class) into a :class:`Dataset`.

    ``cache_file`` (JSON) remembers hashes per file by size, mtime and change time so a
    rescan of an unchanged folder reads no pixels (a copy with ``cp -a`` or ``rsync``, or a
    ``chmod -R``, gives every file a new change time: each is hashed once again, and the
    embeddings, kept by content, are reused). ``progress`` wraps the file iterator (e.g. tqdm).
    """
    root = Path(root)
    names = list_class_folders(root, classes)
    manifest_path = root / MANIFEST_NAME
    manifest = read_manifest(manifest_path) if manifest_path.is_file() else {}
    cache: dict[str, list] = {}
    if cache_file is not None and cache_file.is_file():
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError) as exc:  # a scan cut short: rescan, it is only a cache
            log.warning("scan cache %s is unreadable (%s); scanning every file again",
                        cache_file, exc)
    files = [p for c in names for p in files_under(root / c)]
    records: list[ImageRecord] = []
    skipped: list[SkippedFile] = []
    new_cache: dict[str, list] = {}
    for path in progress(files):
        rel = path.relative_to(root).as_posix()
        label = rel.split("/", 1)[0]
        # (hidden files and folders, .thumbnails/ and ._x.jpg, are not listed: the device
        # skips them too)
        try:
            stat = path.stat()
        except OSError:  # a link to nothing, or no permission to look
            stat = None
        if stat is None or not S_ISREG(stat.st_mode):  # listed, not dropped without a word
            skipped.append(SkippedFile(rel, "a link to nothing, or not a regular file"))
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append(SkippedFile(rel, f"not an image file suffix ({path.suffix or 'none'})"))
            continue
        # "d2": pictures read as the device reads them (an EXIF-rotated photo's hash and
        # size differ from the earlier decoding's); the change time too, which no tool can
        # set back: `exiftool -P` edits a file in place keeping its size and mtime
        key = f"d2:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"
        hit = cache.get(rel)
        try:
            if hit is not None and hit[0] == key:
                sha, dh, width, height = hit[1:]
            else:
                sha, dh, width, height = _inspect(path)
        except ImageReadError as exc:
            skipped.append(SkippedFile(rel, str(exc.__cause__ or exc)))
            continue
        new_cache[rel] = [key, sha, dh, width, height]
        row = manifest.get(rel)
        source = row["source"] if row and row.get("source") else _folder_source(rel)
        if row and row.get("label") and row["label"] != label:
            log.warning("%s: manifest label %r differs from folder %r; using the folder",
                        rel, row["label"], label)
        records.append(ImageRecord(rel, label, source, sha, dh, int(width), int(height)))
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(".partial")
        partial.write_text(json.dumps(new_cache))
        partial.replace(cache_file)  # never half a cache after Ctrl-C
    check_against_manifest(manifest, manifest_path, records, skipped, names, root)
    _check_sources(records)
    _warn_conflicts(records)
    if skipped:
        log.warning("skipped %d unreadable or non-image files under %s", len(skipped), root)
    if not records:
        raise DataError(f"no readable images under {root}; put images in {list(names)} folders")
    return Dataset(root, names, tuple(records), tuple(skipped))


def _check_sources(records: Iterable[ImageRecord]) -> None:
    """Refuse a source whose images sit in two classes: a source is one show of one
    collector, held out whole, and its class is one label (the head would learn the first
    image's class for all of them)."""
    for source, per_label in source_counts(records).items():
        if len(per_label) > 1:
            raise DataError(
                f"source {source!r} has images in classes {sorted(per_label)} "
                f"({per_label}); give each class's images their own source name in "
                f"{MANIFEST_NAME}")


def _folder_source(rel: str) -> str:
    """The source of an image no manifest names: its sub-folder of the class folder
    (``anime/naruto/x.jpg`` -> ``anime/naruto``: a user who files pictures by show gets
    each show held out whole), or ``anime/unlisted`` for images directly in the class."""
    parts = rel.split("/")
    return f"{parts[0]}/{parts[1]}" if len(parts) > 2 else f"{parts[0]}/unlisted"


def _warn_conflicts(records: Sequence[ImageRecord]) -> None:
    """Warn about one picture (same bytes) filed under two classes: the head is told both,
    and whichever fold holds one copy out scores it against the other label."""
    labels: dict[str, dict[str, str]] = {}
    for r in records:
        labels.setdefault(r.sha256, {}).setdefault(r.label, r.file)
    both = [files for files in labels.values() if len(files) > 1]
    if both:
        example = " and ".join(sorted(both[0].values()))
        log.warning("%d picture(s) are in two classes at once (e.g. %s): keep each in the "
                    "class it belongs to", len(both), example)


def source_counts(records: Iterable[ImageRecord]) -> dict[str, dict[str, int]]:
    """{source: {label: count}} for reports."""
    counts: dict[str, dict[str, int]] = {}
    for r in records:
        per = counts.setdefault(r.source, {})
        per[r.label] = per.get(r.label, 0) + 1
    return dict(sorted(counts.items()))


def records_to_json(records: Iterable[ImageRecord]) -> list[dict]:
    """Plain dicts for JSON files."""
    return [asdict(r) for r in records]
