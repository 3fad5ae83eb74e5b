"""What a ``camera.source`` string names, and which ones are refused at start-up.

A camera (``picamera2[:N]``, ``webcam:N`` or a bare number), a path with its kind forced
(``folder:``, ``image:``, ``video:``) or guessed, and :func:`check_source_spec`, which
refuses what no retry can fix (a typo, a text file) but lets through what may appear later
(a camera unplugged, a drive not mounted yet).
"""

from __future__ import annotations

import os
from pathlib import Path

from aoc.errors import CameraError, ConfigError
from aoc.sources.folder_source import GLOB_CHARS, IMAGE_SUFFIXES
from aoc.sources.opencv_source import is_stream_url

#: The largest camera number taken: /dev/video0 ... /dev/video255 (a larger one overflows
#: OpenCV's C int with a traceback, and no such camera exists).
MAX_CAMERA_INDEX = 255


def _int_or_none(text: str) -> int | None:
    """A camera number 0 to MAX_CAMERA_INDEX, else None."""
    if not (text.strip().isascii() and text.strip().isdigit()):
        return None
    number = int(text)
    return number if number <= MAX_CAMERA_INDEX else None


def camera_spec(spec: int | str) -> tuple[str, int] | None:
    """``("webcam" | "picamera2", number)`` for a camera spec, ``None`` for any other; a
    ValueError saying why for a camera spec whose number is malformed or past the last."""
    if isinstance(spec, int):
        if not 0 <= spec <= MAX_CAMERA_INDEX:
            raise ValueError(f"is not a webcam index (0 to {MAX_CAMERA_INDEX})")
        return "webcam", spec
    text = spec.strip()
    lower = text.lower()
    if lower == "picamera2" or lower.startswith("picamera2:"):
        kind, number = "picamera2", lower.partition(":")[2] or "0"
        form = "picamera2 or picamera2:N"
    elif lower.startswith("webcam:") or (text.isascii() and text.isdigit()):
        kind, number = "webcam", text.partition(":")[2] if ":" in text else text
        form = "webcam:N"
    else:
        return None
    num = _int_or_none(number)
    if num is None:
        raise ValueError(f"is not {form} (N 0 to {MAX_CAMERA_INDEX})")
    return kind, num


VALID_SOURCES = ("auto, demo, picamera2, picamera2:N, webcam:N (or N), an rtsp:// or "
                 "http(s):// URL, an existing video file, image file or image folder, or a "
                 "glob such as /data/*.jpg (folder:, image: and video: force the kind)")
"""The source specs, for messages refusing one."""


def is_char_device(path: str) -> bool:
    """Whether ``path`` is a character device (``/dev/video0``, a by-id link to one)."""
    try:
        return Path(path).is_char_device()
    except OSError:  # a name too long, a loop of links: not a device
        return False


LATE_ROOTS = ("/dev/", "/media/", "/mnt/", "/run/media/")
"""Where a missing path may still appear: a camera node plugged in later (``/dev/video0``,
``/dev/v4l/by-id/...``), a drive mounted after the service starts."""


def may_appear_later(path: str) -> bool:
    """Whether a missing ``path`` is a camera node or lies on a drive not mounted yet
    (:data:`LATE_ROOTS`), itself or through a link (``/srv/slides -> /media/usb/slides``),
    so that a retry, not a refusal, is the answer."""
    return any(p.startswith(LATE_ROOTS)
               for p in (os.path.abspath(path), os.path.realpath(path)))


def check_source_spec(spec: object, *, key: str = "camera.source") -> None:
    """Refuse at start-up a source spec no retry can fix, naming the valid ones.

    A typo (``dmeo``), an empty string, a path that does not exist or a text file (a script
    named by mistake) would otherwise be retried forever as "camera lost". Cameras that are
    merely unplugged are not checked here (they are retried), nor a missing path under
    :data:`LATE_ROOTS`: refused, the service would stay down (exit 78 is not restarted) for
    a webcam unplugged or a drive mounted late at any restart. Globs are not checked either
    (files may appear later).
    """
    def refuse(why: str) -> ConfigError:
        return ConfigError(f"{key} = {spec!r} {why}; use one of: {VALID_SOURCES}", key=key)

    if isinstance(spec, bool) or not isinstance(spec, int | str):
        raise refuse("is not a string")
    try:
        if camera_spec(spec) is not None:
            return
    except ValueError as exc:
        raise refuse(str(exc)) from None
    text = spec.strip()
    lower = text.lower()
    if not text:
        raise refuse("is empty")
    if "\0" in text:
        raise refuse("contains a NUL character")
    if lower in ("auto", "demo") or is_stream_url(text):
        return
    kind, text = path_spec(text)
    path = Path(text)
    if not path.exists():
        if GLOB_CHARS & set(text) or may_appear_later(text):
            return  # a glob, a camera node or a drive's path: retried until it appears
        hidden = (" (the service cannot see /home or /root: ProtectHome=yes; keep sources "
                  "under /srv or /var/lib)" if os.path.abspath(text).startswith(
                      ("/home/", "/root/")) else "")
        raise refuse("is not a camera name, a URL, or an existing file or folder" + hidden)
    if kind == "folder" and not path.is_dir():
        raise refuse("is not a folder")
    if path.is_fifo() or path.is_socket() or path.is_block_device():
        # a FIFO would block the reader forever; a V4L2 node (/dev/video0) is fine
        raise refuse("is a FIFO, socket or block device, not a file, folder or camera node")
    if (kind not in ("video", "image") and path.is_file()
            and path.suffix.lower() not in IMAGE_SUFFIXES and _is_text(path)):
        # a script or a note named by mistake was retried forever as "video unreadable";
        # a video or a picture is binary, whatever its suffix or a link's name
        raise refuse("is a text file, not a video or a picture (video: or image: in front "
                     "forces the kind)")


def _is_text(path: Path, *, sniff: int = 4096) -> bool:
    """Whether the file starts as text: no NUL byte and valid UTF-8 in its first ``sniff``
    bytes (an empty file is not: OpenCV's own error names it)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(sniff)
    except OSError:
        return False  # unreadable: the source's own open names why
    if not head or b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sniffed bytes is still text
        return exc.start >= len(head) - 3
    return True


def path_spec(text: str) -> tuple[str | None, str]:
    """A path spec's forced kind (``folder:``, ``image:``, ``video:``; else ``None``) and
    its path with ``~`` expanded (no shell expands it in a TOML file)."""
    kind, _, rest = text.partition(":")
    if kind in ("folder", "image", "video") and rest:
        return kind, os.path.expanduser(rest)
    return None, os.path.expanduser(text)


def guess_kind(text: str) -> str:
    """The kind of an expanded path spec given without a forced kind."""
    path = Path(text)
    if path.exists():
        # an existing file first: "[Subs] Show - 01.mkv" is a video, not a glob
        if path.is_dir():
            return "folder"
        return "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
    if GLOB_CHARS & set(text):
        return "folder"
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return "image"
    if may_appear_later(text):
        what = ("camera" if os.path.abspath(text).startswith("/dev/")
                else "drive (not mounted yet?)")
        raise CameraError(f"camera source {text!r} is not there: its {what} is missing; "
                          "retrying until it appears")
    raise CameraError(
        f"camera source {text!r} is not a camera name (auto, demo, picamera2[:N], webcam:N), "
        "a URL, or an existing file, folder or glob: check the path"
    )
