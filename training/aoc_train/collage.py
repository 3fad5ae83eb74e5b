"""Collages of pictures from one source, so that framing cannot stand in for style.

The training data confounds style with framing: half the anime images are single tight
face crops, while cartoon images are mostly whole episode frames with small figures. A model
can learn "one big face means anime" and "a busy scene means cartoon", and then call an anime
wallpaper or screenshot a cartoon. A collage puts pictures of one source together (a small
picture over another as background, two halves, a 2x2 grid), so that every class is also
seen as a scene of several small subjects. The pictures come from the same source, so the
label is unchanged and no held-out source can leak into training views.

Pure functions over ``(H, W, 3)`` uint8 arrays with a :class:`numpy.random.Generator`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import augment

Array = np.ndarray
LAYOUTS = ("inset", "pair", "grid")


def collage(images: Sequence[Array], rng: np.random.Generator, side: int, *,
            layout: str | None = None) -> Array:
    """A ``side`` x ``side`` collage that always contains ``images[0]``.

    ``layout`` (default: chosen by ``rng``) is one of :data:`LAYOUTS`:

    * ``inset``: ``images[0]`` at 35-60 % of the side, somewhere over ``images[1]``;
    * ``pair``: two halves, side by side or one above the other;
    * ``grid``: 2x2 tiles.

    With fewer pictures than a layout has places, pictures repeat (as other random crops).
    """
    if not len(images):
        raise ValueError("collage needs at least one image")
    if layout is None:
        layout = LAYOUTS[int(rng.integers(len(LAYOUTS)))]
    if layout not in LAYOUTS:
        raise ValueError(f"unknown collage layout {layout!r}; use one of {LAYOUTS}")

    def pick(i: int) -> Array:
        return images[i % len(images)]

    canvas = np.empty((side, side, 3), np.uint8)
    if layout == "inset":
        canvas[:] = augment.random_tile(pick(1), rng, (side, side))
        t = int(round(side * rng.uniform(0.35, 0.6)))
        top, left = int(rng.integers(0, side - t + 1)), int(rng.integers(0, side - t + 1))
        canvas[top:top + t, left:left + t] = augment.random_tile(pick(0), rng, (t, t),
                                                         scale=(0.5, 1.0))
    elif layout == "pair":
        half = side // 2
        order = [0, 1] if rng.random() < 0.5 else [1, 0]
        if rng.random() < 0.5:  # side by side
            canvas[:, :half] = augment.random_tile(pick(order[0]), rng, (half, side))
            canvas[:, half:] = augment.random_tile(pick(order[1]), rng, (side - half, side))
        else:
            canvas[:half] = augment.random_tile(pick(order[0]), rng, (side, half))
            canvas[half:] = augment.random_tile(pick(order[1]), rng, (side, side - half))
    else:
        half = side // 2
        slots = rng.permutation(4)
        for i, slot in enumerate(slots):
            r, c = divmod(int(slot), 2)
            y0, y1 = (0, half) if r == 0 else (half, side)
            x0, x1 = (0, half) if c == 0 else (half, side)
            canvas[y0:y1, x0:x1] = augment.random_tile(pick(i), rng, (x1 - x0, y1 - y0),
                                               scale=(0.5, 1.0))
    return canvas
