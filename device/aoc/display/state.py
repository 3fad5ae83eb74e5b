"""What the screen shows: one immutable :class:`DisplayState` per update.

The loop builds a state from the smoothed scores; the burn-in guard adds ``dim``,
``blank`` and ``offset``; every display (OLED, terminal, emulator) draws from it alone.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from aoc.errors import AocError

VERDICTS: tuple[str, ...] = ("anime", "cartoon", "both", "neither", "uncertain")
BACKENDS: tuple[str, ...] = ("edgetpu", "cpu", "")


class InvalidDisplayState(AocError, ValueError):
    """A :class:`DisplayState` field holds a value no display can draw."""


def _unit(name: str, value: float) -> float:
    """Clamp a score to [0, 1]; NaN is an error (it means a broken classifier)."""
    value = float(value)
    if math.isnan(value):
        raise InvalidDisplayState(
            f"DisplayState.{name} is NaN; pass smoothed probabilities in [0, 1]"
        )
    return min(1.0, max(0.0, value))


@dataclass(frozen=True)
class DisplayState:
    """Everything one frame of the screen depends on.

    ``anime`` and ``cartoon`` are smoothed probabilities (clamped to [0, 1]);
    ``verdict`` is one of :data:`VERDICTS`; ``backend`` is ``"edgetpu"``, ``"cpu"`` or
    ``""`` (not known yet); ``fps`` is the classification rate; ``frozen`` means the
    user froze the reading; ``view`` picks the layout (taken modulo the number of views);
    ``message`` is a fault/status line (``"camera lost - retrying"``) or ``None``;
    ``notice`` marks it as a lasting notice shown again (:mod:`aoc.app.notice`), which is
    no change in the scene for burn-in care; ``live`` says the reading under a message is
    current (a notice such as "no TPU - on CPU" while frames are classified), so the
    verdict shows with the message; a fault's last reading is not live.
    ``dim``, ``blank`` and ``offset`` come from :class:`aoc.display.burnin.BurnInGuard`.
    ``map_cells`` (8x8 signed effects, rows top to bottom) and ``map_label`` (the class
    they explain) are set only on a frozen reading with ``display.freeze_map`` on
    (:mod:`aoc.explain.live`).
    """

    anime: float
    cartoon: float
    verdict: str
    backend: str = ""
    fps: float = 0.0
    frozen: bool = False
    view: int = 0
    message: str | None = None
    notice: bool = False
    live: bool = False
    dim: bool = False
    blank: bool = False
    offset: tuple[int, int] = (0, 0)
    map_cells: tuple[tuple[float, ...], ...] | None = None
    map_label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "anime", _unit("anime", self.anime))
        object.__setattr__(self, "cartoon", _unit("cartoon", self.cartoon))
        if self.verdict not in VERDICTS:
            raise InvalidDisplayState(
                f"DisplayState.verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}"
            )
        if self.backend not in BACKENDS:
            raise InvalidDisplayState(
                f"DisplayState.backend {self.backend!r} is not 'edgetpu', 'cpu' or ''"
            )
        fps = float(self.fps)
        object.__setattr__(self, "fps", 0.0 if math.isnan(fps) or fps < 0 else fps)
        if self.message is not None and not self.message.strip():
            object.__setattr__(self, "message", None)
        dx, dy = self.offset
        object.__setattr__(self, "offset", (int(dx), int(dy)))

    def replace(self, **changes: object) -> DisplayState:
        """A copy with ``changes`` applied (validated like a new state)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


#: What the screen shows before the first classification.
STARTING = DisplayState(anime=0.0, cartoon=0.0, verdict="uncertain", message="starting")
