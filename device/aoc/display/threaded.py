"""Draw on a slow display from a thread of its own, so the capture loop never waits.

``submit`` drops the state in a single slot (latest wins) and returns. The drawing
thread renders it, shows it only when the picture (or dim/blank) changed (a display
with a ``frame_key(state)`` method decides that itself), at most
``max_fps`` times a second. A display with ``show_rendered(state, image)`` (the OLED) is
handed the picture rendered for that comparison, so each shown frame renders once.
When the display fails (I2C glitch, unplugged panel) the appliance keeps running
headless: the fault is logged once, exposed as ``fault``, and the display is reopened
(or retried) every ``retry_interval_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

from PIL import Image

from aoc.display.base import Display
from aoc.display.render import render
from aoc.display.state import DisplayState
from aoc.resource import Closing

log = logging.getLogger(__name__)

FAULT_LOST = "display lost"


class ThreadedDisplay(Closing):
    """Wraps a :class:`Display`; ``submit``/``show`` never block.

    ``reopen`` builds a fresh display after a failure (the broken one is closed); without
    it the same display is retried. ``clock`` measures the frame-rate cap and retry times;
    ``max_fps=0`` removes the cap. ``on_fault(fault)`` is called from the drawing thread
    when the display is lost (``"display lost"``) and when it is back (``None``), e.g. to
    blink the status LED.

    ``display=None`` starts headless, already lost (``lost_because`` says why): a panel
    that did not answer at start-up is retried like one lost later (``reopen`` and the
    panel's ``size`` are then needed).
    """

    def __init__(
        self,
        display: Display | None,
        *,
        size: tuple[int, int] | None = None,
        lost_because: str = "",
        max_fps: float = 10.0,
        retry_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        reopen: Callable[[], Display] | None = None,
        renderer: Callable[..., Image.Image] = render,
        join_timeout_s: float = 2.0,
        on_fault: Callable[[str | None], None] | None = None,
    ) -> None:
        if display is None and (reopen is None or size is None):
            raise ValueError("a ThreadedDisplay without a display needs reopen= and size=")
        self._display: Display | None = display
        self.size: tuple[int, int] = tuple(  # type: ignore[assignment]
            display.size if display is not None else size)
        self._min_interval = 1.0 / max_fps if max_fps and max_fps > 0 else 0.0
        self._retry_interval = retry_interval_s
        self._clock = clock
        self._reopen = reopen
        self._render = renderer
        self._join_timeout = join_timeout_s
        self._on_fault = on_fault
        self._lock = threading.Lock()
        self._slot: DisplayState | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._clear_requested = False
        self._closed = False
        self.fault: str | None = None  # FAULT_LOST while the display is failing
        self.last_error: str | None = None  # what the display raised, for logs and status
        self.frames_shown = 0
        self.errors = 0
        if display is None:
            self.errors = 1
            self._note(OSError(lost_because or "no display at start-up"))
        self._thread = threading.Thread(target=self._run, name="aoc-display", daemon=True)
        self._thread.start()

    @property
    def frame_interval_s(self) -> float:
        """The shortest time between two drawn frames (0 = no cap): of the states
        submitted within it only the newest is drawn, so the loop need not build the rest."""
        return self._min_interval

    # -- caller side -------------------------------------------------------------------
    def submit(self, state: DisplayState) -> None:
        """Hand over the newest state; an older one not yet drawn is dropped."""
        if self._closed:
            return
        with self._lock:
            self._slot = state
        self._wake.set()

    show = submit  # so a ThreadedDisplay is itself a Display

    def clear(self) -> None:
        """Ask the drawing thread to clear the panel."""
        with self._lock:
            self._clear_requested = True
            self._slot = None
        self._wake.set()

    def close(self) -> None:
        """Stop the thread (it clears and closes the display); safe twice."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join(self._join_timeout)
        if self._thread.is_alive():
            log.warning("display thread did not stop within %.1f s (display blocked?)",
                        self._join_timeout)

    # -- drawing thread ----------------------------------------------------------------
    def _run(self) -> None:
        current: DisplayState | None = None
        last_key: Hashable | None = None
        last_shown = float("-inf")
        next_retry = float("-inf")
        upkeep: float | None = None  # when the display's maintain() is due next
        # reopened (or kept) after a fault, and waiting for a picture that proves it: no
        # more retries meanwhile (a panel back before the first state was reopened in a
        # tight loop, each copy left open)
        recovered = False
        while not self._stop.is_set():
            timeout = None
            if self.fault is not None and not recovered:
                timeout = max(0.0, next_retry - self._clock())
            elif upkeep is not None:
                timeout = max(0.0, upkeep - self._clock())
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stop.is_set():
                break
            with self._lock:
                fresh = self._slot is not None
                if fresh:
                    current, self._slot = self._slot, None
                clear, self._clear_requested = self._clear_requested, False
            if self.fault is not None and not recovered:
                if self._clock() < next_retry:
                    continue
                if not self._recover():
                    next_retry = self._clock() + self._retry_interval
                    continue
                recovered = True
                last_key = None  # the panel may show anything after a reconnect
            display = self._display
            if display is None:  # pragma: no cover - _recover guarantees one
                continue
            try:
                if upkeep is not None and self._clock() >= upkeep:
                    upkeep = self._maintain(display)
                if clear:
                    display.clear()
                    last_key = None
                    self._back()
                    if not fresh:  # a state submitted after the clear is still drawn
                        current = None
                        continue
                if current is None:
                    continue
                key, image = self._frame_key(display, current)
                if key == last_key:
                    continue
                wait = self._min_interval - (self._clock() - last_shown)
                if wait > 0:
                    if self._stop.wait(wait):
                        break
                    self._wake.set()  # go round again: a newer state may have come meanwhile
                    continue
                show_rendered = getattr(display, "show_rendered", None)
                if image is not None and show_rendered is not None:
                    show_rendered(current, image)
                else:
                    display.show(current)
                last_key, last_shown = key, self._clock()
                self.frames_shown += 1
                upkeep = self._maintain(display)
                self._back()
            except OSError as exc:  # DisplayError is an OSError, and so are raw I2C errors
                recovered = False
                self._lose(exc)
                next_retry = self._clock() + self._retry_interval
                last_key, upkeep = None, None
            except Exception:  # a bug in rendering must not end the thread silently
                log.exception("drawing %r failed; skipping this state", current)
                # no upkeep until the next picture: a maintain() that fails would be called
                # again at once, for good (a core pegged, the log flooded)
                last_key, current, upkeep = None, None, None
        self._shutdown()

    def _maintain(self, display: Display) -> float | None:
        """The display's ``maintain()`` (a due full refresh of an unchanged picture, see
        :meth:`aoc.display.oled.OledDisplay.maintain`), if it has one -> when to call it
        next (``None``: not until another picture is drawn)."""
        maintain = getattr(display, "maintain", None)
        wait = maintain() if maintain is not None else None
        return None if wait is None else self._clock() + wait

    def _frame_key(
        self, display: Display, state: DisplayState
    ) -> tuple[Hashable, Image.Image | None]:
        """What must differ for a state to be worth drawing: the display's own
        ``frame_key(state)`` if it has one (text displays), else the rendered pixels,
        rendered by the display's own ``renderer`` when it has one; and that picture."""
        own = getattr(display, "frame_key", None)
        if own is not None:
            return own(state), None
        renderer = getattr(display, "renderer", None) or self._render
        image = renderer(state, self.size)
        return (image.tobytes(), state.dim, state.blank), image

    def _lose(self, exc: OSError) -> None:
        self.errors += 1
        self._note(exc)
        if self._reopen is not None and self._display is not None:
            broken, self._display = self._display, None
            try:
                broken.close()
            except OSError as close_exc:
                log.debug("closing the failed display: %s", close_exc)

    def _note(self, exc: OSError) -> None:
        """Set the fault; log only when the error differs from the last one logged."""
        detail = str(exc)
        if detail != self.last_error:
            log.error("%s (%s); running headless, retrying every %.0f s",
                      FAULT_LOST, detail, self._retry_interval)
        was, self.fault, self.last_error = self.fault, FAULT_LOST, detail
        if was is None:
            self._notify(FAULT_LOST)

    def _back(self) -> None:
        if self.fault is None:
            return
        log.info("display is back")
        self.fault, self.last_error = None, None
        self._notify(None)

    def _notify(self, fault: str | None) -> None:
        if self._on_fault is None:
            return
        try:
            self._on_fault(fault)
        except Exception:  # the caller's hook must not stop the drawing thread
            log.exception("on_fault handler failed")

    def _recover(self) -> bool:
        """Reopen (or keep) the display; True when drawing may be tried again."""
        if self._reopen is None:
            return True  # retry the same display with the next show
        try:
            self._display = self._reopen()
        except OSError as exc:
            self.errors += 1
            self._note(exc)
            return False
        except Exception as exc:  # noqa: BLE001 - an escape would end this thread for good
            # the I2C path raises DisplayError (an OSError); SPI's GPIO libraries raise their
            # own types. Whatever it is, the panel is still lost: keep retrying
            self.errors += 1
            self._note(OSError(f"{type(exc).__name__}: {exc}"))
            return False
        self.size = tuple(self._display.size)  # type: ignore[assignment]
        return True

    def _shutdown(self) -> None:
        display, self._display = self._display, None
        if display is None:
            return
        try:
            display.clear()
        except OSError as exc:
            log.debug("clearing the display at close: %s", exc)
        try:
            display.close()
        except OSError as exc:
            log.warning("closing the display: %s", exc)
