"""Turn a source spec string into an opened :class:`~aoc.sources.base.FrameSource`.

Specs: ``picamera2`` / ``picamera2:1``; ``webcam:0`` or a bare index (``0`` or an int);
``rtsp://...`` / ``http://...`` URLs; a video file; an image, folder or glob (``*.jpg``);
``demo``; ``auto`` (the Pi camera if picamera2 is importable and lists a camera, else
webcam 0 if OpenCV opens it, else the demo), logging the choice and why.
Prefixes ``folder:``, ``video:`` and ``image:`` force a kind for an ambiguous path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aoc.errors import CameraError, ConfigError
from aoc.sources.base import FrameSource, Size, check_size
from aoc.sources.demo_source import DemoSource
from aoc.sources.folder_source import ImageFolderSource
from aoc.sources.opencv_source import OpenCVSource, is_stream_url
from aoc.sources.picamera2_source import Picamera2Source
from aoc.sources.source_spec import camera_spec, guess_kind, is_char_device, path_spec

log = logging.getLogger(__name__)


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
        camera = camera_spec(spec)
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
    forced, text = path_spec(text)
    if not forced and is_char_device(text):  # /dev/video0, /dev/v4l/by-id/...: a webcam
        return _opened(cv(text, looping=False, webcam=True), f"webcam {text}")
    kind = forced or guess_kind(text)
    if kind in ("folder", "image"):
        # each picture held like a demo picture: one per frame, the smoothing blended
        # about thirty pictures into one verdict
        return _opened(ImageFolderSource(text, size=size, loop=loop, resize=resize,
                                         hold_s=demo_period_s),
                       f"images from {text}, {demo_period_s:g} s each")
    return _opened(cv(text, looping=loop), f"video file {text}")


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
