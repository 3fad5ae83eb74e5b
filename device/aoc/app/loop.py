"""The capture loop: newest frame -> classify -> smooth -> display, with per-stage timings.

:func:`run_loop` always asks the source for its newest frame (never a queue), times each
stage into a preallocated ring buffer (:mod:`aoc.app.loop_stats`; memory stays bounded over
months of running) and
calls :class:`LoopHook` objects (systemd notify, benchmarks, tests) at start, after each
classified frame, on every iteration and at stop. While the camera is down
(``source.read()`` returns ``None``) the last reading stays on screen with the fault
message, and hooks keep ticking so the watchdog is fed as long as the loop is alive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aoc.app.loop_stats import STAGES, LoopInfo, LoopStats, StageTimings
from aoc.app.smoothing import Smoother, ema_alpha
from aoc.errors import CameraError, InferenceError

__all__ = [
    "LoopControls",
    "LoopHook",
    "run_loop",
]

log = logging.getLogger(__name__)

_CAPTURE, _PRE, _INVOKE, _POST, _DISPLAY = range(len(STAGES))


class LoopHook(Protocol):
    """Something that follows the loop (sd_notify, stats recorders, tests).

    ``on_result(stats, first)`` runs after each classified frame (``first`` is True once,
    the moment to say READY); ``on_tick`` on every iteration, including while the camera
    is down or the reading is frozen. A hook that raises is logged and counted, never
    allowed to stop the loop.
    """

    def on_start(self, info: LoopInfo) -> None: ...

    def on_result(self, stats: LoopStats, first: bool) -> None: ...

    def on_tick(self, stats: LoopStats) -> None: ...

    def on_stop(self, stats: LoopStats) -> None: ...


class LoopControls:
    """Freeze and view state the buttons change (from gpiozero's threads) and the loop reads.

    Plain attribute writes are atomic under the GIL, so no lock is needed.
    """

    def __init__(self, *, views: int = 3) -> None:
        if views < 1:
            raise ValueError("LoopControls needs at least one view")
        self.views = views
        self.frozen = False
        self.view = 0

    def toggle_freeze(self) -> None:
        """Freeze the reading, or unfreeze it."""
        self.frozen = not self.frozen
        log.info("reading %s", "frozen" if self.frozen else "live")

    def next_view(self) -> None:
        """Show the next screen layout."""
        self.view = (self.view + 1) % self.views


def _display_state() -> Callable[..., Any]:
    from aoc.display.state import DisplayState  # display imports only numpy/Pillow

    return DisplayState


class _Hooks:
    """Calls every hook, logging (once per hook and method) and counting failures."""

    def __init__(self, hooks: Sequence[LoopHook], stats: LoopStats) -> None:
        # Bound methods looked up once, not on every frame.
        self._fns = {
            method: tuple((i, hook, fn) for i, hook in enumerate(hooks)
                          if (fn := getattr(hook, method, None)) is not None)
            for method in ("on_start", "on_result", "on_tick", "on_stop")
        }
        self._stats = stats
        self._failed: set[tuple[int, str]] = set()

    def call(self, method: str, *args: Any) -> None:
        for i, hook, fn in self._fns[method]:
            try:
                fn(*args)
            except Exception:  # a hook must never stop the appliance
                self._stats.faults["hook"] += 1
                if (i, method) not in self._failed:
                    self._failed.add((i, method))
                    log.exception("loop hook %r failed in %s; continuing", hook, method)


def run_loop(
    source: Any,
    classifier: Any,
    smoother: Smoother,
    display: Any,
    *,
    max_frames: int | None = None,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.perf_counter,
    hooks: Sequence[LoopHook] = (),
    health: Callable[[], str | None] | None = None,
    controls: LoopControls | None = None,
    idle_wait_s: float = 0.05,
    max_fps: float | None = None,
    fps_tau_s: float = 1.0,
    timings_capacity: int = 2048,
    state_factory: Callable[..., Any] | None = None,
    frozen_view: Any = None,
) -> LoopStats:
    """Run until ``stop`` is set, ``max_frames`` frames are classified or ``duration_s`` passes.

    ``source.read()`` returns the newest RGB frame or ``None`` (camera down; a raised
    :class:`CameraError` is treated the same). ``display`` has ``submit(state)`` (a
    :class:`~aoc.display.threaded.ThreadedDisplay`) or ``show(state)``. ``health`` returns
    an extra fault line (e.g. the display's) or ``None``. ``max_fps`` caps the rate by
    waiting on ``stop`` after a frame (a demo or video source would otherwise spin a core);
    a camera paces the loop itself. ``frozen_view`` (:class:`aoc.explain.live.FrozenMap`,
    or ``None`` for nothing at all) sees each classified frame and may add to the state
    while frozen. Returns the final stats.
    """
    min_interval = 1.0 / max_fps if max_fps else 0.0
    # Resolved once, not imported again on every frame.
    state_factory = state_factory if state_factory is not None else _display_state()
    stop = stop if stop is not None else threading.Event()
    controls = controls if controls is not None else LoopControls()
    submit = getattr(display, "submit", None) or display.show
    stats = LoopStats(
        backend=classifier.backend, reason=getattr(classifier, "reason", ""),
        timings=StageTimings(capacity=timings_capacity),
    )
    timings = stats.timings
    hooks_ = _Hooks(hooks, stats)
    animation_model = smoother.index.is_animation_model
    info = LoopInfo(
        backend=classifier.backend, reason=stats.reason, labels=tuple(classifier.labels),
        source=str(getattr(source, "name", type(source).__name__)),
        input_size=tuple(getattr(classifier, "input_size", (0, 0))),  # type: ignore[arg-type]
    )
    hooks_.call("on_start", info)

    def idle(state: Any, *, frozen: bool, message: str | None) -> Any:
        # No new reading (frozen, camera down, inference failed): refresh the screen's
        # message, keep the hooks ticking, wait a little.
        state = _update(state, frozen=frozen, view=controls.view, message=message)
        submit(state)
        hooks_.call("on_tick", stats)
        stop.wait(idle_wait_s)
        return state

    state = state_factory(anime=0.0, cartoon=0.0, verdict="uncertain",
                          backend=_backend(stats.backend), message="starting")
    camera_down = False
    interval = 0.0  # smoothed seconds between classified frames
    last_frame_t: float | None = None
    t0 = clock()
    try:
        while not stop.is_set():
            now = clock()
            stats.seconds = now - t0
            stats.iterations += 1
            if duration_s is not None and stats.seconds >= duration_s:
                break
            if max_frames is not None and stats.frames >= max_frames:
                break
            extra = health() if health is not None else None
            stats.display_fault = getattr(display, "fault", None)
            if controls.frozen:
                if frozen_view is not None:
                    state = frozen_view.on_frozen(state, classifier)
                state = idle(state, frozen=True, message=extra)
                continue

            t_a = clock()
            error: str | None = None
            try:
                frame = source.read()
            except CameraError as exc:
                frame, error = None, str(exc)
            t_b = clock()
            if frame is None:
                fault = error or getattr(source, "fault", None) or "camera: no frame - retrying"
                if not camera_down:
                    camera_down = True
                    stats.faults["camera"] += 1
                    log.warning("no frame from the source: %s", fault)
                stats.source_fault = fault
                state = idle(state, frozen=False, message=fault)
                continue
            if camera_down:
                camera_down = False
                stats.source_fault = None
                log.info("frames are back")

            try:
                classifier.preprocess(frame)
                t_c = clock()
                classifier.invoke()
                t_d = clock()
                scores = classifier.postprocess()
            except InferenceError as exc:
                timings.discard()
                stats.faults["inference"] += 1
                stats.classifier_fault = str(exc)
                log.warning("frame not classified: %s", exc)
                state = idle(state, frozen=False, message=str(exc))
                continue
            smoothed, verdict = smoother.update(scores, t_b)
            if frozen_view is not None:
                frozen_view.on_frame(frame)
            t_e = clock()

            if last_frame_t is not None:
                dt = t_b - last_frame_t
                alpha = ema_alpha(dt, fps_tau_s) if interval else 1.0
                interval += alpha * (dt - interval)
            last_frame_t = t_b
            stats.fps = 1.0 / interval if interval > 0 else 0.0
            if classifier.backend != stats.backend:  # a failover switched backends
                stats.backend = classifier.backend
                stats.reason = getattr(classifier, "reason", stats.reason)
            stats.classifier_fault = getattr(classifier, "fault", None)
            message = extra or stats.classifier_fault
            if message is None and not animation_model:
                message = f"{verdict.label} {verdict.confidence:.0%}"
            state = state_factory(
                anime=smoothed.anime, cartoon=smoothed.cartoon, verdict=verdict.state,
                backend=_backend(stats.backend), fps=stats.fps, frozen=False,
                view=controls.view, message=message,
            )
            submit(state)
            t_f = clock()

            timings.put(_CAPTURE, t_b - t_a)
            timings.put(_PRE, t_c - t_b)
            timings.put(_INVOKE, t_d - t_c)
            timings.put(_POST, t_e - t_d)
            timings.put(_DISPLAY, t_f - t_e)
            timings.commit()
            stats.frames += 1
            stats.verdict = verdict.state
            stats.anime, stats.cartoon = smoothed.anime, smoothed.cartoon
            stats.seconds = t_f - t0
            first = stats.first_result_s is None
            if first:
                stats.first_result_s = stats.seconds
            hooks_.call("on_result", stats, first)
            hooks_.call("on_tick", stats)
            if min_interval:
                rest = t_a + min_interval - clock()
                if rest > 0:
                    stop.wait(rest)
    finally:
        stats.seconds = clock() - t0
        stats.fps = stats.frames / stats.seconds if stats.seconds > 0 else 0.0
        stats.summarize()
        hooks_.call("on_stop", stats)
    return stats


def _backend(name: str) -> str:
    return name if name in ("edgetpu", "cpu") else ""


def _update(state: Any, *, frozen: bool, view: int, message: str | None) -> Any:
    """``state`` with these fields, reusing the same object when nothing changed."""
    if (state.frozen, state.view, state.message) == (frozen, view, message):
        return state
    return state.replace(frozen=frozen, view=view, message=message)
