"""Regenerate the explain PNG snapshots (run from the repository root):

    PYTHONPATH=device python3 tests/data/explain/make_snapshots.py

Run it only after a deliberate change to the drawing, look at every PNG it wrote, and
commit them with the change. ``tests/test_explain_png.py`` reads ``CASES`` from this file.
The explanations are made by hand (no model, no random masks), so the PNGs depend on the
drawing code and Pillow alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SNAPSHOTS = HERE / "snapshots"
sys.path.insert(0, str(HERE.parents[2] / "device"))

from aoc.display.render import render  # noqa: E402
from aoc.display.state import DisplayState  # noqa: E402
from aoc.explain.place import placement  # noqa: E402
from aoc.explain.png import explanation_image, grid_png  # noqa: E402
from aoc.explain.rise import Explanation  # noqa: E402

LABELS = ("anime", "cartoon", "neither")


def picture(w: int = 160, h: int = 96) -> np.ndarray:
    """A gradient with a red square left of centre."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 120)], axis=2).astype(np.uint8)
    img[h // 4 : h // 2, w // 4 : w // 2] = (255, 0, 0)
    return img


def explanation(policy: str = "center_crop", w: int = 160, h: int = 96) -> Explanation:
    cells = np.zeros((3, 8, 8), np.float32)
    cells[0, 2:4, 2:4] = 0.2  # anime up where the red square is
    cells[0, 6:, :] = -0.05
    cells[1] = -cells[0] / 2
    cells[2, 0, :] = 0.03
    return Explanation(
        labels=LABELS, scores=np.array([0.7, 0.2, 0.1], np.float32), classes=(0, 1, 2),
        maps=cells, placement=placement((w, h), (64, 64), policy), budget=256, seed=0,
        seconds=1.25, invocations=257,
    )


def _grid_items():
    return [(picture(), "cartoon", explanation(), "a.png"),
            (picture(96, 160), "neither", explanation("letterbox", 96, 160), "tall.png")]


# name -> callable returning a PIL image
CASES = {
    "explain_center_crop": lambda: explanation_image(picture(), explanation(), name="pic.png",
                                                     panel=160),
    "explain_letterbox_tall": lambda: explanation_image(
        picture(96, 160), explanation("letterbox", 96, 160), panel=160),
}


def _oled_state() -> DisplayState:
    cells = np.zeros((8, 8))
    cells[2:4, 2:5] = 0.1
    cells[3, 3] = 0.2
    cells[6:, :] = -0.08
    cells[0, 7] = 0.03  # too small to draw
    return DisplayState(anime=0.8, cartoon=0.1, verdict="anime", backend="cpu", fps=9.0,
                        frozen=True, map_cells=tuple(tuple(float(v) for v in row)
                                                     for row in cells), map_label="cartoon")


# name -> (state, size): the OLED's frozen-frame map (tests/test_explain_view.py)
OLED_CASES = {
    "oled_map_128x64": (_oled_state(), (128, 64)),
    "oled_map_128x32": (_oled_state(), (128, 32)),
    "oled_map_long_label_128x64": (_oled_state().replace(map_label="academic gown"), (128, 64)),
}


def grid_cases(folder: Path) -> dict[str, Path]:
    """Write the grid snapshots (some items, none) into ``folder``; name -> path."""
    grid_png(_grid_items(), folder / "grid_two.png", title="Most confident mistakes: anime",
             tile=96)
    grid_png([], folder / "grid_empty.png", title="Most confident mistakes: anime")
    return {"grid_two": folder / "grid_two.png", "grid_empty": folder / "grid_empty.png"}


def main() -> None:
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    for name, make in CASES.items():
        make().save(SNAPSHOTS / f"{name}.png", optimize=True)
    grid_cases(SNAPSHOTS)
    for name, (state, size) in OLED_CASES.items():
        render(state, size).save(SNAPSHOTS / f"{name}.png", optimize=True)
    count = len(CASES) + 2 + len(OLED_CASES)
    sys.stdout.write(f"wrote {count} snapshots to {SNAPSHOTS}\n")


if __name__ == "__main__":
    main()
