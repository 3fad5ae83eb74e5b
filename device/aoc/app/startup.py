"""Settings no retry could fix, refused before anything is opened (exit 78): a source spec
that names nothing, an emulated display's path it cannot write. ``aoc run`` and
``aoc doctor`` both ask :func:`startup_checks`."""

from __future__ import annotations

import logging
from pathlib import Path

from aoc.app.host import Host
from aoc.config_sections import Config
from aoc.errors import ConfigError

log = logging.getLogger(__name__)


def startup_checks(config: Config, kind: str, *, host: Host | None = None) -> None:
    """Refuse, before anything is opened, settings that no retry could fix.

    ``camera.source`` must name a source (a typo would otherwise be retried forever as
    "camera lost"); the emulated display's ``display.path`` must be in an existing folder
    (it would otherwise fail on every frame). Raises :class:`~aoc.errors.ConfigError`.
    Under systemd a stream-URL source gets a warning: the unit forbids IP sockets.
    """
    from aoc.sources.opencv_source import is_stream_url
    from aoc.sources.source_spec import check_source_spec

    check_source_spec(config.camera.source)
    if host is not None and host.under_systemd and is_stream_url(config.camera.source.strip()):
        log.warning("camera.source is a stream URL, but the service unit forbids IP sockets "
                    "(RestrictAddressFamilies=AF_UNIX AF_NETLINK): it cannot connect unless a "
                    "drop-in allows it (`systemctl edit anime-or-cartoon`, see headless.md)")
    if kind == "emulated":
        _check_emulated_path(config.display.path)


def _check_emulated_path(path: str) -> None:
    """A ``display.path`` the emulated display can write: a .png or .gif file, a numbered
    .png template, or an existing folder, in a folder that exists."""
    forms = ("give a .png or .gif file name, a numbered template such as "
             "shots/f_{0:05}.png, or an existing folder")
    if not path.strip():
        raise ConfigError(f"display.path is empty; {forms}", key="display.path")
    target = Path(path).expanduser()
    if "{" in target.name:
        try:
            target.name.format(1)
        except (ValueError, IndexError, KeyError) as exc:
            raise ConfigError(f"display.path = {path!r} is not a template that numbers "
                              f"frames ({exc}); {forms}", key="display.path") from exc
    if not target.is_dir() and target.suffix.lower() not in (".png", ".gif"):
        raise ConfigError(f"display.path = {path!r} is not a .png or .gif file or an existing "
                          f"folder; {forms}",
                          key="display.path")
    if not target.parent.is_dir():
        raise ConfigError(
            f"display.path = {path!r}: folder {target.parent} does not exist; create it or "
            "pick a path in an existing folder", key="display.path")
    if target.is_dir() and target.suffix.lower() == ".gif":
        raise ConfigError(
            f"display.path = {path!r} is a folder; an animated GIF needs a file name (or "
            "give the folder without .gif for numbered PNG frames)", key="display.path")
