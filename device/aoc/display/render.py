"""Draw a :class:`DisplayState` as a 1-bit image for a 128x64 or 128x32 OLED (pure Pillow).

Text uses Pillow's built-in bitmap font (capitals 6 px tall, 7 with '%'),
drawn one character at a time with a 1 px gap so letters never touch, and scaled by
whole pixels (nearest neighbour) for the big figures: on a 0.96" panel crisp pixels
read better than anti-aliased outlines, which a 1-bit panel cannot show anyway.

Views (``state.view`` modulo :data:`NUM_VIEWS`): 0 = bars, 1 = big verdict,
2 = details. A ``message`` replaces the bars / big verdict with a framed fault box. A
frozen reading's map (``state.map_cells``) replaces the bars
(:mod:`aoc.display.explain_view`).
"""

from __future__ import annotations

import functools
import textwrap

from PIL import Image, ImageDraw, ImageFont

from aoc.display.state import DisplayState
from aoc.errors import ConfigError

NUM_VIEWS = 3
VIEW_NAMES: tuple[str, ...] = ("bars", "verdict", "details")
VERDICT_TEXT = {
    "anime": "ANIME",
    "cartoon": "CARTOON",
    "both": "BOTH",
    "neither": "NEITHER",
    "uncertain": "?",
}
BADGE_TEXT = {"edgetpu": "TPU", "cpu": "CPU", "": "---"}
MIN_SIZE = (96, 32)

_CELL_W = 6  # the bitmap font's advance
_INK_TOP = 2  # first glyph row that may hold ink ('%'); capitals start one row lower
_INK_ROWS = 9  # glyph rows 2..10, descenders included
CAP_H = 7  # rows a line of capitals, digits and '%' needs at scale 1
_GAP = 1  # extra pixels between characters


@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont:
    # load_default_imagefont (Pillow >= 10.1) is the bitmap font; older Pillow returns it
    # from load_default().
    loader = getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)
    return loader()  # type: ignore[no-any-return]


def text_width(text: str, scale: int = 1) -> int:
    """Width in pixels of ``text`` as :func:`draw_text` draws it."""
    if not text:
        return 0
    return (len(text) * (_CELL_W + _GAP) - _GAP) * scale


@functools.lru_cache(maxsize=512)
def _glyphs(text: str, scale: int) -> Image.Image:
    mask = Image.new("1", (max(1, text_width(text)), _INK_ROWS))
    draw = ImageDraw.Draw(mask)
    for i, ch in enumerate(text):
        # the bitmap font holds Latin-1 only: a Japanese label or file name would raise
        # UnicodeEncodeError (on every frame drawn); such a character shows as '?'
        draw.text((i * (_CELL_W + _GAP), -_INK_TOP), ch if ord(ch) < 256 else "?",
                  font=_font(), fill=1)
    if scale != 1:
        mask = mask.resize((mask.width * scale, mask.height * scale), Image.Resampling.NEAREST)
    return mask


def draw_text(img: Image.Image, x: int, y: int, text: str, *, scale: int = 1, fill: int = 1) -> int:
    """Draw ``text`` with its capitals' top ink row at ``y``; return the width drawn."""
    if not text:
        return 0
    mask = _glyphs(text, scale)
    img.paste(fill, (x, y), mask)
    return mask.width


def _text_right(img: Image.Image, right: int, y: int, text: str, *, scale: int = 1) -> None:
    draw_text(img, right - text_width(text, scale), y, text, scale=scale)


def _text_center(img: Image.Image, y: int, text: str, *, scale: int = 1) -> None:
    draw_text(img, (img.width - text_width(text, scale)) // 2, y, text, scale=scale)


def _fit(text: str, max_px: int) -> str:
    """Shorten ``text`` to ``max_px`` pixels, marking the cut with a trailing '.'."""
    max_chars = max(1, (max_px + _GAP) // (_CELL_W + _GAP))
    return text if len(text) <= max_chars else text[: max_chars - 1] + "."


def percent(value: float) -> str:
    """``0.874`` -> ``"87%"``."""
    return f"{round(value * 100):d}%"


def fps_text(fps: float) -> str:
    """Frames per second with one decimal below 10 (``"9.8"``), none above (``"30"``)."""
    return f"{fps:.1f}" if fps < 9.95 else f"{fps:.0f}"


def _bar(img: Image.Image, x: int, y: int, w: int, h: int, value: float) -> None:
    draw = ImageDraw.Draw(img)
    draw.rectangle((x, y, x + w - 1, y + h - 1), outline=1, fill=0)
    filled = round((w - 4) * value)
    if filled > 0:
        draw.rectangle((x + 2, y + 2, x + 1 + filled, y + h - 3), fill=1)


def _badge(img: Image.Image, x: int, y: int, backend: str) -> int:
    """Inverted TPU/CPU box, 9 px tall with its top at ``y``; returns its width."""
    label = BADGE_TEXT.get(backend, "---")
    w = text_width(label) + 4
    ImageDraw.Draw(img).rectangle((x, y, x + w - 1, y + 8), fill=1)
    draw_text(img, x + 2, y + 1, label, fill=0)
    return w


def _pause(img: Image.Image, x: int, y: int) -> int:
    """The frozen marker: a 7 px pause sign (two bars); returns its width."""
    draw = ImageDraw.Draw(img)
    draw.rectangle((x, y, x + 1, y + 6), fill=1)
    draw.rectangle((x + 4, y, x + 5, y + 6), fill=1)
    return 6


def _status_row(
    img: Image.Image, y: int, state: DisplayState, left: int = 2, *, middle: str = ""
) -> int:
    """Badge, frozen marker, ``middle`` text and fps at ``y`` (9 px tall).

    The fps loses its "FPS" unit when ``middle`` would not fit otherwise. Returns the x
    where free space starts after the badge and marker.
    """
    x = left + _badge(img, left, y, state.backend) + 3
    if state.frozen:
        x += _pause(img, x, y + 1) + 3
    fps = fps_text(state.fps) + "FPS"
    if middle and x + text_width(middle) + 3 + text_width(fps) > img.width - 2:
        fps = fps_text(state.fps)
    _text_right(img, img.width - 2, y + 1, fps)
    if middle:
        draw_text(img, x, y + 1, _fit(middle, img.width - 2 - text_width(fps) - 3 - x))
    return x


def _bars_tall(img: Image.Image, state: DisplayState) -> None:
    _status_row(img, 0, state)
    bar_w = img.width - 4 - text_width("100%", 2) - 4
    for top, label, value in ((11, "ANIME", state.anime), (30, "CARTOON", state.cartoon)):
        draw_text(img, 2, top, label)
        _bar(img, 2, top + 9, bar_w, 7, value)
        _text_right(img, img.width - 2, top + 2, percent(value), scale=2)
    _text_center(img, 49, VERDICT_TEXT[state.verdict], scale=2)


def _bars_short(img: Image.Image, state: DisplayState) -> None:
    bar_x = 2 + text_width("C") + 3
    bar_w = img.width - bar_x - 3 - text_width("100%") - 2
    for top, label, value in ((1, "A", state.anime), (11, "C", state.cartoon)):
        draw_text(img, 2, top, label)
        _bar(img, bar_x, top, bar_w, 7, value)
        _text_right(img, img.width - 2, top, percent(value))
    _status_row(img, 22, state, middle=VERDICT_TEXT[state.verdict])


def _scale_for(img: Image.Image, text: str, max_scale: int) -> int:
    for scale in range(max_scale, 1, -1):
        if text_width(text, scale) <= img.width - 4:
            return scale
    return 1


def _verdict_tall(img: Image.Image, state: DisplayState) -> None:
    _status_row(img, 0, state)
    word = VERDICT_TEXT[state.verdict]
    scale = _scale_for(img, word, 3)
    _text_center(img, 14 + (3 - scale) * CAP_H // 2, word, scale=scale)
    _text_center(img, 48, f"A {percent(state.anime)}  C {percent(state.cartoon)}")


def _verdict_short(img: Image.Image, state: DisplayState) -> None:
    word = VERDICT_TEXT[state.verdict]
    scale = _scale_for(img, word, 2)
    _text_center(img, -1 + (2 - scale) * CAP_H // 2, word, scale=scale)
    _text_center(img, 14, f"A {percent(state.anime)}  C {percent(state.cartoon)}")
    _status_row(img, 23, state)


def _details(img: Image.Image, state: DisplayState) -> None:
    backend = {"edgetpu": "EDGE TPU", "cpu": "CPU", "": "NONE YET"}[state.backend]
    lines = [
        f"RUN {backend}",
        f"FPS {fps_text(state.fps)}" + ("  FROZEN" if state.frozen else ""),
        f"ANI {percent(state.anime)} CAR {percent(state.cartoon)}",
        f"SAYS {VERDICT_TEXT[state.verdict]}",
    ]
    rows = max(1, (img.height - 1) // 10)
    if rows < len(lines) + 1:  # short panel: the same facts, packed in two lines
        lines = [
            f"{BADGE_TEXT[state.backend]} {fps_text(state.fps)}FPS"
            + (" FROZEN" if state.frozen else ""),
            f"A{round(state.anime * 100)} C{round(state.cartoon * 100)} "
            + VERDICT_TEXT[state.verdict],
        ]
    free = rows - len(lines)
    lines += _wrap(state.message or "OK", img.width - 4, free)
    for i, line in enumerate(lines):
        draw_text(img, 2, 1 + i * 10, _fit(line, img.width - 4))


def _wrap(message: str, width_px: int, max_lines: int) -> list[str]:
    chars = max(1, (width_px + _GAP) // (_CELL_W + _GAP))
    lines = textwrap.wrap(message.upper(), chars, break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _fit(lines[-1] + "..", width_px)
    return lines


def _fault_box(img: Image.Image, top: int, bottom: int, message: str) -> None:
    """Inverted box ``top..bottom`` with a '!' and the message, wrapped, centred."""
    ImageDraw.Draw(img).rectangle((0, top, img.width - 1, bottom), fill=1)
    big = 2 if bottom - top >= 2 * CAP_H + 4 else 1
    draw_text(img, 1, (top + bottom + 1 - (CAP_H + 1) * big) // 2, "!", scale=big, fill=0)
    inner_x = 1 + text_width("!", big) + 2
    max_lines = max(1, (bottom - top - 1) // 9)
    lines = _wrap(message, img.width - inner_x - 3, max_lines)
    y = top + (bottom - top + 1 - (len(lines) * 9 - 2)) // 2
    for i, line in enumerate(lines):
        draw_text(img, inner_x, y + i * 9, line, fill=0)


def _fault(img: Image.Image, state: DisplayState) -> None:
    message = state.message or ""
    # a live reading under a notice keeps its verdict on screen: a Pi on its CPU model
    # shows "no TPU - on CPU" for 5 s a minute, and hid the verdict meanwhile
    verdict = VERDICT_TEXT.get(state.verdict, "") if state.live else ""
    a, c = round(state.anime * 100), round(state.cartoon * 100)
    if img.height >= 48:
        _status_row(img, 0, state)
        _fault_box(img, 11, 49, message)
        _text_center(img, 54, f"{verdict} A{a} C{c}" if verdict else
                     f"A {percent(state.anime)}  C {percent(state.cartoon)}")
    else:
        _fault_box(img, 0, 19, message)
        _status_row(img, 22, state, middle=verdict or f"A{a} C{c}")


def render(
    state: DisplayState,
    size: tuple[int, int] = (128, 64),
    *,
    view: int | None = None,
    offset: tuple[int, int] | None = None,
) -> Image.Image:
    """Draw ``state`` on a new mode-"1" image of ``size`` (width, height).

    ``view`` and ``offset`` default to the state's own; ``offset`` shifts the whole
    picture by a few pixels (burn-in care). The layouts use the whole panel, so while
    shifted, up to ``max_shift`` rows or columns at an edge are cut off (the status badge's
    top, a label's first column). A ``blank`` state gives a black image.
    """
    width, height = size
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        raise ConfigError(
            f"display size {width}x{height} is too small to draw on; "
            f"use at least {MIN_SIZE[0]}x{MIN_SIZE[1]} (128x64 or 128x32 panels)",
            key="display.width",
        )
    img = Image.new("1", size, 0)
    if state.blank:
        return img
    chosen = (state.view if view is None else view) % NUM_VIEWS
    tall = height >= 48
    if state.map_cells is not None and state.frozen and state.message is None and chosen == 0:
        from aoc.display.explain_view import draw_map  # imports this module

        draw_map(img, state)
    elif state.message is not None and chosen != 2:
        _fault(img, state)
    elif chosen == 0:
        (_bars_tall if tall else _bars_short)(img, state)
    elif chosen == 1:
        (_verdict_tall if tall else _verdict_short)(img, state)
    else:
        _details(img, state)
    dx, dy = state.offset if offset is None else offset
    if (dx, dy) != (0, 0):
        shifted = Image.new("1", size, 0)
        shifted.paste(img, (dx, dy))
        img = shifted
    return img


def to_text(img: Image.Image, on: str = "#", off: str = ".") -> str:
    """The image as lines of characters (for test failure messages and debugging)."""
    px = img.convert("1").load()
    return "\n".join(
        "".join(on if px[x, y] else off for x in range(img.width)) for y in range(img.height)
    )
