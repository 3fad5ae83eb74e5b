"""A config for running the app in tests: the demo source, no display, no buttons."""

from __future__ import annotations

from aoc.config import config_from_dict
from aoc.config_sections import Config


def make_config(**sections) -> Config:
    """The demo source, the null display and no buttons, with ``sections`` merged over."""
    base = {"camera": {"source": "demo"}, "display": {"kind": "null"},
            "controls": {"enabled": False}}
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return config_from_dict(base)
