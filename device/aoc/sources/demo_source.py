"""The built-in demo source: project-made scenes, so a machine with no camera runs the app.

:class:`DemoSource` cycles through the PNGs in ``aoc/assets/demo`` (drawn by
``assets/make_demo.py``; see ``CREDITS.md`` there), each shown for ``frame_period_s`` of an
injectable clock. Scenes are decoded and scaled to ``size`` once, at open; each read then
only slices a slowly panning window out of a slightly larger cached copy, so consecutive
frames differ (like a camera's) at the cost of one small copy.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from aoc.errors import CameraError, ConfigError
from aoc.sources.base import BaseSource, Size, check_size, fit_image

log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent.parent / "assets" / "demo"
DEFAULT_SIZE: Size = (320, 240)
#: Extra margin (fraction of the frame) scaled in around each scene for the pan.
PAN_MARGIN = 0.06
#: One full back-and-forth pan takes this many seconds.
PAN_PERIOD_S = 3.0


def demo_asset_paths(folder: Path = DEMO_DIR) -> list[Path]:
    """The demo scene PNGs, in display order (the benchmark's baseline decodes these too)."""
    return sorted(folder.glob("*.png"))


def expected_label(path: Path) -> str:
    """What a scene is meant to look like: ``anime``, ``cartoon``, ``both`` or ``neither``."""
    stem = path.stem.lower()
    if "mix" in stem:
        return "both"
    if "anime" in stem:
        return "anime"
    if "cartoon" in stem:
        return "cartoon"
    return "neither"


class DemoSource(BaseSource):
    """Cycle through the demo scenes, delivering pre-scaled RGB frames at ``size``.

    ``pan=False`` returns the cached scene itself (read-only, byte-identical frames).
    """

    is_live = False

    def __init__(
        self,
        *,
        size: Size | None = None,
        frame_period_s: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
        pan: bool = True,
        folder: Path = DEMO_DIR,
    ) -> None:
        self.size = check_size(size) or DEFAULT_SIZE
        if not frame_period_s > 0:
            raise ConfigError(
                f"camera.demo_period_s must be > 0 seconds, got {frame_period_s!r}",
                key="camera.demo_period_s",
            )
        self.frame_period_s = float(frame_period_s)
        self.pan = pan
        self._clock = clock
        self.folder = Path(folder)
        self.name = "demo"
        self.paths: list[Path] = []
        self._scenes: list[np.ndarray] = []
        self._t0 = 0.0

    @property
    def scene_index(self) -> int:
        """Index (into :attr:`paths`) of the scene shown now."""
        if not self._scenes:
            return 0
        elapsed = max(0.0, self._clock() - self._t0)
        return int(elapsed // self.frame_period_s) % len(self._scenes)

    @property
    def scene_path(self) -> Path | None:
        """The file of the scene shown now."""
        return self.paths[self.scene_index] if self.paths else None

    def open(self) -> None:
        """Decode and scale every scene once; ``CameraError`` if the assets are missing."""
        if self._scenes:
            return
        paths = demo_asset_paths(self.folder)
        if not paths:
            raise CameraError(
                f"no demo scenes in {self.folder}: reinstall the package or run "
                "`python3 device/aoc/assets/make_demo.py`"
            )
        width, height = self.size
        margin = (
            (width + 2 * math.ceil(width * PAN_MARGIN), height + 2 * math.ceil(height * PAN_MARGIN))
            if self.pan
            else (width, height)
        )
        scenes = []
        for path in paths:
            try:
                with Image.open(path) as image:
                    scene = fit_image(image, margin, "center_crop")
            except OSError as exc:
                raise CameraError(
                    f"demo scene {path} could not be decoded ({exc}): reinstall the package "
                    "or regenerate it with make_demo.py"
                ) from exc
            scene.flags.writeable = False
            scenes.append(scene)
        self.paths, self._scenes = paths, scenes
        self._t0 = self._clock()
        log.info("demo source: %d scenes at %dx%d", len(scenes), width, height)

    def read(self) -> np.ndarray:
        """The current scene (panned slightly with time when ``pan``)."""
        if not self._scenes:
            raise CameraError("demo source is not open: call open() first")
        elapsed = max(0.0, self._clock() - self._t0)
        scene = self._scenes[int(elapsed // self.frame_period_s) % len(self._scenes)]
        if not self.pan:
            return scene
        width, height = self.size
        spare_x, spare_y = scene.shape[1] - width, scene.shape[0] - height
        # A slow Lissajous drift across the margin, like a hand-held camera.
        phase = 2 * math.pi * elapsed / PAN_PERIOD_S
        x = round(spare_x * (0.5 + 0.5 * math.sin(phase)))
        y = round(spare_y * (0.5 + 0.5 * math.sin(0.7 * phase + 1.0)))
        return np.ascontiguousarray(scene[y : y + height, x : x + width])

    def close(self) -> None:
        """Drop the cached scenes; safe twice."""
        self._scenes = []
