"""Turn a source spec string into an opened :class:`~aoc.sources.base.FrameSource`.

Specs: ``picamera2`` / ``picamera2:1``; ``webcam:0`` or a bare index (``0`` or an int);
``rtsp://...`` / ``http://...`` URLs; a video file; an image, folder or glob (``*.jpg``);
``demo``; ``auto`` (the Pi camera if picamera2 is importable and lists a camera, else
webcam 0 if OpenCV opens it, else the demo), logging the choice and why.
Prefixes ``folder:``, ``video:`` and ``image:`` force a kind for an ambiguous path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aoc.errors import CameraError, ConfigError
from aoc.sources.base import FrameSource, Size, check_size
from aoc.sources.demo_source import DemoSource
from aoc.sources.folder_source import GLOB_CHARS, IMAGE_SUFFIXES, ImageFolderSource
from aoc.sources.opencv_source import OpenCVSource, is_stream_url
from aoc.sources.picamera2_source import Picamera2Source

log = logging.getLogger(__name__)


#: The largest camera number taken: /dev/video0 ... /dev/video255 (a larger one overflows
#: OpenCV's C int with a traceback, and no such camera exists).
MAX_CAMERA_INDEX = 255


def _int_or_none(text: str) -> int | None:
    """A camera number 0 to MAX_CAMERA_INDEX, else None."""
    if not (text.strip().isascii() and text.strip().isdigit()):
        return None
    number = int(text)
    return number if number <= MAX_CAMERA_INDEX else None


def _camera(spec: int | str) -> tuple[str, int] | None:
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


def open_source(
    spec: str | int,
    *,
    size: Size | None = None,
    loop: bool = True,
    resize: str = "stretch",
    anti_flicker: str | None = None,
    main_size: Size = (640, 480),
    pi_model: str | None = None,
    picamera2_factory: Any = None,
    picamera2_importer: Callable[[], Any] | None = None,
    cv2_module: Any = None,
    demo_period_s: float = 4.0,
    timeout_s: float = 5.0,
    demo_when_missing: bool = True,
) -> tuple[FrameSource, str]:
    """Build and OPEN the source ``spec`` names; return ``(source, description)``.

    The description is a sentence for the user ("picamera2 camera 0 (imx708)", or why
    ``auto`` fell back to the demo). Raises ``CameraError`` (device + fix) when an explicit
    source cannot be opened and ``ConfigError`` for a spec it cannot parse. ``open()`` on
    the returned source is a no-op, so ``with source:`` still works.
    ``picamera2_importer`` returns the ``Picamera2`` class (tests inject a fake). Without
    ``demo_when_missing``, ``auto`` finding no camera raises ``CameraError`` instead.
    ``main_size`` (``[camera] width``/``height``) is picamera2's main stream and the mode
    asked of a webcam; video files, streams and images keep their own size.
    """
    size = check_size(size)
    importer = picamera2_importer
    if importer is None and picamera2_factory is not None:
        def importer() -> Any:
            return picamera2_factory

    def picam(num: int) -> Picamera2Source:
        return Picamera2Source(
            num, size=size, resize=resize, main_size=main_size, anti_flicker=anti_flicker,
            pi_model=pi_model,
            picamera2_factory=importer() if importer is not None else None,
        )

    def cv(target: int | str, *, looping: bool, webcam: bool = False) -> OpenCVSource:
        # the source asks only a webcam for main_size
        return OpenCVSource(target, size=size, resize=resize, loop=looping, webcam=webcam,
                            capture_size=main_size, cv2_module=cv2_module, timeout_s=timeout_s)

    if isinstance(spec, bool) or not isinstance(spec, int | str):
        raise ConfigError(f"camera.source must be a string, got {spec!r}", key="camera.source")
    try:
        camera = _camera(spec)
    except ValueError as exc:
        raise ConfigError(f"camera.source = {spec!r} {exc}", key="camera.source") from None
    if camera is not None:
        kind, num = camera
        if kind == "webcam":
            return _opened(cv(num, looping=False), f"webcam {num}")
        source = _opened(picam(num), "")[0]
        model = getattr(source, "model", None)
        return source, f"picamera2 camera {num}" + (f" ({model})" if model else "")
    text = spec.strip()
    lower = text.lower()
    if lower == "auto":
        return _auto(picam, cv, size=size, demo_period_s=demo_period_s,
                     demo_when_missing=demo_when_missing)
    if lower == "demo":
        return _opened(DemoSource(size=size, frame_period_s=demo_period_s),
                       "the built-in demo source")
    if is_stream_url(text):
        return _opened(cv(text, looping=False), f"stream {text}")
    forced, text = _path_spec(text)
    if not forced and _is_char_device(text):  # /dev/video0, /dev/v4l/by-id/...: a webcam
        return _opened(cv(text, looping=False, webcam=True), f"webcam {text}")
    kind = forced or _guess_kind(text)
    if kind in ("folder", "image"):
        # each picture held like a demo picture: one per frame, the smoothing blended
        # about thirty pictures into one verdict
        return _opened(ImageFolderSource(text, size=size, loop=loop, resize=resize,
                                         hold_s=demo_period_s),
                       f"images from {text}, {demo_period_s:g} s each")
    return _opened(cv(text, looping=loop), f"video file {text}")


VALID_SOURCES = ("auto, demo, picamera2, picamera2:N, webcam:N (or N), an rtsp:// or "
                 "http(s):// URL, an existing video file, image file or image folder, or a "
                 "glob such as /data/*.jpg (folder:, image: and video: force the kind)")
"""The source specs, for messages refusing one."""


def _is_char_device(path: str) -> bool:
    try:
        return Path(path).is_char_device()
    except OSError:  # a name too long, a loop of links: not a device
        return False


def check_source_spec(spec: object, *, key: str = "camera.source") -> None:
    """Refuse at start-up a source spec no retry can fix, naming the valid ones.

    A typo (``dmeo``), an empty string, a path that does not exist or a text file (a script
    named by mistake) would otherwise be retried forever as "camera lost". Cameras that are
    merely unplugged are not checked here (they are retried); globs are not checked either
    (files may appear later).
    """
    def refuse(why: str) -> ConfigError:
        return ConfigError(f"{key} = {spec!r} {why}; use one of: {VALID_SOURCES}", key=key)

    if isinstance(spec, bool) or not isinstance(spec, int | str):
        raise refuse("is not a string")
    try:
        if _camera(spec) is not None:
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
    kind, text = _path_spec(text)
    path = Path(text)
    if not path.exists():
        if GLOB_CHARS & set(text):
            return  # a glob (only an existing file is taken as itself, as the factory does)
        raise refuse("is not a camera name, a URL, or an existing file or folder")
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


def _path_spec(text: str) -> tuple[str | None, str]:
    """A path spec's forced kind (``folder:``, ``image:``, ``video:``; else ``None``) and
    its path with ``~`` expanded (no shell expands it in a TOML file)."""
    kind, _, rest = text.partition(":")
    if kind in ("folder", "image", "video") and rest:
        return kind, os.path.expanduser(rest)
    return None, os.path.expanduser(text)


def _guess_kind(text: str) -> str:
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
    raise CameraError(
        f"camera source {text!r} is not a camera name (auto, demo, picamera2[:N], webcam:N), "
        "a URL, or an existing file, folder or glob: check the path"
    )


def _opened(source: Any, description: str) -> tuple[FrameSource, str]:
    source.open()
    log.info("frame source: %s", description or source.name)
    return source, description


def _auto(
    picam: Callable[[int], Picamera2Source],
    cv: Callable[..., OpenCVSource],
    *,
    size: Size | None,
    demo_period_s: float,
    demo_when_missing: bool = True,
) -> tuple[FrameSource, str]:
    reasons: list[str] = []
    try:
        source = picam(0)
        source.open()
    except CameraError as exc:
        reasons.append(_short_reason("picamera2", exc))
    else:
        description = "picamera2 camera 0" + (f" ({source.model})" if source.model else "")
        log.info("auto source: %s", description)
        return source, description
    try:
        webcam = cv(0, looping=False)
        webcam.open()
    except CameraError as exc:
        reasons.append(_short_reason("webcam", exc))
    else:
        description = f"webcam 0 ({'; '.join(reasons)})"
        log.info("auto source: %s", description)
        return webcam, description
    found = f"no camera found ({'; '.join(reasons)})"
    if not demo_when_missing:
        raise CameraError(f"{found}; camera.demo_when_missing is false, so waiting for a "
                          "camera: connect one", brief=found)
    demo = DemoSource(size=size, frame_period_s=demo_period_s)
    demo.open()
    description = f"{found}: using the built-in demo source"
    log.warning("auto source: %s", description)
    return demo, description


def _short_reason(kind: str, exc: CameraError) -> str:
    """The error's own ``brief``, else the first clause of its message."""
    if exc.brief:
        return exc.brief
    name = "picamera2 camera 0" if kind == "picamera2" else "webcam 0"
    return f"{name} failed: {str(exc).split(':')[0]}"
