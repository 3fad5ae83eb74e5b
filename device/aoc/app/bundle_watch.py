"""A watch for a configured model that was missing at start-up.

With ``[model] fallback`` on, a configured bundle that is not there when the appliance
starts (a USB drive or a network share that mounts a little later) is replaced by the last
good or the packaged default, and was never looked at again: months on the wrong model
after one slow boot. :class:`ConfiguredModelWatch` looks for it once a minute; once it is
there, it ends the run and ``aoc run`` exits with 75 (``EX_TEMPFAIL``), so that systemd
starts the appliance afresh (``Restart=always``) and it loads the configured model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


class ConfiguredModelWatch:
    """LoopHook: ends the run (sets ``stop``) when ``watched``, missing at start-up, appears;
    ``tripped`` then says why. Checks at most every ``every_s`` seconds of ``clock``, on
    any tick."""

    def __init__(self, stop: threading.Event, watched: Path, *,
                 every_s: float = CHECK_EVERY_S,
                 exists: Callable[[Path], bool] = is_there,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stop = stop
        self.watched = watched
        self._every_s = every_s
        self._exists = exists
        self._clock = clock
        self._next = clock() + every_s
        self.tripped: str | None = None

    def on_tick(self, stats: Any) -> None:
        """Look for the configured model when a check is due."""
        now = self._clock()
        if now < self._next or self.tripped is not None:
            return
        self._next = now + self._every_s
        if not self._exists(self.watched):
            return
        self.tripped = (f"the configured model appeared ({self.watched}); restarting the "
                        "appliance to load it")
        log.warning("%s", self.tripped)
        self._stop.set()


def watch_configured_model(stop: threading.Event, model: Any, selection: Any
                           ) -> ConfiguredModelWatch | None:
    """The watch for ``[model]``'s configured bundle or model when ``selection`` runs
    another one because the configured one was missing; ``None`` otherwise (nothing
    configured, the configured one runs, or it is there but broken: a restart would not
    mend it)."""
    from aoc.inference.model_select import CONFIGURED

    configured = model.model or model.bundle
    if not configured or selection.candidate.kind == CONFIGURED:
        return None
    watched = model_file_of(Path(configured).expanduser(), bare=bool(model.model))
    if is_there(watched):
        return None
    log.info("watching for the configured model %s (missing at start-up)", watched)
    return ConfiguredModelWatch(stop, watched, every_s=CHECK_EVERY_S, exists=is_there)
