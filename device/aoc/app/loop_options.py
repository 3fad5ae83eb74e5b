"""What :func:`aoc.app.loop.run_loop` is told: its options (when to stop, how fast, who
follows it) and the controls the buttons change while it runs (freeze, view)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aoc.app.loop_hooks import LoopHook

log = logging.getLogger(__name__)


class LoopControls:
    """Freeze and view state the buttons change (from gpiozero's threads) and the loop reads.

    Plain attribute writes are atomic under the GIL, so no lock is needed.
    """

    def __init__(self, *, views: int = 3, freeze_timeout_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if views < 1:
            raise ValueError("LoopControls needs at least one view")
        self.views = views
        self.frozen = False
        self.view = 0
        self.freeze_timeout_s = freeze_timeout_s
        self._clock = clock
        self._frozen_at = 0.0

    def toggle_freeze(self) -> None:
        """Freeze the reading, or unfreeze it."""
        self._frozen_at = self._clock()
        self.frozen = not self.frozen
        log.info("reading %s", "frozen" if self.frozen else "live")

    def thaw_if_due(self) -> bool:
        """Unfreeze a reading frozen for ``freeze_timeout_s`` (0: never); True when it did.

        A visitor who froze the exhibit and walked on left it frozen for the next ones,
        then dimmed and blanked for want of change, until someone pressed the button.
        """
        if not (self.frozen and self.freeze_timeout_s > 0):
            return False
        if self._clock() - self._frozen_at < self.freeze_timeout_s:
            return False
        self.frozen = False
        log.info("reading live again after %.0f s frozen", self.freeze_timeout_s)
        return True

    def next_view(self) -> None:
        """Show the next screen layout."""
        self.view = (self.view + 1) % self.views


@dataclass(frozen=True)
class LoopOptions:
    """How :func:`run_loop` runs: when it stops, how fast, and who follows it.

    ``max_frames`` / ``duration_s`` end the run (``stop`` too, from any thread); ``clock``
    is injectable for tests. ``hooks`` follow the loop (:class:`LoopHook`); ``health``
    returns an extra fault line (e.g. the display's) or ``None``. ``max_fps`` caps the rate
    by waiting on ``stop`` after a frame (a demo or image-folder source would otherwise
    spin a core); a camera or a video file paces the loop itself. ``idle_wait_s`` is the
    wait when there is no new reading. ``frozen_view``
    (:class:`aoc.explain.live.FrozenMap`, or ``None``) sees each classified frame and may
    add to the state while frozen. ``display_interval_s``:
    a new reading is built and submitted about this often (less half a frame; a new
    verdict and the first reading after an idle step at once; the newest reading always
    before an idle step and at the end); ``None`` takes the display's own
    ``frame_interval_s`` (a :class:`~aoc.display.threaded.ThreadedDisplay` draws no
    faster), else every frame. A notice (``health``'s line or the classifier's ``fault``
    while readings still come: on the CPU, the demo, a fallback model) takes the screen
    for ``notice_show_s`` when it appears and again every ``notice_every_s``
    (:mod:`aoc.app.notice`); the reading shows in between.
    """

    max_frames: int | None = None
    duration_s: float | None = None
    stop: threading.Event | None = None
    clock: Callable[[], float] = time.perf_counter
    hooks: Sequence[LoopHook] = ()
    health: Callable[[], str | None] | None = None
    controls: LoopControls | None = None
    idle_wait_s: float = 0.05
    max_fps: float | None = None
    fps_tau_s: float = 1.0
    timings_capacity: int = 2048
    state_factory: Callable[..., Any] | None = None
    frozen_view: Any = None
    display_interval_s: float | None = None
    notice_show_s: float = 5.0
    notice_every_s: float = 60.0
