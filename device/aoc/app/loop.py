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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aoc.app.loop_hooks import HookCaller, LoopHook
from aoc.app.loop_options import LoopControls, LoopOptions
from aoc.app.loop_stats import STAGES, LoopInfo, LoopStats, StageTimings
from aoc.app.notice import NoticeTimer
from aoc.app.smoothing import Smoother, ema_alpha
from aoc.errors import CameraError, InferenceError

if TYPE_CHECKING:
    from aoc.display.base import Display
    from aoc.inference.failover import ClassifierLike
    from aoc.sources.base import FrameSource

__all__ = [
    "LoopControls",
    "LoopHook",
    "LoopOptions",
    "run_loop",
]

log = logging.getLogger(__name__)

_CAPTURE, _PRE, _INVOKE, _POST, _DISPLAY = range(len(STAGES))


def _display_state() -> Callable[..., Any]:
    from aoc.display.state import DisplayState  # display imports only numpy/Pillow

    return DisplayState


def run_loop(
    source: FrameSource,
    classifier: ClassifierLike,
    smoother: Smoother,
    display: Display,
    options: LoopOptions | None = None,
    **option_fields: Any,
) -> LoopStats:
    """Run until ``stop`` is set, ``max_frames`` frames are classified or ``duration_s`` passes.

    ``source.read()`` returns the newest RGB frame or ``None`` (camera down; a raised
    :class:`CameraError` is treated the same). ``display`` has ``submit(state)`` (a
    :class:`~aoc.display.threaded.ThreadedDisplay`) or ``show(state)``. The options are a
    :class:`LoopOptions`, or its fields as keywords. Returns the final stats.
    """
    if options is None:
        options = LoopOptions(**option_fields)
    elif option_fields:
        raise TypeError("run_loop takes a LoopOptions or its fields as keywords, not both")
    return _Loop(source, classifier, smoother, display, options).run()


class _Loop:
    """One run of the loop: the frame step, the idle step, and what they share."""

    def __init__(self, source: FrameSource, classifier: ClassifierLike, smoother: Smoother,
                 display: Display, options: LoopOptions) -> None:
        self.source, self.classifier, self.smoother = source, classifier, smoother
        self.display, self.opt = display, options
        self.clock = options.clock
        self.min_interval = 1.0 / options.max_fps if options.max_fps else 0.0
        # Resolved once, not imported again on every frame.
        self.state_factory = options.state_factory or _display_state()
        self.stop = options.stop if options.stop is not None else threading.Event()
        self.controls = options.controls if options.controls is not None else LoopControls()
        self.submit = getattr(display, "submit", None) or display.show
        interval = options.display_interval_s
        if interval is None:
            interval = getattr(display, "frame_interval_s", 0.0)
        # a state the display would drop unseen is not built: at 200 fps on a 10 fps
        # display that is 19 frames in 20 (``aoc bench``: tens of microseconds a frame)
        self.display_interval = float(interval or 0.0)
        self.last_submit_t = float("-inf")
        self.pending: tuple[Any, Any, str | None] | None = None  # reading not yet submitted
        self.notice = NoticeTimer(show_s=options.notice_show_s, every_s=options.notice_every_s)
        self.stats = LoopStats(
            backend=classifier.backend, reason=getattr(classifier, "reason", ""),
            timings=StageTimings(capacity=options.timings_capacity),
        )
        self.hooks = HookCaller(options.hooks, self.stats)
        self.animation_model = smoother.index.is_animation_model
        self.state = self.state_factory(anime=0.0, cartoon=0.0, verdict="uncertain",
                                        backend=_backend(self.stats.backend), message="starting")
        self.camera_down = False
        self.reading_line: str | None = None  # a bare model's label line, kept while frozen
        self.interval = 0.0  # smoothed seconds between classified frames
        self.last_frame_t: float | None = None
        self.t0 = 0.0

    def run(self) -> LoopStats:
        stats, clf, opt = self.stats, self.classifier, self.opt
        self.hooks.call("on_start", LoopInfo(
            backend=clf.backend, reason=stats.reason, labels=tuple(clf.labels),
            source=str(getattr(self.source, "name", type(self.source).__name__)),
            input_size=tuple(getattr(clf, "input_size", (0, 0))),  # type: ignore[arg-type]
        ))
        self.t0 = self.clock()
        try:
            while not self.stop.is_set():
                stats.seconds = self.clock() - self.t0
                stats.iterations += 1
                if opt.duration_s is not None and stats.seconds >= opt.duration_s:
                    break
                if opt.max_frames is not None and stats.frames >= opt.max_frames:
                    break
                extra = opt.health() if opt.health is not None else None
                stats.display_fault = getattr(self.display, "fault", None)
                self.controls.thaw_if_due()
                if self.controls.frozen:
                    self._flush()  # the reading frozen is the newest one
                    if opt.frozen_view is not None:
                        self.state = opt.frozen_view.on_frozen(self.state, clf)
                    # a notice due now, else the reading's own line (a bare model's label)
                    notice = self.notice(extra, self.clock())
                    self.idle(frozen=True, message=notice or self.reading_line,
                              notice=self.notice.repeating)
                    continue
                self.frame_step(extra)
        finally:
            self._flush()
            stats.seconds = self.clock() - self.t0
            stats.fps = stats.frames / stats.seconds if stats.seconds > 0 else 0.0
            stats.summarize()
            self.hooks.call("on_stop", stats)
        return stats

    def idle(self, *, frozen: bool, message: str | None, notice: bool = False) -> None:
        """No new reading (frozen, camera down, inference failed): refresh the screen's
        message, keep the hooks ticking, wait a little."""
        self._flush()
        # no frames meanwhile: the rate restarts with the next one, and shows 0 until then
        # (a 2-minute outage made the first seconds after it read 0.01 ... 7 fps)
        self.last_frame_t, self.interval, self.stats.fps = None, 0.0, 0.0
        self.state = _update(self.state, frozen=frozen, view=self.controls.view, message=message,
                             notice=notice)
        self.submit(self.state)
        self.last_submit_t = float("-inf")  # the next reading replaces this screen at once
        self.hooks.call("on_tick", self.stats)
        self.stop.wait(self.opt.idle_wait_s)

    def frame_step(self, extra: str | None) -> None:
        """Read, classify, smooth and show one frame, timing each stage."""
        stats, clf, clock = self.stats, self.classifier, self.clock
        t_a = clock()
        frame = self._read()
        t_b = clock()
        if frame is None:
            return
        try:
            clf.preprocess(frame)
            t_c = clock()
            clf.invoke()
            t_d = clock()
            scores = clf.postprocess()
        except InferenceError as exc:
            stats.timings.discard()
            stats.faults["inference"] += 1
            stats.classifier_fault = stats.inference_error = str(exc)
            log.warning("frame not classified: %s", exc)
            self.idle(frozen=False, message=str(exc))
            return
        smoothed, verdict = self.smoother.update(scores, t_b)
        if self.opt.frozen_view is not None:
            self.opt.frozen_view.on_frame(frame)
        t_e = clock()
        self._show(smoothed, verdict, t_b, extra)
        t_f = clock()
        for stage, seconds in ((_CAPTURE, t_b - t_a), (_PRE, t_c - t_b), (_INVOKE, t_d - t_c),
                               (_POST, t_e - t_d), (_DISPLAY, t_f - t_e)):
            stats.timings.put(stage, seconds)
        stats.timings.commit()
        stats.frames += 1
        stats.verdict = verdict.state
        stats.anime, stats.cartoon = smoothed.anime, smoothed.cartoon
        stats.seconds = t_f - self.t0
        first = stats.first_result_s is None
        if first:
            stats.first_result_s = stats.seconds
        self.hooks.call("on_result", stats, first)
        self.hooks.call("on_tick", stats)
        if self.min_interval:
            rest = t_a + self.min_interval - clock()
            if rest > 0:
                self.stop.wait(rest)

    def _read(self) -> Any:
        """The newest frame, or ``None`` after the camera-down idle step."""
        stats = self.stats
        error: str | None = None
        try:
            frame = self.source.read()
        except CameraError as exc:
            frame, error = None, str(exc)
        if frame is None:
            fault = (error or getattr(self.source, "fault", None)
                     or "camera: no frame - retrying")
            if not self.camera_down:
                self.camera_down = True
                stats.faults["camera"] += 1
                log.warning("no frame from the source: %s", fault)
            stats.source_fault = fault
            self.idle(frozen=False, message=fault)
            return None
        if self.camera_down:
            self.camera_down = False
            stats.source_fault = None
            log.info("frames are back")
        return frame

    def _show(self, smoothed: Any, verdict: Any, t_b: float, extra: str | None) -> None:
        """Update the frame rate and the backend, then submit the new state (or keep it
        pending when the display would not draw it yet)."""
        stats, clf = self.stats, self.classifier
        if self.last_frame_t is not None:
            dt = t_b - self.last_frame_t
            alpha = ema_alpha(dt, self.opt.fps_tau_s) if self.interval else 1.0
            self.interval += alpha * (dt - self.interval)
        self.last_frame_t = t_b
        stats.fps = 1.0 / self.interval if self.interval > 0 else 0.0
        if clf.backend != stats.backend:  # a failover switched backends
            stats.backend = clf.backend
            stats.reason = getattr(clf, "reason", stats.reason)
        stats.classifier_fault = getattr(clf, "fault", None)
        stats.inference_error = None
        # half a frame of slack: a loop running at the display's own rate, with jitter,
        # still submits every frame; a new verdict, or the first reading after a frozen or
        # fault screen, goes at once
        if (t_b - self.last_submit_t < self.display_interval - 0.5 * self.interval
                and verdict.state == self.state.verdict):
            self.pending = (smoothed, verdict, extra)
            return
        self.last_submit_t = t_b
        self._submit_reading(smoothed, verdict, extra)

    def _flush(self) -> None:
        """Submit the reading kept pending, if any."""
        if self.pending is not None:
            self._submit_reading(*self.pending)

    def _submit_reading(self, smoothed: Any, verdict: Any, extra: str | None) -> None:
        self.pending = None
        stats = self.stats
        # readings still come, so a lasting notice must not hide them (aoc.app.notice)
        message = self.notice(extra or stats.classifier_fault, self.last_frame_t or 0.0)
        notice = self.notice.repeating
        self.reading_line = (None if self.animation_model
                             else f"{verdict.label} {verdict.confidence:.0%}")
        if message is None:
            message = self.reading_line
        self.state = self.state_factory(
            anime=smoothed.anime, cartoon=smoothed.cartoon, verdict=verdict.state,
            backend=_backend(stats.backend), fps=stats.fps, frozen=False,
            view=self.controls.view, message=message, notice=notice,
            # a bare model's label line is its reading, not a notice over a verdict
            live=self.animation_model,
        )
        self.submit(self.state)


def _backend(name: str) -> str:
    return name if name in ("edgetpu", "cpu") else ""


def _update(state: Any, *, frozen: bool, view: int, message: str | None,
            notice: bool = False) -> Any:
    """``state`` with these fields and no frame rate (nothing is classified meanwhile),
    reusing the same object when nothing changed."""
    # camera down or inference failing: the last verdict is not current under the fault;
    # a frozen reading's verdict is the one the user froze, shown as it was
    live = state.live and frozen
    if (state.frozen, state.view, state.message, state.notice, state.fps, state.live) == (
            frozen, view, message, notice, 0.0, live):
        return state
    return state.replace(frozen=frozen, view=view, message=message, notice=notice, fps=0.0,
                         live=live)
