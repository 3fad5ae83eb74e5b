"""What the appliance shows: state, pure rendering, and the displays that draw it.

``open_display(kind, **opts)`` builds one display; adapters import their hardware
libraries only when built. Kinds: ``oled``, ``terminal``, ``emulated``, ``null``.
"""

from __future__ import annotations

from typing import Any

from aoc.config_sections import DISPLAY_KINDS
from aoc.display.base import Display
from aoc.display.render import NUM_VIEWS, render
from aoc.display.state import STARTING, VERDICTS, DisplayState, InvalidDisplayState
from aoc.errors import ConfigError

__all__ = [
    "NUM_VIEWS",
    "STARTING",
    "VERDICTS",
    "Display",
    "DisplayState",
    "InvalidDisplayState",
    "open_display",
    "render",
]


def open_display(kind: str, **opts: Any) -> Display:
    """A display of ``kind`` built with ``opts`` (its constructor's keyword arguments).

    ``oled``: :class:`~aoc.display.oled.OledDisplay` (``driver`` may be in ``opts``);
    ``terminal``: :class:`~aoc.display.terminal.TerminalDisplay`;
    ``emulated``: :class:`~aoc.display.emulated.EmulatedDisplay` (``path`` required);
    ``null``: :class:`~aoc.display.null.NullDisplay`.
    """
    if kind == "oled":
        from aoc.display.oled import OledDisplay

        return OledDisplay(**opts)
    if kind == "terminal":
        from aoc.display.terminal import TerminalDisplay

        return TerminalDisplay(**opts)
    if kind == "emulated":
        from aoc.display.emulated import EmulatedDisplay

        if "path" not in opts:
            raise ConfigError("display kind 'emulated' needs display.path (a .png or .gif)",
                              key="display.path")
        return EmulatedDisplay(**opts)
    if kind == "null":
        from aoc.display.null import NullDisplay

        return NullDisplay(**opts)
    raise ConfigError(
        f"display kind {kind!r} is unknown; use one of {', '.join(DISPLAY_KINDS)}",
        key="display.kind"
    )
