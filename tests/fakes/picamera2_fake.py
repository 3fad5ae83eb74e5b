"""A fake ``picamera2.Picamera2`` written from the picamera2 manual, for tests off a Pi.

It follows the documented API: ``Picamera2(camera_num)``, ``Picamera2.global_camera_info()``
(a list of dicts with ``Model``, ``Location``, ``Rotation``, ``Id``, ``Num``),
``camera_properties``, ``sensor_modes``, ``camera_controls`` (name -> (min, max, default)),
``create_preview_configuration(main=, lores=, raw=, transform=, colour_space=,
buffer_count=, controls=, display=, encode=, queue=)``, ``configure``, ``start``, ``stop``,
``set_controls``, ``capture_array(name)`` and ``close``. It records every call in ``calls``.

Images follow the manual's pixel-format table: ``RGB888`` arrays are (H, W, 3) laid out
B, G, R; ``YUV420`` arrays are (H * 3 // 2, stride) with the Y plane, then U, then V, the
chroma planes packed two rows per array row; stride is padded to a multiple of 64 as the
hardware does. A VC4 board (Pi 4) refuses a non-YUV lores stream, as libcamera does there.

The scene is four quadrants of known colours (see :data:`QUADRANTS`).
"""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError, Future
from typing import Any

import numpy as np

#: Top-left, top-right, bottom-left, bottom-right colours of the fake scene (RGB).
QUADRANTS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 255),
)

IMX708 = {
    "Model": "imx708",
    "Location": 2,
    "Rotation": 180,
    "Id": "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a",
    "Num": 0,
}

_RGB_FORMATS = ("RGB888", "BGR888", "XRGB8888", "XBGR8888")
_YUV_FORMATS = ("YUV420", "YVU420")


def scene_rgb(width: int, height: int) -> np.ndarray:
    """The fake camera's view as an RGB (height, width, 3) array."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    top, left = height // 2, width // 2
    image[:top, :left] = QUADRANTS[0]
    image[:top, left:] = QUADRANTS[1]
    image[top:, :left] = QUADRANTS[2]
    image[top:, left:] = QUADRANTS[3]
    return image


def quadrant_colours(frame: np.ndarray) -> list[tuple[int, ...]]:
    """Colour at the centre of each quadrant (away from the chroma-subsampled edges)."""
    h, w, _ = frame.shape
    points = [(h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4),
              (3 * h // 4, 3 * w // 4)]
    return [tuple(int(c) for c in frame[y, x]) for y, x in points]


def assert_close(got: list[tuple[int, ...]], want: tuple[tuple[int, int, int], ...], tol: int = 3):
    for g, w in zip(got, want, strict=True):
        assert max(abs(a - b) for a, b in zip(g, w, strict=True)) <= tol, (got, want)


def rgb_to_i420(rgb: np.ndarray, *, stride_align: int = 64) -> np.ndarray:
    """Encode RGB as picamera2 returns YUV420: full-range BT.601 (sYCC), padded stride."""
    height, width, _ = rgb.shape
    f = rgb.astype(np.float64)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128

    def sub(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

    def u8(plane: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(plane), 0, 255).astype(np.uint8)

    stride = -(-width // stride_align) * stride_align
    out = np.full(height * 3 // 2 * stride, 0x55, dtype=np.uint8)  # padding is junk
    yplane = out[: height * stride].reshape(height, stride)
    yplane[:, :width] = u8(y)
    c_size = (height // 2) * (stride // 2)
    base = height * stride
    for index, plane in enumerate((u, v)):
        start = base + index * c_size
        chroma = out[start : start + c_size].reshape(height // 2, stride // 2)
        chroma[:, : width // 2] = u8(sub(plane))
    return out.reshape(height * 3 // 2, stride)


def make_picamera2(
    cameras: list[dict[str, Any]] | None = None,
    *,
    platform: str = "pisp",
    fail_capture_after: int | None = None,
    block_capture_after: int | None = None,
    flicker_controls: bool = True,
    adjust_lores: tuple[int, int] | None = None,
) -> type[FakePicamera2]:
    """A fresh fake ``Picamera2`` class (no state shared between tests).

    ``platform`` is ``"pisp"`` (Pi 5) or ``"vc4"`` (Pi 4 and older); ``fail_capture_after``
    stalls the camera after that many captures (cable pulled): as in picamera2, libcamera
    cancels the timed-out requests and ``capture_array`` waits on, so it raises
    ``TimeoutError`` when given ``wait=<seconds>`` and, without one, fails the test (the real
    call would block for good). ``block_capture_after`` makes later captures wait for their
    ``wait=`` seconds on a job's future, as picamera2's do while a frame is due, and
    ``cancel_all_and_flush`` fails that future with ``CancelledError``, as picamera2's
    ``Job.cancel`` does. ``adjust_lores`` is the lores size libcamera settles on
    (its "Adjusted" validation), which picamera2 writes back into the configuration.
    """
    listed = [dict(IMX708)] if cameras is None else [dict(c) for c in cameras]

    class Camera(FakePicamera2):
        _cameras = listed
        _platform = platform
        _fail_after = fail_capture_after
        _block_after = block_capture_after
        _flicker = flicker_controls
        _adjust_lores = adjust_lores
        instances: list[FakePicamera2] = []  # noqa: RUF012 - per-class record for tests

    return Camera


class FakePicamera2:
    """See module docstring. Use :func:`make_picamera2` to get a configured subclass."""

    _cameras: list[dict[str, Any]] = []  # noqa: RUF012
    _platform = "pisp"
    _fail_after: int | None = None
    _block_after: int | None = None
    _flicker = True
    _adjust_lores: tuple[int, int] | None = None
    instances: list[FakePicamera2] = []  # noqa: RUF012

    @classmethod
    def global_camera_info(cls) -> list[dict[str, Any]]:
        return [dict(c) for c in cls._cameras]

    def __init__(self, camera_num: int = 0) -> None:
        # picamera2 indexes its camera list; a missing camera surfaces as IndexError.
        info = self._cameras[camera_num]
        self.camera_num = camera_num
        self.calls: list[tuple[str, Any]] = [("__init__", camera_num)]
        self.camera_properties = {"Model": info["Model"], "PixelArraySize": (4608, 2592)}
        self.sensor_modes = [
            {"format": "SRGGB10_CSI2P", "size": (1536, 864), "fps": 120.13, "bit_depth": 10},
            {"format": "SRGGB10_CSI2P", "size": (2304, 1296), "fps": 56.03, "bit_depth": 10},
            {"format": "SRGGB10_CSI2P", "size": (4608, 2592), "fps": 14.35, "bit_depth": 10},
        ]
        self.camera_controls: dict[str, tuple[Any, Any, Any]] = {
            "ExposureTime": (26, 220417486, 20000),
            "FrameDurationLimits": (8324, 220430000, None),
        }
        if self._flicker:
            self.camera_controls["AeFlickerMode"] = (0, 1, 0)
            self.camera_controls["AeFlickerPeriod"] = (100, 1000000, None)
        self.controls: dict[str, Any] = {}
        self.config: dict[str, Any] | None = None
        self.started = False
        self.closed = False
        self.captures = 0
        self.pending_jobs = 0  # captures that timed out and still wait in the job queue
        self.waiting: list[Future[None]] = []  # captures now waiting for a frame
        self.capture_waits = threading.Event()  # set once a capture waits for a frame
        type(self).instances.append(self)

    def create_preview_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = None,
        transform: Any = None,
        colour_space: Any = None,
        buffer_count: int = 4,
        controls: dict[str, Any] | None = None,
        display: str | None = "main",
        encode: str | None = "main",
        queue: bool = True,
        **kwargs: Any,
    ) -> dict[str, Any]:
        self.calls.append(
            ("create_preview_configuration", dict(main=main, lores=lores, controls=controls,
                                                  buffer_count=buffer_count))
        )
        def aligned(stream: dict[str, Any]) -> dict[str, Any]:
            # picamera2's align_configuration(config, optimal=False): every stream's
            # width and height rounded down to even
            w, h = stream["size"]
            return {**stream, "size": (w - w % 2, h - h % 2)}

        config: dict[str, Any] = {
            "use_case": "preview",
            "main": aligned({"format": "XBGR8888", "size": (640, 480), **(main or {})}),
            "lores": None if lores is None else aligned({"format": "YUV420", **lores}),
            "raw": raw,
            "transform": transform,
            "colour_space": colour_space or "sYCC",
            "buffer_count": buffer_count,
            "queue": queue,
            "display": display,
            "encode": encode,
            # picamera2 adds its defaults only for controls the camera advertises
            "controls": {**{k: v for k, v in (("NoiseReductionMode", 3),
                                              ("FrameDurationLimits", (100, 83333)))
                            if k in self.camera_controls},
                         **(controls or {})},
        }
        return config

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append(("configure", config))
        if self.closed:
            raise RuntimeError("Camera is closed")
        lores = config.get("lores")
        if lores is not None:
            main_w, main_h = config["main"]["size"]
            lw, lh = lores["size"]
            if lw > main_w or lh > main_h:
                raise RuntimeError("Lores stream dimensions may not exceed main stream")
            if self._platform == "vc4" and lores["format"] not in _YUV_FORMATS:
                raise RuntimeError("lores stream must be YUV")
            if lores["format"] in _YUV_FORMATS and (lw % 2 or lh % 2):
                raise RuntimeError("YUV420 lores dimensions must be even")
        for control in config.get("controls", {}):
            if control not in self.camera_controls:
                raise RuntimeError(f"Control {control} is not advertised by libcamera")
        self.controls.update(config.get("controls", {}))
        if lores is not None and self._adjust_lores is not None:
            lores["size"] = self._adjust_lores
        self.config = config

    def stream_configuration(self, name: str = "main") -> dict[str, Any]:
        """The stream's configuration as libcamera settled it."""
        if self.config is None or self.config.get(name) is None:
            raise KeyError(f"Stream {name!r} is not configured")
        return self.config[name]

    def set_controls(self, controls: dict[str, Any]) -> None:
        self.calls.append(("set_controls", dict(controls)))
        self.controls.update(controls)

    def start(self, config: Any = None, show_preview: bool = False) -> None:
        self.calls.append(("start", None))
        if self.config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def cancel_all_and_flush(self) -> None:
        """Cancel the queued jobs (picamera2: for tidying up after a timeout, e.g. a
        dislodged cable, so that the camera can be stopped and closed)."""
        self.calls.append(("cancel_all_and_flush", None))
        self.pending_jobs = 0
        for job in self.waiting:  # picamera2's Job.cancel()
            job.set_exception(CancelledError())

    def stop(self) -> None:
        self.calls.append(("stop", None))
        if self.pending_jobs:  # picamera2's stop() queues behind the stuck job
            raise AssertionError("stop() behind a timed-out capture blocks in picamera2")
        self.started = False

    def close(self) -> None:
        self.calls.append(("close", None))
        if self.started and self.pending_jobs:  # picamera2's close() calls stop() first
            raise AssertionError("close() behind a timed-out capture blocks in picamera2")
        self.started = False
        self.closed = True

    def capture_array(self, name: str = "main", wait: Any = None) -> np.ndarray:
        self.calls.append(("capture_array", name))
        if not self.started or self.config is None:
            raise RuntimeError("Camera must be started before capture")
        stream = self.config.get(name)
        if stream is None:
            raise KeyError(f"Stream {name!r} is not configured")
        if self._fail_after is not None and self.captures >= self._fail_after:
            # picamera2's dispatch_functions: a number is a timeout, True/None wait forever
            if isinstance(wait, bool) or not isinstance(wait, int | float):
                raise AssertionError("capture_array on a stalled camera without a numeric "
                                     "wait= blocks forever in picamera2")
            self.pending_jobs += 1
            raise TimeoutError(f"capture_array timed out after {wait} s")
        if self._block_after is not None and self.captures >= self._block_after:
            job: Future[None] = Future()
            self.waiting.append(job)
            self.capture_waits.set()
            job.result(timeout=wait)  # CancelledError when cancelled, TimeoutError after wait
        self.captures += 1
        width, height = stream["size"]
        rgb = scene_rgb(width, height)
        fmt = stream["format"]
        if fmt in _YUV_FORMATS:
            return rgb_to_i420(rgb)
        if fmt == "RGB888":  # the manual: RGB888 pixels are stored [B, G, R]
            return np.ascontiguousarray(rgb[..., ::-1])
        if fmt == "BGR888":  # ... and BGR888 pixels [R, G, B]
            return rgb.copy()
        raise RuntimeError(f"Format {fmt} not supported by the fake")
