"""File helpers for model bundles: hashing, atomic writes, paths kept inside the bundle,
and checking the listed files at load (the device's own files refuse, documents warn)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from aoc.errors import BundleError

log = logging.getLogger(__name__)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def is_edgetpu_compiled(path: str | os.PathLike[str]) -> bool:
    """True if the .tflite holds the ``edgetpu-custom-op`` (it then cannot run on the CPU)."""
    return b"edgetpu-custom-op" in Path(path).read_bytes()


def safe_path(root: Path, rel: object, where: Path) -> Path:
    """``root / rel``, refusing absolute paths, ``..`` and symlinks that leave ``root``."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel:
        raise BundleError(
            f"{where}: bundle path {rel!r} must be a non-empty relative path with '/' separators",
            path=where,
        )
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts or (parts and ":" in parts[0]):
        raise BundleError(
            f"{where}: bundle path {rel!r} escapes the bundle folder {root}: list files "
            "relative to the folder, without '..'; rebuild the bundle with aoc-train",
            path=where,
        )
    target = root / rel
    resolved = target.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise BundleError(
            f"bundle file {target} is a symlink leading out of the bundle folder ({resolved}): "
            "copy the real file into the bundle instead",
            path=target,
        )
    return target


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` via a temp file + ``os.replace`` (readers see old or new)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the device may run as another user
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically; a no-op when they are the same file."""
    if not source.is_file():
        raise BundleError(
            f"cannot copy {source} into the bundle: it does not exist or is not a file",
            path=source,
        )
    if target.exists() and target.samefile(source):
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: object) -> object:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays, without importing numpy
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dump_json(manifest: Mapping[str, Any], where: Path) -> bytes:
    """The manifest as UTF-8 JSON (strict: no NaN); numpy values and paths converted."""
    try:
        text = json.dumps(
            manifest, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default
        )
    except (TypeError, ValueError) as exc:
        raise BundleError(
            f"cannot write {where}: provenance or metrics hold a value JSON cannot store ({exc}); "
            "convert it to str, int, float (finite) or None",
            path=where,
        ) from exc
    return (text + "\n").encode("utf-8")


def checked_files(files: dict[str, Any], needed: list[str], root: Path, where: Path, *,
                   verify: bool, runtime: list[str]) -> dict[str, Path]:
    """Every listed file, inside the bundle and present (and unchanged, with ``verify``);
    each of ``needed`` must be listed.

    A file the device runs on (``runtime``: the models, the labels, the head) must be
    sound. Any other
    (the report, the model card, the report's pictures) that is missing or changed is
    logged and left out: one bad sector under a report on a months-old SD card refused the
    only model, and the service restarted every 10 s with a dark screen.
    """
    for rel, digest in files.items():
        if not isinstance(digest, str) or len(digest) != 64:
            raise BundleError(
                f"{where}: files[{rel!r}] must be a 64-digit sha256 hex string; "
                "rebuild the bundle with aoc-train",
                path=where,
            )
    for rel in needed:
        if rel not in files:
            raise BundleError(
                f"{where}: '{rel}' is not listed under 'files' so it cannot be verified; "
                "rebuild the bundle with aoc-train",
                path=where,
            )
    checked = {rel: safe_path(root, rel, where) for rel in files}
    for rel, file in list(checked.items()):
        actual = None
        if not file.is_file():
            # a FIFO or a folder where the file should be is no "missing" file to look for
            problem = "is not a regular file" if file.exists() else "is missing"
        elif verify and (actual := sha256_file(file)) != files[rel].lower():
            problem = "is corrupt or changed"
        else:
            continue
        if rel not in runtime:  # a document: only warned about, and left out
            log.warning("bundle file %s %s (listed in %s); the model does not need it and "
                        "runs, but re-copy the bundle folder or rebuild it with aoc-train",
                        file, problem, where)
            del checked[rel]
        elif actual is None:
            raise BundleError(
                f"bundle file {file} {problem} (listed in {where}): re-copy the whole bundle "
                "folder or rebuild it with aoc-train",
                path=file,
            )
        else:
            raise BundleError(
                f"bundle file {file} is corrupt or changed (sha256 {actual[:12]}... but "
                f"{where.name} says {files[rel][:12]}...): re-copy the bundle or rebuild it "
                "with aoc-train",
                path=file,
            )
    return checked
