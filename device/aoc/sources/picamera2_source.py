"""Raspberry Pi camera through picamera2 (libcamera), with the ISP doing the scaling.

The camera is configured with a preview configuration: a ``main`` stream (``RGB888``, whose
arrays arrive in **BGR** order) and, when a model input ``size`` is given, a ``lores``
stream near that size, so the ISP scales for free. The lores stream shows the main
stream's field of view: for a ``stretch`` model it has the model's size; for a
``center_crop`` or ``letterbox`` model it keeps the main stream's aspect ratio (299x224
beside 640x480) and the classifier crops or pads it, as training did. A Pi 5 can deliver
an RGB lores stream; on a Pi 4 (and older) the lores stream must be ``YUV420``, converted here with
numpy (:func:`aoc.sources.yuv.yuv420_to_rgb`). The Pi model comes from ``pi_model=`` (the app passes
:attr:`aoc.app.host.Host.pi_model`); an unknown board gets the YUV420 lores stream, which
works on every Pi.

Anti-flicker: filming a screen or a room lit by mains lamps gives rolling bands unless the
exposure is a multiple of the light's period. ``anti_flicker="50hz"`` / ``"60hz"`` sets
libcamera's ``AeFlickerMode`` to manual (1) with ``AeFlickerPeriod`` 10000 / 8333 us (light
flickers at twice the mains frequency). Cameras whose tuning lacks these controls are
logged and run without them.

picamera2 is imported lazily; it comes from apt (``python3-picamera2``), not PyPI.
"""

from __future__ import annotations

import logging
from concurrent.futures import CancelledError
from typing import Any

import numpy as np

from aoc.errors import CameraError, ConfigError
from aoc.sources.base import BaseSource, Size, as_frame, camera_frame_size, check_size
from aoc.sources.yuv import bgr_to_rgb, yuv420_to_rgb, yuv420_to_rgb_full

log = logging.getLogger(__name__)


#: libcamera AeFlickerMode values (controls::AeFlickerModeEnum).
AE_FLICKER_MODE_OFF = 0
AE_FLICKER_MODE_MANUAL = 1
#: Light from a lamp on 50 Hz mains flickers at 100 Hz: a 10000 us period; 60 Hz -> 8333 us.
FLICKER_PERIOD_US: dict[str, int] = {"50hz": 10_000, "60hz": 8_333}

NOT_INSTALLED = (
    "picamera2 is not installed: on Raspberry Pi OS `sudo apt install python3-picamera2` "
    "and create the venv with --system-site-packages"
)


def lores_rgb_capable(model: str | None) -> bool:
    """True on boards whose ISP (PiSP: Pi 5, CM5, Pi 500) gives an RGB lores stream.

    Unknown boards get ``False``: YUV420 lores works everywhere, RGB lores only on PiSP.
    """
    if not model:
        return False
    text = model.lower()
    return any(tag in text for tag in ("raspberry pi 5", "compute module 5", "raspberry pi 500"))


class Picamera2Source(BaseSource):
    """A Raspberry Pi camera module read through picamera2.

    ``picamera2_factory`` is the ``Picamera2`` class (or a fake with the same API: callable
    with the camera number, with a ``global_camera_info()`` static method); ``None`` imports
    picamera2 on :meth:`open`. ``pi_model`` is the board model string
    (``"Raspberry Pi 5 Model B Rev 1.0"``) or ``None`` when unknown.
    """

    is_live = True

    def __init__(
        self,
        camera_num: int = 0,
        *,
        size: Size | None = (224, 224),
        resize: str = "stretch",
        main_size: Size = (640, 480),
        anti_flicker: str | None = None,
        pi_model: str | None = None,
        picamera2_factory: Any = None,
        buffer_count: int = 4,
        yuv_full_range: bool = True,
        capture_timeout_s: float = 5.0,
    ) -> None:
        if anti_flicker is not None and anti_flicker not in FLICKER_PERIOD_US:
            raise ConfigError(
                f"camera.anti_flicker must be 50hz, 60hz or empty, got {anti_flicker!r}",
                key="camera.anti_flicker",
            )
        self.camera_num = int(camera_num)
        self.size = check_size(size)
        main = check_size(main_size, key="camera.main_size") or (640, 480)
        if self.size is not None:
            # lores may not be larger than main: grow main rather than refuse.
            main = (max(main[0], self.size[0]), max(main[1], self.size[1]))
        # picamera2 rounds every stream down to even sizes (align_stream, optimal=False) and
        # the lores stream is rounded up to even here: an odd main (a 299x299 model on a
        # smaller camera) became 298 against a 300 lores, which picamera2 refuses
        main = (main[0] + main[0] % 2, main[1] + main[1] % 2)
        self.main_size: Size = main
        # what read() returns; the lores stream may be a pixel wider (YUV420 needs even sizes)
        self.frame_size = camera_frame_size(main, self.size, resize)
        self.capture_timeout_s = float(capture_timeout_s)
        self.anti_flicker = anti_flicker
        self._pi_model = pi_model
        self._factory = picamera2_factory
        self._buffer_count = int(buffer_count)
        self._full_range = yuv_full_range
        self.name = f"picamera2:{self.camera_num}"
        self.model: str | None = None
        self.board: str | None = None
        self.stream: str = "main"
        self.stream_format: str = "RGB888"
        self.config: Any = None
        self._camera: Any = None
        self._lores_size: Size | None = None

    # -- lifecycle -----------------------------------------------------------------

    def open(self) -> None:
        """Open, configure and start the camera; raises ``CameraError`` with the fix."""
        if self._camera is not None:
            return
        factory = self._factory if self._factory is not None else _import_picamera2()
        self._check_listed(factory)
        try:
            camera = factory(self.camera_num)
        except Exception as exc:  # noqa: BLE001 - libcamera's errors have no common root
            raise CameraError(
                f"camera {self.camera_num} could not be opened ({exc}): it may be in use by "
                "another program (stop it), or not connected: check the ribbon cable and "
                "`rpicam-hello --list-cameras`"
            ) from exc
        try:
            self._configure(camera)
            camera.start()
        except Exception as exc:  # noqa: BLE001 - no common root; the camera must be closed
            # e.g. a USB webcam that libcamera lists too: it has one stream, no lores
            _close_quietly(camera)
            raise CameraError(
                f"camera {self.camera_num} could not be configured/started "
                f"({type(exc).__name__}: {exc}): check `rpicam-hello --list-cameras` and the "
                "camera settings (size, main_size); for a USB webcam use camera.source = "
                "webcam:0"
            ) from exc
        self._camera = camera
        log.info(
            "%s (%s) on %s: %s stream %s %s%s",
            self.name,
            self.model or "unknown sensor",
            self.board or "unknown board",
            self.stream,
            self.stream_format,
            self._lores_size or self.main_size,
            f", anti-flicker {self.anti_flicker}" if self.anti_flicker else "",
        )

    def read(self) -> np.ndarray:
        """Capture the newest frame from the configured stream, as RGB."""
        camera = self._camera
        if camera is None:
            raise CameraError(f"{self.name} is not open: call open() first")
        try:
            # Without ``wait`` a pulled ribbon cable blocks here for good: libcamera cancels
            # the timed-out requests and picamera2 waits on. A number makes picamera2 raise
            # TimeoutError (an OSError); older picamera2 takes it as True (waits, as before).
            array = camera.capture_array(self.stream, wait=self.capture_timeout_s)
        except (RuntimeError, OSError, CancelledError) as exc:
            # CancelledError: the camera was closed under this capture (cancel_all_and_flush
            # fails picamera2's waiting job); it is neither a RuntimeError nor an OSError
            raise CameraError(
                f"camera {self.camera_num} stopped delivering frames ({exc}): check the "
                "ribbon cable and power supply; the app retries"
            ) from exc
        if self.stream_format == "YUV420":
            lw, lh = self._lores_size or self.main_size
            if self._full_range:  # one cv2.cvtColor when OpenCV is installed (aoc.sources.yuv)
                frame = yuv420_to_rgb_full(array, lw, lh)
            else:
                frame = yuv420_to_rgb(array, lw, lh, full_range=False)
        else:  # RGB888 arrays are laid out B, G, R in memory.
            frame = as_frame(bgr_to_rgb(array), device=self.name)
        want = self.frame_size
        if want is not None and (frame.shape[1], frame.shape[0]) != want:
            # the pixel the even lores size added, or a size libcamera adjusted: the centre
            x0 = max(0, (frame.shape[1] - want[0]) // 2)
            y0 = max(0, (frame.shape[0] - want[1]) // 2)
            frame = np.ascontiguousarray(frame[y0 : y0 + want[1], x0 : x0 + want[0]])
        return frame

    def close(self) -> None:
        """Stop and close the camera; safe twice."""
        camera, self._camera = self._camera, None
        if camera is not None:
            _close_quietly(camera)

    # -- internals -----------------------------------------------------------------

    def _check_listed(self, factory: Any) -> None:
        lister = getattr(factory, "global_camera_info", None)
        if lister is None:
            return
        try:
            cameras = list(lister())
        except (RuntimeError, OSError) as exc:
            raise CameraError(
                f"libcamera could not list cameras ({exc}): check `rpicam-hello --list-cameras`"
            ) from exc
        if self.camera_num >= len(cameras) or self.camera_num < 0:
            raise CameraError(
                f"camera {self.camera_num} not found ({len(cameras)} camera(s) listed): check "
                "the ribbon cable (contacts facing the right way, latch closed) and "
                "`rpicam-hello --list-cameras`",
                brief=f"picamera2 lists no camera {self.camera_num}",
            )
        self.model = str(cameras[self.camera_num].get("Model", "")) or None

    def _configure(self, camera: Any) -> None:
        self.board = self._pi_model
        properties = getattr(camera, "camera_properties", None) or {}
        self.model = properties.get("Model", self.model)
        main = {"size": self.main_size, "format": "RGB888"}
        lores = None
        if self.frame_size is not None:
            self.stream = "lores"
            self.stream_format = "RGB888" if lores_rgb_capable(self.board) else "YUV420"
            # YUV420 needs even sizes, and PiSP aligns RGB ones: ask for even sizes and cut
            # the extra pixel in read()
            width, height = self.frame_size
            self._lores_size = (width + width % 2, height + height % 2)
            lores = {"size": self._lores_size, "format": self.stream_format}
        controls = self._flicker_controls(camera)
        self.config = camera.create_preview_configuration(
            main=main, lores=lores, controls=controls, buffer_count=self._buffer_count
        )
        camera.configure(self.config)
        settled = _settled_size(camera, "lores") if lores is not None else None
        if settled is not None and settled != self._lores_size:
            # libcamera may adjust a stream's size ("Adjusted"); the YUV planes are laid
            # out for the size it chose, not the one asked for
            log.warning("camera %d: libcamera set the lores stream to %s instead of %s",
                        self.camera_num, settled, self._lores_size)
            self._lores_size = settled

    def _flicker_controls(self, camera: Any) -> dict[str, Any]:
        if self.anti_flicker is None:
            return {}
        available = getattr(camera, "camera_controls", None) or {}
        if "AeFlickerMode" not in available or "AeFlickerPeriod" not in available:
            log.warning(
                "camera %d has no AeFlickerMode/AeFlickerPeriod controls (old libcamera or "
                "tuning): running without anti-flicker; update Raspberry Pi OS to get them",
                self.camera_num,
            )
            return {}
        return {
            "AeFlickerMode": AE_FLICKER_MODE_MANUAL,
            "AeFlickerPeriod": FLICKER_PERIOD_US[self.anti_flicker],
        }


def _settled_size(camera: Any, stream: str) -> Size | None:
    """The size libcamera settled on for ``stream`` after configure (None if unknown)."""
    try:
        size = camera.stream_configuration(stream)["size"]
        return int(size[0]), int(size[1])
    except (AttributeError, KeyError, TypeError, IndexError, ValueError):
        return None


def _import_picamera2() -> Any:
    try:
        from picamera2 import Picamera2  # type: ignore[import-not-found]
    except ImportError as exc:
        raise CameraError(NOT_INSTALLED, brief="picamera2 not installed") from exc
    except Exception as exc:  # noqa: BLE001 - a broken install fails in its own ways
        # apt's picamera2 (simplejpeg, ...) is built against Debian's numpy 1.x: a numpy 2 in
        # the venv makes its import fail with "numpy.dtype size changed" (a ValueError)
        raise CameraError(
            f"picamera2 is installed but does not import ({type(exc).__name__}: {exc}); if "
            "the message names numpy, the venv's numpy does not match the apt packages: "
            "`pip install 'numpy<2'` in the venv",
            brief="picamera2 does not import",
        ) from exc
    return Picamera2


def _close_quietly(camera: Any) -> None:
    # a capture that timed out leaves its job queued; stop() would wait behind it.
    # picamera2 documents cancel_all_and_flush() for this (a dislodged cable); older ones lack it
    for method in ("cancel_all_and_flush", "stop", "close"):
        if method == "cancel_all_and_flush" and not hasattr(camera, method):
            continue
        try:
            getattr(camera, method)()
        except (RuntimeError, OSError, AttributeError) as exc:
            log.debug("camera %s() failed while closing: %s", method, exc)
