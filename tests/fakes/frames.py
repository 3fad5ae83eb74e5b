"""Small synthetic RGB frames shared by the resize and preprocessing tests."""

from __future__ import annotations

import numpy as np

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def striped(width: int, height: int) -> np.ndarray:
    """Left quarter red, middle half green, right quarter blue."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:, : width // 4] = RED
    frame[:, width // 4 : 3 * width // 4] = GREEN
    frame[:, 3 * width // 4 :] = BLUE
    return frame
