"""Small file-system guards every reader of user-supplied paths shares.

* :func:`require_regular_file`: a FIFO, a device node or a socket given where a file is
  expected would block ``open()``/``read()`` forever (a FIFO with no writer) or read
  endless data (``/dev/zero``); only regular files are accepted, with a clear error.
* :func:`atomic_write_text`: temp file in the same folder, ``fsync``, ``rename``, ``fsync``
  of the folder -- after a power cut the file holds the old or the new text, never a mix.
* :func:`files_under`: every file below a folder, hidden ones left out, linked folders
  followed once (the image-folder source and ``aoc-train`` list pictures alike).
* :func:`write_result_file`: a command's result file (``--stats-json``, ``--out``): atomic
  for a file, written straight to a device (``/dev/stdout``); failures an OutputError.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import stat
import sys
import tempfile
import time
from pathlib import Path

from aoc.errors import AocError, OutputError

log = logging.getLogger(__name__)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def require_regular_file(path: str | os.PathLike[str], /, *, what: str,
                         error: type[AocError], fix: str = "give a regular file",
                         **error_kwargs: object) -> Path:
    """Return ``path`` as a Path when it names a regular file (symlinks followed).

    Otherwise raise ``error`` (an :class:`~aoc.errors.AocError` subclass) with a message
    naming ``what`` (``"image"``, ``"labels file"``), the path, what it is instead and
    ``fix``. ``error_kwargs`` go to the error's constructor (e.g. ``path=`` for BundleError).
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist: {fix}", **error_kwargs) from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc.strerror or exc}): {fix}",
                    **error_kwargs) from exc
    if not stat.S_ISREG(mode):
        raise error(f"{what} {path} is {_kind(mode)}, not a regular file: {fix}",
                    **error_kwargs)
    return path


def atomic_write_text(target: Path, text: str, *, like: os.stat_result | None = None,
                      ) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically and durably.

    Temp file in ``target``'s folder, flush + ``fsync``, ``os.replace``, then ``fsync`` of
    the folder so the rename itself survives a power cut. The file is private (0600), or,
    given ``like`` (the old file's stat), gets its mode and, where allowed, its group.
    Raises ``OSError``.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            if like is not None:
                os.fchmod(handle.fileno(), stat.S_IMODE(like.st_mode))
                with contextlib.suppress(PermissionError):  # not in that group: keep ours
                    os.fchown(handle.fileno(), -1, like.st_gid)
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _remove_stale_temps(target)
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:  # some file systems do not open folders; the data is synced
        log.debug("cannot open %s to fsync it: %s", target.parent, exc)
        return
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        log.debug("fsync of folder %s failed: %s", target.parent, exc)
    finally:
        os.close(dir_fd)


STALE_TEMP_S = 600.0
"""A temp file of :func:`atomic_write_text` this old was left by a killed writer."""


def _remove_stale_temps(target: Path, *, older_than_s: float = STALE_TEMP_S) -> None:
    """Remove the temp files an earlier write of ``target`` left when it was killed
    (SIGKILL, a power cut) between creating and renaming them: one a kill, over months of
    restarts, in the state folder. A temp younger than ``older_than_s`` may be another
    writer's, and is left."""
    now = time.time()
    # exactly the names mkstemp gives ours (eight of [a-z0-9_]): never a user's own file
    ours = re.compile(rf"\.{re.escape(target.name)}-[a-z0-9_]{{8}}\.tmp")
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            if not ours.fullmatch(entry.name):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and (
                        now - entry.stat(follow_symlinks=False).st_mtime > older_than_s):
                    os.unlink(entry.path)
                    log.info("removed %s, left by a write that was cut short", entry.path)


def open_fd_of(path: str | os.PathLike[str]) -> int | None:
    """The file descriptor this process writes to that ``path`` is (``/dev/stdout``,
    ``/dev/stderr``, bash's ``>(...)`` as ``/dev/fd/63``), or ``None``: compared by device
    and inode, standard output and error first, read-only descriptors never (``<(...)`` is
    no output, and a socket on stdin is stdout too under inetd)."""
    try:
        named = os.stat(path)
    except OSError:
        return None
    try:
        others = sorted(int(name) for name in os.listdir("/proc/self/fd"))
    except OSError:  # no /proc: the standard streams at least
        others = []
    for fd in [1, 2, *(fd for fd in others if fd > 2)]:
        try:
            own = os.fstat(fd)
            writable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY
        except OSError:
            continue
        if writable and (own.st_dev, own.st_ino) == (named.st_dev, named.st_ino):
            return fd
    return None


def write_result_file(path: Path, text: str) -> None:
    """Write a command's result ``text`` to ``path``, or raise OutputError naming it.

    One of this process's own outputs (``/dev/stdout``, ``/dev/stderr``, ``>(jq ...)``)
    is written through, at its place in the stream. A regular file is replaced atomically,
    keeping its mode and group, so a full disk leaves the old file whole rather than an
    empty one; a symlink's target is replaced, not the link. A new file is made as
    ``open()`` makes one, and removed if it cannot be written whole. Anything else
    (``/dev/null``) is written as it is.
    """
    try:
        fd = open_fd_of(path)
        if fd in (1, 2):
            stream = sys.stdout if fd == 1 else sys.stderr
            stream.write(text)
            stream.flush()
            return
        try:
            info = os.stat(path)
        except FileNotFoundError:
            # a new file: made as open() makes one (the umask's mode, a folder's default
            # ACL), and removed again if it cannot be written whole
            new = os.path.realpath(path)  # a link to a file yet to be made: make that file
            handle = open(new, "x", encoding="utf-8")  # noqa: SIM115 - closed below
            try:
                with handle:
                    handle.write(text)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(new)
                raise
            return
        if fd is None and stat.S_ISREG(info.st_mode):
            atomic_write_text(Path(os.path.realpath(path)), text, like=info)
        else:  # not through realpath: /dev/fd/63 -> "pipe:[...]"
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def files_under(folder: Path) -> list[Path]:
    """Every non-folder entry under ``folder``, sorted by path, hidden ones (``.git/``,
    ``._x.jpg``) and hidden folders' contents left out. A linked folder is followed
    (``Path.rglob`` of Python 3.11 leaves its files out without a word), each real folder
    once, so a link loop ends."""
    found: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # reached again through a link: not again, nor below it
            dirnames.clear()
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += (Path(dirpath) / name for name in filenames if not name.startswith("."))
    return sorted(found)
