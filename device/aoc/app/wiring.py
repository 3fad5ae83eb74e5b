"""The ONE place that wires parts together: config -> model, source, display, controls, loop.

Everything is opened inside one :class:`contextlib.ExitStack`, so it is closed in the
reverse order of opening (controls, then display -- cleared and switched off -- then
source, then classifier) however the run ends: frame limit, SIGTERM/SIGINT, power button
or an exception. Facts about the machine (systemd, TTY, Raspberry Pi, state folder) are
probed once in :class:`~aoc.app.host.Host` and passed in; nothing below reads the
environment.

The wiring is split by what it wires: :mod:`aoc.app.host` (the machine),
:mod:`aoc.app.model` (bundle and classifier), :mod:`aoc.app.screen` (display, buttons,
LED), :mod:`aoc.app.signals` (SIGTERM/SIGINT); import their names from there.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import shlex
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aoc.app.bundle_watch import watch_configured_model
from aoc.app.fd_guard import FdGuard
from aoc.app.host import Host, resolve_display_kind
from aoc.app.loop import LoopHook, run_loop
from aoc.app.loop_options import LoopControls
from aoc.app.loop_stats import LoopStats
from aoc.app.model import open_model, source_resize
from aoc.app.screen import LedHook, frozen_map, open_buttons, open_screen
from aoc.app.signals import stop_on_signals
from aoc.app.smoothing import Smoother, VerdictRules
from aoc.app.startup import startup_checks
from aoc.config_sections import Config

__all__ = [
    "RunResult",
    "open_frames",
    "peak_rss_mb",
    "run",
    "run_shutdown_command",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedSource:
    """What the camera factory opened last: the sentence for the user, and whether the
    demo stands in for a missing camera."""

    description: str
    demo_for_missing_camera: bool = False


def open_frames(config: Config, *, size: tuple[int, int], resize: str = "stretch",
                pi_model: str | None = None, prefetch: bool = False) -> Any:
    """A :class:`~aoc.sources.ResilientSource` around :func:`~aoc.sources.open_source`.

    ``auto`` without a camera runs the demo (and says so) unless
    ``camera.demo_when_missing`` is false; then it waits for a camera. With ``prefetch``
    (an Edge TPU runs the model: capture during invoke) it comes inside a
    :class:`~aoc.app.pipeline.PrefetchSource`, which owns it: it opens it, and closes it
    only once its worker is out of ``read()``. Enter only what this returns.
    """
    from aoc.errors import CameraError
    from aoc.sources import DemoSource, ResilientSource, open_source, standin
    from aoc.sources.standin import StandInSource

    cam = config.camera
    described: list[OpenedSource] = []
    had_camera: list[bool] = []

    def open_camera(demo_when_missing: bool) -> tuple[Any, str]:
        return open_source(
            cam.source, size=size, resize=resize, main_size=(cam.width, cam.height),
            demo_period_s=cam.demo_period_s, demo_when_missing=demo_when_missing,
            pi_model=pi_model)

    def camera_came_up() -> Any:
        try:
            source, description = open_camera(demo_when_missing=False)
        except CameraError:
            return None
        had_camera[:] = [True]
        described[:] = [OpenedSource(description)]
        return source

    def factory() -> Any:
        # once a camera has worked, a reconnect that finds none keeps retrying it: the
        # demo never fails, so falling back to it would never try the camera again
        source, description = open_camera(cam.demo_when_missing and not had_camera)
        stand_in = isinstance(source, DemoSource) and cam.source == "auto"
        if not stand_in:
            had_camera[:] = [True]
        described[:] = [OpenedSource(description, demo_for_missing_camera=stand_in)]
        # the demo stands in for a camera not there at start-up, and keeps looking for one
        if not stand_in:
            return source
        return StandInSource(source, camera_came_up, recheck_s=standin.RECHECK_S)

    resilient = ResilientSource(factory, backoff=cam.backoff, name=f"source {cam.source}")
    resilient.description = described  # type: ignore[attr-defined]
    if not prefetch:
        return resilient
    from aoc.app.pipeline import PrefetchSource

    return PrefetchSource(resilient, size=size, policy=resize)



@dataclass
class RunResult:
    """What a run did, for the CLI summary and ``--stats-json``."""

    stats: LoopStats
    model: str
    source: str
    display: str
    startup_s: float | None
    peak_rss_mb: float
    warnings: list[str] = field(default_factory=list)
    shutdown_requested: bool = False
    shutdown_failed: bool = False
    restart_because: str | None = None  # the run ended itself so that it starts afresh

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        d = self.stats.to_dict()
        d.update(model=self.model, source=self.source, display=self.display,
                 startup_s=None if self.startup_s is None else round(self.startup_s, 3),
                 peak_rss_mb=round(self.peak_rss_mb, 1),
                 warnings=self.warnings)
        return d


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0



def run(config: Config, host: Host, *, max_frames: int | None = None,
        duration_s: float | None = None, stop: threading.Event | None = None,
        hooks: Sequence[LoopHook] = (), display_kind: str | None = None,
        pin_factory: Any = None, process_age: Callable[[], float] | None = None,
        default_dirs: Sequence[Path] | None = None) -> RunResult:
    """Open everything from ``config``, run the loop, close everything; return the result."""
    stop = stop or threading.Event()
    kind = resolve_display_kind(display_kind or config.display.kind, host)
    startup_checks(config, kind, host=host)
    warnings: list[str] = []
    startup: list[float] = []
    shutdown = threading.Event()
    with contextlib.ExitStack() as stack:
        stack.enter_context(stop_on_signals(stop))
        selection = open_model(config, host, default_dirs=default_dirs)
        classifier = selection.opened
        stack.callback(classifier.close)
        warnings += selection.errors
        bundle = selection.bundle
        # on an Edge TPU frames are captured and fitted during invoke (keep the TPU busy)
        source = stack.enter_context(open_frames(
            config, size=classifier.input_size, resize=source_resize(bundle),
            pi_model=host.pi_model, prefetch=classifier.backend == "edgetpu"))
        described = getattr(source, "description", [])
        # `aoc run --display terminal | head`: the reader left, so the run ends
        screen = (open_screen(config, kind, on_output_closed=stop.set) if kind == "terminal"
                  else open_screen(config, kind))
        stack.callback(screen.close)
        controls_state = LoopControls(views=_num_views(),
                                      freeze_timeout_s=config.controls.freeze_timeout_s)

        def shut() -> None:
            shutdown.set()
            stop.set()

        buttons = open_buttons(config, host, kind=kind, controls=controls_state,
                               on_shutdown=shut, pin_factory=pin_factory)
        stack.callback(buttons.close)

        model_note = selection.warning()

        def health() -> str | None:
            note = screen.fault or model_note
            if note is None and described and described[0].demo_for_missing_camera:
                note = "no camera - demo"
            return note

        # hooks that end the run for a fresh start (exit 75)
        restarts = [FdGuard(stop), *filter(None, [watch_configured_model(stop, config.model,
                                                                         selection)])]
        all_hooks = [*_loop_hooks(config, host, stack, buttons, hooks, process_age, startup,
                                  shutdown), *restarts]
        smoother = _make_smoother(config, classifier.labels)

        def source_words() -> str:  # the camera's own words once it opened, else the spec
            return (described[0].description if described
                    else f"{config.camera.source} (not open yet)")

        log.info("running: model %s (%s), source %s, display %s", bundle.name,
                 classifier.reason, source_words(), kind)
        stats = run_loop(source, classifier, smoother, screen, max_frames=max_frames,
                         duration_s=duration_s, stop=stop, hooks=all_hooks, health=health,
                         controls=controls_state, max_fps=config.camera.max_fps,
                         frozen_view=frozen_map(config))
        stats.reason = classifier.reason
        result = RunResult(stats=stats, model=f"{bundle.name} ({bundle.root})",
                           source=source_words(),
                           display=kind, startup_s=startup[0] if startup else None,
                           peak_rss_mb=peak_rss_mb(), warnings=warnings,
                           shutdown_requested=shutdown.is_set(),
                           restart_because=next((r.tripped for r in restarts if r.tripped),
                                                None))
    if result.shutdown_requested and config.service.shutdown_command:
        error = run_shutdown_command(config.service.shutdown_command)
        if error is not None:
            result.warnings.append(error)
            result.shutdown_failed = True
    return result


class _StartupHook:
    """Records the process's age at the first result (start-up time)."""

    def __init__(self, process_age: Callable[[], float] | None, startup: list[float]) -> None:
        self.process_age, self.startup = process_age, startup

    def on_result(self, stats: LoopStats, first: bool) -> None:
        if first and self.process_age is not None:
            self.startup.append(self.process_age())


def _loop_hooks(config: Config, host: Host, stack: contextlib.ExitStack, buttons: Any,
                hooks: Sequence[LoopHook], process_age: Callable[[], float] | None,
                startup: list[float], shutdown: threading.Event) -> list[Any]:
    """Start-up timing, the LED, the caller's hooks, and sd_notify under systemd."""
    all_hooks: list[Any] = [_StartupHook(process_age, startup), LedHook(buttons), *hooks]
    if host.notify_socket:
        from aoc.app.notify import SystemdNotifier

        notifier = SystemdNotifier(host.notify_socket, watchdog_usec=host.watchdog_usec,
                                   status_interval_s=config.service.status_interval_s,
                                   ready_grace_s=config.service.ready_grace_s,
                                   # a shutdown command may fail and the run start again
                                   stop_is_final=lambda: not (
                                       shutdown.is_set() and config.service.shutdown_command))
        stack.callback(notifier.close)
        all_hooks.append(notifier)
    return all_hooks


def _make_smoother(config: Config, labels: Sequence[str]) -> Smoother:
    """The smoother ``[smoothing]`` describes."""
    s = config.smoothing
    return Smoother(labels, tau_s=s.tau_s, rules=VerdictRules(
        enter=s.enter, both_min=s.both_min, hysteresis=s.hysteresis, top1_enter=s.top1_enter))


def run_shutdown_command(command: str, *,
                         runner: Callable[..., Any] = subprocess.run) -> str | None:
    """Run ``service.shutdown_command`` (checked at config load); the error line or ``None``.

    A failure (program gone since, non-zero exit) is logged, never raised, and marked in
    the result (``shutdown_failed``): ``aoc run`` then starts the appliance again instead
    of leaving it dark.
    """
    log.warning("power button: running %r", command)
    try:
        done = runner(shlex.split(command), check=False)  # noqa: S603 - the configured command
    except (OSError, ValueError) as exc:
        error = f"shutdown command {command!r} could not run: {exc}"
    else:
        if done.returncode == 0:
            return None
        error = f"shutdown command {command!r} failed with exit status {done.returncode}"
    log.error("%s; the appliance keeps running (check service.shutdown_command and the "
              "polkit rule)", error)
    return error


def _num_views() -> int:
    from aoc.display import NUM_VIEWS

    return int(NUM_VIEWS)
