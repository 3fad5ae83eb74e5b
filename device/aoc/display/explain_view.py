"""The OLED's frozen-frame map: 8x8 cells of which parts of the picture raised or lowered
the class the model said (see :mod:`aoc.explain.rise` and :mod:`aoc.explain.live`).

A 1-bit panel cannot show colour, so each cell is a square centred in its place whose size
is the effect's size (relative to the largest in the map): **filled** where showing that
part raises the class, **hollow** where it lowers it, nothing where it hardly matters. The
grid fills the left of the screen (64x64 on a 128x64 panel, 32x32 on 128x32); the right
says which class it is about and what filled and hollow mean. Pure Pillow, like
:mod:`aoc.display.render`, which calls :func:`draw_map` for view 0 of a frozen reading
that has a map.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from aoc.display.render import _fit, _pause, draw_text, text_width
from aoc.display.state import DisplayState

MIN_EFFECT = 0.2  # cells below this share of the largest effect are left blank


def cell_square(value: float, largest: float, cell: int) -> tuple[int, bool]:
    """(side in pixels, filled) of a cell's square: side 0 means nothing is drawn.

    Hollow squares need 3 pixels to look hollow, so a negative effect gets at least 3.
    """
    if largest <= 0:
        return 0, True
    share = abs(value) / largest
    if share < MIN_EFFECT:
        return 0, True
    side = max(1, round(share * (cell - 1)))
    return (side, True) if value > 0 else (max(min(3, cell - 1), side), False)


def draw_grid(img: Image.Image, x: int, y: int, side: int,
              cells: tuple[tuple[float, ...], ...]) -> None:
    """The cells as squares in a ``side`` x ``side`` box at (x, y)."""
    rows = len(cells)
    cols = len(cells[0]) if rows else 0
    if not rows or not cols:
        return
    cell = side // max(rows, cols)
    largest = max(abs(v) for row in cells for v in row)
    draw = ImageDraw.Draw(img)
    for r, row in enumerate(cells):
        for c, value in enumerate(row):
            size, filled = cell_square(value, largest, cell)
            if not size:
                continue
            left = x + c * cell + (cell - 1 - size) // 2
            top = y + r * cell + (cell - 1 - size) // 2
            box = (left, top, left + size - 1, top + size - 1)
            draw.rectangle(box, fill=1 if filled else 0, outline=1)


def _legend(img: Image.Image, x: int, y: int, text: str, *, filled: bool) -> None:
    ImageDraw.Draw(img).rectangle((x, y + 1, x + 4, y + 5), fill=1 if filled else 0, outline=1)
    draw_text(img, x + 8, y, text)


def draw_map(img: Image.Image, state: DisplayState) -> None:
    """Draw ``state.map_cells`` (and what they mean) on the whole of ``img``."""
    cells = state.map_cells or ()
    side = min(img.height, img.width // 2)
    draw_grid(img, 0, 0, side, cells)
    x = side + 4
    room = img.width - x - 1
    label = _fit(state.map_label.upper() or "?", room)
    if img.height >= 48:
        draw_text(img, x, 2, "WHY")
        draw_text(img, x, 12, label)
        _legend(img, x, 28, _fit("RAISES", room - 8), filled=True)
        _legend(img, x, 38, _fit("LOWERS", room - 8), filled=False)
        w = _pause(img, x, 55)
        draw_text(img, x + w + 3, 55, _fit("FROZEN", room - w - 3))
    else:
        draw_text(img, x, 1, _fit(f"WHY {label}", room))
        _legend(img, x, 12, "UP", filled=True)
        _legend(img, x + 8 + text_width("UP") + 6, 12, "DOWN", filled=False)
        _pause(img, x, 23)
