"""A display that shows nothing: for headless runs and tests."""

from __future__ import annotations

from aoc.display.base import BaseDisplay
from aoc.display.state import DisplayState


class NullDisplay(BaseDisplay):
    """Accepts every state and draws nothing; remembers the last state shown."""

    def __init__(self, *, width: int = 128, height: int = 64) -> None:
        self.size = (width, height)
        self.last: DisplayState | None = None
        self.shown = 0
        self.closed = False

    def show(self, state: DisplayState) -> None:
        """Record ``state`` (no drawing)."""
        self.last = state
        self.shown += 1

    def clear(self) -> None:
        """Forget the last state."""
        self.last = None

    def close(self) -> None:
        """Mark closed; safe twice."""
        self.closed = True
