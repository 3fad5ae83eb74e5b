"""The :class:`Display` protocol and a base class giving every display its context manager."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aoc.display.state import DisplayState
from aoc.resource import Closing


@runtime_checkable
class Display(Protocol):
    """Something that shows :class:`DisplayState` frames.

    ``show`` may block (an I2C frame takes ~23 ms); wrap slow displays in
    :class:`aoc.display.threaded.ThreadedDisplay`. ``close`` is safe to call twice.
    A display whose picture is not the rendered bitmap (text) may also offer
    ``frame_key(state) -> Hashable``, which ThreadedDisplay compares instead of pixels.
    """

    size: tuple[int, int]

    def show(self, state: DisplayState) -> None:
        """Draw ``state``; may block for the time a frame takes to send."""

    def clear(self) -> None:
        """Blank the screen."""

    def close(self) -> None:
        """Release the screen (safe twice)."""


class BaseDisplay(Closing):
    """Context-manager plumbing shared by the concrete displays."""

    size: tuple[int, int] = (128, 64)

    def show(self, state: DisplayState) -> None:  # pragma: no cover - overridden
        """Draw ``state`` (every display overrides this)."""
        raise NotImplementedError

    def clear(self) -> None:  # pragma: no cover - overridden
        """Blank the screen (every display overrides this)."""
        raise NotImplementedError
