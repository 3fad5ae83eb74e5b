"""aoc.sources.standin: the demo stands in for a camera missing at start-up, and the camera
is used once it comes up."""

from __future__ import annotations

import numpy as np

from aoc.sources.standin import StandInSource


class Frames:
    def __init__(self, value: int, live: bool) -> None:
        self.value, self.is_live, self.closed, self.name = value, live, 0, f"src{value}"

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        return np.full((2, 2, 3), self.value, np.uint8)

    def close(self) -> None:
        self.closed += 1


def test_the_camera_replaces_the_demo_when_it_comes_up() -> None:
    now = [0.0]
    demo, camera = Frames(1, live=False), Frames(2, live=True)
    asked: list[float] = []

    def find():
        asked.append(now[0])
        return camera if now[0] >= 60 else None

    with StandInSource(demo, find, recheck_s=30, clock=lambda: now[0]) as src:
        assert src.read()[0, 0, 0] == 1 and not src.is_live and asked == []
        for t in (29, 30, 45, 60, 61, 200):
            now[0] = t
            frame = src.read()
        assert asked == [30, 60]  # every 30 s until found, then never again
        assert frame[0, 0, 0] == 2 and src.is_live and src.found
        assert demo.closed == 1 and src.name == "src2"
    assert camera.closed == 1
