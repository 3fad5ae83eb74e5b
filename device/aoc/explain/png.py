"""Draw explanations (:mod:`aoc.explain.rise`) as PNGs: one picture's map, or a grid for reports.

Colours are diverging and signed: red where showing a region raises the class, blue where
it lowers it, the picture greyed where it does not matter, and darkened where the model
never saw it (a centre crop's trimmed sides). Full colour is the map's largest absolute
effect, written under it as ``+/-`` so maps can be compared. Text uses the display's bitmap
font (:func:`aoc.display.render.draw_text`), so the PNGs are pixel-exact across machines.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

from aoc.display.render import draw_text, text_width
from aoc.explain.rise import DEFAULT_BUDGET, Explanation, explain
from aoc.explain.summary import most_wrong

log = logging.getLogger(__name__)

RED = np.array((200, 20, 30), dtype=np.float32)
BLUE = np.array((20, 70, 200), dtype=np.float32)
INK = (0, 0, 0)
PAPER = (255, 255, 255)
LINE = 11  # pixels per text line at scale 1
MIN_WIDTH = 560  # room for the caption lines
EMPTY_TEXT = "No misclassified images: nothing to explain."


def fit_picture(picture: np.ndarray, side: int) -> np.ndarray:
    """``picture`` scaled to fit a ``side`` x ``side`` box (aspect kept, at least 1 px)."""
    h, w = picture.shape[:2]
    factor = side / max(w, h)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.BILINEAR))


def overlay(picture: np.ndarray, heat: np.ndarray, limit: float) -> np.ndarray:
    """``picture`` (uint8 ``(H, W, 3)``) greyed and tinted by ``heat`` (``(H, W)``, NaN =
    not seen, darkened): red for positive, blue for negative, full at ``+/-limit``."""
    grey = picture.astype(np.float32) @ np.array((0.299, 0.587, 0.114), dtype=np.float32)
    base = np.repeat((96.0 + grey * 0.6)[..., None], 3, axis=2)
    seen = ~np.isnan(heat)
    t = np.clip(np.where(seen, heat, 0.0) / max(limit, 1e-12), -1.0, 1.0)[..., None]
    tint = np.where(t > 0, RED, BLUE)
    alpha = 0.85 * np.abs(t) ** 0.8
    out = base * (1.0 - alpha) + tint * alpha
    out[~seen] = grey[~seen, None] * 0.3
    return np.rint(out).astype(np.uint8)


def _limit(maps: np.ndarray) -> float:
    return float(np.max(np.abs(maps))) if maps.size else 0.0


def _legend(img: Image.Image, x: int, y: int, width: int, limit: float) -> None:
    """A blue-grey-red colour bar with ``-limit`` and ``+limit`` at its ends."""
    ramp = np.linspace(-limit, limit, width, dtype=np.float32)[None, :].repeat(8, axis=0)
    bar = overlay(np.full((8, width, 3), 160, np.uint8), ramp, limit)
    img.paste(Image.fromarray(bar), (x, y))
    low, high = f"-{limit:.3f}", f"+{limit:.3f}"
    draw_text(img, x, y + 10, low, fill=INK)
    draw_text(img, x + width - text_width(high), y + 10, high, fill=INK)


def _clip_text(text: str, width: int, scale: int = 1) -> str:
    while len(text) > 1 and text_width(text, scale) > width:
        text = text[:-2] + "."
    return text


def _lines(img: Image.Image, x: int, y: int, lines: Sequence[str], width: int) -> int:
    for line in lines:
        draw_text(img, x, y, _clip_text(line, width), fill=INK)
        y += LINE
    return y


def explanation_image(
    picture: np.ndarray, expl: Explanation, *, name: str = "", panel: int = 320
) -> Image.Image:
    """The picture, its map for the top class, the other mapped classes' maps (small), the
    scores, the method and budget, and a colour legend, on one RGB image."""
    small = fit_picture(picture, panel)
    ph, pw = small.shape[:2]
    others = [c for c in expl.classes if c != expl.top][:4]
    tw, th = max(1, pw * 3 // 8), max(1, ph * 3 // 8)
    limit = _limit(expl.maps)
    width = max(3 * 8 + 2 * pw, MIN_WIDTH)
    height = 8 + 2 * LINE + 4 + ph + 6 + (LINE + th + LINE + 6 if others else 0) + 7 * LINE
    img = Image.new("RGB", (width, height), PAPER)
    top_label = expl.labels[expl.top]
    # the verdict first: a long file name is what gets cut, never the verdict
    verdict = f"{expl.scores[expl.top]:.1%} {top_label}"
    draw_text(img, 8, 6, _clip_text(f"{verdict}: {name}" if name else verdict, width - 16, 2),
              scale=2, fill=INK)
    y = 8 + 2 * LINE + 4
    img.paste(Image.fromarray(small), (8, y))
    heat = expl.on_image(expl.top, (pw, ph))
    img.paste(Image.fromarray(overlay(small, heat, limit)), (16 + pw, y))
    y += ph + 6
    if others:
        draw_text(img, 8, y, "the other classes' maps, same colour scale:", fill=INK)
        y += LINE
        tiny = np.asarray(Image.fromarray(small).resize((tw, th), Image.Resampling.BILINEAR))
        for i, c in enumerate(others):
            x = 8 + i * (tw + 8)
            if x + tw > width:
                break
            img.paste(Image.fromarray(overlay(tiny, expl.on_image(c, (tw, th)), limit)), (x, y))
            draw_text(img, x, y + th + 2, _clip_text(expl.labels[c], tw), fill=INK)
        y += th + LINE + 6
    best = sorted(range(len(expl.scores)), key=lambda i: -float(expl.scores[i]))[:5]
    scores = "  ".join(f"{expl.labels[i]} {expl.scores[i]:.1%}" for i in best)
    y = _lines(img, 8, y, [
        f"scores: {scores}",
        f"map of {top_label!r}: red = showing this part raises it, blue = lowers it",
        "(change in probability against grey there; darkened = not seen by the model)",
        f"{expl.describe()}; {expl.invocations} invocations, {expl.seconds:.1f} s",
    ], width - 16)
    _legend(img, 8, y + 4, min(256, width - 16), limit)
    return img


def explanation_png(
    picture: np.ndarray, expl: Explanation, path: str | os.PathLike[str], *, name: str = "",
    panel: int = 320,
) -> Path:
    """Write :func:`explanation_image` to ``path`` (PNG); returns the path."""
    path = Path(path)
    explanation_image(picture, expl, name=name, panel=panel).save(path, optimize=True)
    return path


class GridItem(NamedTuple):
    """One picture of a report grid: the picture, its true label, its explanation (holding
    the scores and the maps), an optional short name, and ``held_out``: what a model that
    never saw the picture said (``"80% anime"``), when the explaining model learnt from it."""

    image: np.ndarray
    true_label: str
    explanation: Explanation
    name: str = ""
    held_out: str = ""


class GridResult(NamedTuple):
    """What :func:`grid_png` wrote: the PNG, how many pictures, and a sentence for the
    report (the empty statement when there were none)."""

    path: Path
    count: int
    text: str


def _tile(item: GridItem, tile: int) -> Image.Image:
    expl = item.explanation
    small = fit_picture(item.image, tile)
    ph, pw = small.shape[:2]
    limit = _limit(expl.map_of(expl.top))
    said = expl.labels[expl.top]
    # held out and shipped can disagree: the shipped model learnt from this very picture
    lines = [f"true: {item.true_label}",
             *([f"held out: {item.held_out}"] if item.held_out else []),
             f"{'shipped' if item.held_out else 'said'}: {expl.scores[expl.top]:.0%} {said}",
             f"scale +/-{limit:.3f}", item.name]
    img = Image.new("RGB", (tile, tile + len(lines) * LINE + 2), PAPER)
    img.paste(Image.fromarray(overlay(small, expl.on_image(expl.top, (pw, ph)), limit)),
              ((tile - pw) // 2, (tile - ph) // 2))
    _lines(img, 0, tile + 2, lines, tile)
    return img


def grid_png(
    items: Sequence[GridItem | tuple[np.ndarray, str, Explanation]],
    path: str | os.PathLike[str],
    *,
    title: str = "Most confident mistakes",
    columns: int = 4,
    tile: int = 160,
    empty_text: str = EMPTY_TEXT,
) -> GridResult:
    """Draw ``items`` as a grid of maps (each for the class the model said) and write it.

    With no items the PNG holds ``title`` and ``empty_text``, which is also the returned
    ``text``; the report can print ``text`` either way.
    """
    path = Path(path)
    cells = [item if isinstance(item, GridItem) else GridItem(*item) for item in items]
    columns = max(1, min(columns, len(cells) or 1))
    head = 8 + 2 * LINE + 2 * LINE + 8
    tiles = [_tile(item, tile) for item in cells]
    tile_h = tiles[0].height if tiles else 0
    rows = -(-len(tiles) // columns)
    width = max(8 + columns * (tile + 8), 16 + text_width(empty_text),
                16 + text_width(title, 2), 320)
    height = head + rows * (tile_h + 8) + (2 * LINE if not tiles else 0) + 8
    img = Image.new("RGB", (width, height), PAPER)
    draw_text(img, 8, 6, _clip_text(title, width - 16, 2), scale=2, fill=INK)
    if tiles:
        text = f"{len(tiles)} pictures; red raises the class the model said, blue lowers it"
        if any(c.held_out for c in cells):
            text += "; maps: shipped model"
        _lines(img, 8, 8 + 2 * LINE, [text, f"method: {cells[0].explanation.describe()}"],
               width - 16)
        for i, t in enumerate(tiles):
            img.paste(t, (8 + (i % columns) * (tile + 8), head + (i // columns) * (tile_h + 8)))
    else:
        text = empty_text
        ImageDraw.Draw(img).rectangle((4, head - 6, width - 5, height - 5), outline=INK)
        _lines(img, 8, head, [empty_text], width - 16)
    img.save(path, optimize=True)
    log.info("wrote %s (%d pictures)", path, len(tiles))
    return GridResult(path, len(tiles), text)


def _frame(picture: np.ndarray | str | os.PathLike[str]) -> np.ndarray:
    if isinstance(picture, np.ndarray):
        return picture
    with Image.open(picture) as img:
        return np.asarray(img.convert("RGB"))


def mistakes_grid(
    classifier: object,
    pictures: Sequence[np.ndarray | str | os.PathLike[str]],
    truth: Sequence[int],
    scores: np.ndarray,
    path: str | os.PathLike[str],
    *,
    held_out: bool = False,
    per_class: int = 3,
    budget: int = DEFAULT_BUDGET,
    seed: int = 0,
    title: str = "Most confident mistakes",
    empty_text: str = EMPTY_TEXT,
    columns: int = 4,
) -> GridResult:
    """The report's grid in one call: pick the ``per_class`` most confident mistakes of each
    true class from ``scores`` (``(n, classes)``, e.g. the evaluation's), explain each
    picture through ``classifier`` and draw them with :func:`grid_png`.

    ``pictures`` are RGB arrays or image files (only the picked ones are read); names in the
    grid are the files' names. With no mistakes, the PNG and ``text`` say so. ``held_out``:
    ``scores`` come from models that never saw the pictures while ``classifier`` learnt from
    them, so each tile shows both verdicts.
    """
    labels = tuple(classifier.labels)  # type: ignore[attr-defined]
    items = []
    for i in most_wrong(truth, scores, per_class=per_class):
        picture = pictures[i]
        name = "" if isinstance(picture, np.ndarray) else Path(picture).name
        frame = _frame(picture)
        top = int(np.argmax(scores[i]))
        items.append(GridItem(frame, labels[truth[i]],
                              explain(classifier, frame, budget=budget, seed=seed), name,
                              f"{scores[i][top]:.0%} {labels[top]}" if held_out else ""))
    return grid_png(items, path, title=title, empty_text=empty_text, columns=columns)
