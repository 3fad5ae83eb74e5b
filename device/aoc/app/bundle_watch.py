"""A watch for a configured model that was missing at start-up.

With ``[model] fallback`` on, a configured bundle that is not there when the appliance
starts (a USB drive or a network share that mounts a little later) is replaced by the last
good or the packaged default, and was never looked at again: months on the wrong model
after one slow boot. :class:`ConfiguredModelWatch` looks for it at the first frame and
then once a minute (on the loop's thread: a share whose ``stat`` hangs would hold the loop,
as it would hold any reader of it); once it is there on two checks in a row, it ends the
run and ``aoc run`` exits with 75 (``EX_TEMPFAIL``), so that systemd starts the appliance
afresh (``Restart=always``) and it loads the configured model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aoc.app.restart_check import RestartCheck

log = logging.getLogger(__name__)

CHECK_EVERY_S = 60.0


def model_file_of(path: Path, *, bare: bool) -> Path:
    """The file whose arrival means the configured model is there: a bundle's manifest, or
    the bare model file itself."""
    return path if bare else path / "manifest.json"


def is_there(path: Path) -> bool:
    """Whether ``path`` is a regular file now (any error reading it: not yet)."""
    try:
        return path.is_file()
    except OSError:
        return False


class ConfiguredModelWatch(RestartCheck):
    """LoopHook: ends the run (sets ``stop``) once ``watched``, missing at start-up, is
    there on two checks in a row; ``tripped`` then says why. The first check is on the
    first tick (it may have appeared while the rest started), then at most every
    ``every_s`` seconds of ``clock``; two checks, so that a bundle still being copied (its
    manifest first) is not loaded half-way and then never looked at again."""

    level = logging.WARNING  # good news, not a fault

    def __init__(self, stop: threading.Event, watched: Path, *,
                 every_s: float = CHECK_EVERY_S,
                 exists: Callable[[Path], bool] = is_there,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(stop, every_s=every_s, clock=clock)
        self.watched = watched
        self._exists = exists
        self._seen = False

    def check(self) -> str | None:
        """Look for the configured model: a reason once it is there a second time."""
        seen_before, self._seen = self._seen, self._exists(self.watched)
        if not (seen_before and self._seen):
            return None
        return (f"the configured model appeared ({self.watched}); restarting the appliance "
                "to load it")


def watch_configured_model(stop: threading.Event, model: Any, selection: Any
                           ) -> ConfiguredModelWatch | None:
    """The watch for ``[model]``'s configured bundle or model when ``selection`` runs
    another one because the configured one was missing (``selection.missing``); ``None``
    otherwise (nothing configured, the configured one runs, or it was there but broken: a
    restart would not mend it)."""
    from aoc.inference.model_select import CONFIGURED

    configured = model.model or model.bundle
    if not configured or not any(c.kind == CONFIGURED for c in selection.missing):
        return None
    watched = model_file_of(Path(configured).expanduser(), bare=bool(model.model))
    log.info("watching for the configured model %s (missing at start-up)", watched)
    return ConfiguredModelWatch(stop, watched, every_s=CHECK_EVERY_S, exists=is_there)
