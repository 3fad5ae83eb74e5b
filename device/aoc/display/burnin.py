"""Burn-in care for OLEDs: shift the picture a pixel at a time, dim, then blank when idle.

An OLED showing the same pixels for hours ages them unevenly. :class:`BurnInGuard`
walks the picture around a small square (one pixel per step, so nothing jumps),
dims the panel after ``dim_after_s`` without a scene change and switches it off after
``blank_after_s``; any change in the scene (scores moving by ``change_threshold`` or
more, a new verdict, view, message or freeze) wakes it at once. Pure: time comes from
``clock``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import NamedTuple

from aoc.display.state import DisplayState
from aoc.errors import ConfigError

_DIGITS = re.compile(r"\d+")


class BurnInAction(NamedTuple):
    """What the display should do now: shift by ``offset``, ``dim``, ``blank``."""

    offset: tuple[int, int]
    dim: bool
    blank: bool


def shift_path(max_shift: int) -> tuple[tuple[int, int], ...]:
    """Offsets within +-``max_shift`` visited in order; neighbours differ by <= 1 px per axis.

    x sweeps 0 -> +m -> -m -> 0 (a triangle wave); y takes its next value of the same
    wave each time x completes a sweep, so no step moves more than one pixel per axis.
    """
    if max_shift <= 0:
        return ((0, 0),)
    wave = [*range(0, max_shift), *range(max_shift, -max_shift, -1), *range(-max_shift, 0)]
    return tuple((x, y) for y in wave for x in wave)


def _message_key(state: DisplayState) -> str | None:
    """What of the message is a change in the scene: nothing of a notice shown again
    (every minute, it would keep the panel from ever dimming), and of other lines their
    words, not their numbers (a bare model's "comic book 70%" moving by a point, a
    "retrying in 5 s" countdown)."""
    if state.notice or state.message is None:
        return None
    return _DIGITS.sub("#", state.message)


class BurnInGuard:
    """Turns a stream of states into burn-in actions (see module docstring).

    ``dim_after_s`` / ``blank_after_s`` of ``None`` (or 0) turn dimming / blanking off;
    ``shift_every_s`` of ``None`` (or 0) turns the pixel shift off.
    """

    def __init__(
        self,
        *,
        shift_every_s: float | None = 60.0,
        max_shift: int = 2,
        dim_after_s: float | None = 300.0,
        blank_after_s: float | None = 1800.0,
        change_threshold: float = 0.03,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_shift < 0 or max_shift > 8:
            raise ConfigError(
                f"display.max_shift {max_shift} is out of range; use 0..8 pixels",
                key="display.max_shift",
            )
        if not 0.0 <= change_threshold <= 1.0:
            raise ConfigError(
                f"display.change_threshold {change_threshold} is out of range; use 0..1",
                key="display.change_threshold",
            )
        if dim_after_s and blank_after_s and blank_after_s < dim_after_s:
            raise ConfigError(
                f"display.blank_after_s ({blank_after_s}) is shorter than display.dim_after_s "
                f"({dim_after_s}); blank after dimming, or set dim_after_s to 0",
                key="display.blank_after_s",
            )
        self._shift_every = shift_every_s or 0.0
        self._path = shift_path(max_shift if self._shift_every else 0)
        self._dim_after = dim_after_s or 0.0
        self._blank_after = blank_after_s or 0.0
        self._threshold = change_threshold
        self._clock = clock
        self._start = clock()
        self._last_change = self._start
        self._reference: DisplayState | None = None

    def _changed(self, state: DisplayState) -> bool:
        ref = self._reference
        if ref is None:
            return True
        moved = max(abs(state.anime - ref.anime), abs(state.cartoon - ref.cartoon))
        return moved >= self._threshold or (
            (state.verdict, state.view, _message_key(state), state.frozen, state.backend)
            != (ref.verdict, ref.view, _message_key(ref), ref.frozen, ref.backend)
        )

    def wake(self) -> None:
        """Count now as a scene change (e.g. a button was pressed)."""
        self._last_change = self._clock()

    def update(self, state: DisplayState) -> BurnInAction:
        """The action for ``state`` at the current time."""
        now = self._clock()
        if self._changed(state):
            # The reference moves only on a real change, so a slow drift below the
            # threshold per frame still adds up to a change eventually.
            self._reference = state
            self._last_change = now
        idle = now - self._last_change
        step = int((now - self._start) // self._shift_every) if self._shift_every else 0
        return BurnInAction(
            offset=self._path[step % len(self._path)],
            dim=bool(self._dim_after) and idle >= self._dim_after,
            blank=bool(self._blank_after) and idle >= self._blank_after,
        )

    def apply(self, state: DisplayState) -> DisplayState:
        """``state`` with this moment's offset, dim and blank filled in."""
        action = self.update(state)
        return state.replace(offset=action.offset, dim=action.dim, blank=action.blank)
