"""Render the README screenshots through luma.emulator (run from the repository root):

    PYTHONPATH=device python3 device/docs/screens/make_screens.py

Writes ``<size>_<view>_<verdict>.png`` at 3x with square pixels (the OLED look), the
fault screens, and ``demo_128x64.gif`` (scores drifting from anime to cartoon).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from aoc.display.emulated import EmulatedDisplay  # noqa: E402
from aoc.display.render import VIEW_NAMES  # noqa: E402
from aoc.display.state import DisplayState  # noqa: E402
from aoc.inference.failover import FAULT_TPU_LOST  # noqa: E402

SCALE = 3
STATES = {
    "anime": DisplayState(anime=0.87, cartoon=0.12, verdict="anime", backend="edgetpu", fps=29.7),
    "cartoon": DisplayState(anime=0.18, cartoon=0.91, verdict="cartoon", backend="edgetpu",
                            fps=29.4),
    "both": DisplayState(anime=0.71, cartoon=0.66, verdict="both", backend="edgetpu", fps=28.9),
    "neither": DisplayState(anime=0.03, cartoon=0.05, verdict="neither", backend="cpu", fps=7.8),
    "uncertain": DisplayState(anime=0.41, cartoon=0.38, verdict="uncertain", backend="cpu",
                              fps=7.6),
}
FAULTS = {
    # the texts the app shows (aoc.sources.resilient, aoc.inference.failover)
    "fault_camera": STATES["anime"].replace(message="camera lost - retrying in 5 s"),
    "fault_tpu": STATES["neither"].replace(message=FAULT_TPU_LOST),
    "frozen": STATES["cartoon"].replace(frozen=True),
}


def _shot(path: Path, state: DisplayState, size: tuple[int, int]) -> None:
    with EmulatedDisplay(path, width=size[0], height=size[1], scale=SCALE) as emu:
        emu.show(state)


def main() -> None:
    written = 0
    for size in ((128, 64), (128, 32)):
        tag = f"{size[0]}x{size[1]}"
        for name, state in STATES.items():
            _shot(HERE / f"{tag}_{VIEW_NAMES[0]}_{name}.png", state, size)
            written += 1
        for view in (1, 2):
            _shot(HERE / f"{tag}_{VIEW_NAMES[view]}_anime.png",
                  STATES["anime"].replace(view=view), size)
            written += 1
        for name, state in FAULTS.items():
            _shot(HERE / f"{tag}_{name}.png", state, size)
            written += 1
    with EmulatedDisplay(HERE / "demo_128x64.gif", fmt="gif", scale=2,
                         frame_duration_s=0.15) as emu:
        for i in range(21):
            t = i / 20
            anime, cartoon = 0.9 - 0.8 * t, 0.1 + 0.8 * t
            verdict = "anime" if anime > 0.6 else "cartoon" if cartoon > 0.6 else "both"
            emu.show(DisplayState(anime=anime, cartoon=cartoon, verdict=verdict,
                                  backend="edgetpu", fps=29.5))
    sys.stdout.write(f"wrote {written} PNGs and demo_128x64.gif to {HERE}\n")


if __name__ == "__main__":
    main()
