"""The ONE place that wires parts together: config -> model, source, display, controls, loop.

Everything is opened inside one :class:`contextlib.ExitStack`, so it is closed in the
reverse order of opening (controls, then display -- cleared and switched off -- then
source, then classifier) however the run ends: frame limit, SIGTERM/SIGINT, power button
or an exception. Facts about the machine (systemd, TTY, Raspberry Pi, state folder) are
probed once in :class:`Host` and passed in; nothing below reads the environment.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aoc.config import Config
from aoc.errors import ConfigError
from aoc.loop import LoopControls, LoopHook, LoopStats, run_loop
from aoc.model_select import Selection, candidates, read_last_good, select
from aoc.smoothing import Smoother, VerdictRules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Host:
    """Facts about where the appliance runs (probed by :meth:`probe`, injectable in tests)."""

    under_systemd: bool = False
    stdout_tty: bool = False
    is_pi: bool = False
    state_dir: Path | None = None
    notify_socket: str | None = None
    watchdog_usec: int | None = None
    as_root: bool = False

    @classmethod
    def probe(cls, environ: Mapping[str, str] | None = None, *, pid: int | None = None,
              euid: int | None = None) -> Host:
        """Read the process environment and the machine once.

        The last-good record lives in systemd's ``STATE_DIRECTORY`` (the unit's
        ``StateDirectory=``), else in ``~/.local/state/anime-or-cartoon``. The watchdog
        is this process's only when ``WATCHDOG_PID`` is unset or ``pid`` (see
        :func:`aoc.notify.notifier_settings`).
        """
        from aoc.notify import notifier_settings

        env = os.environ if environ is None else environ
        model = Path("/proc/device-tree/model")
        try:
            is_pi = "raspberry pi" in model.read_text(errors="replace").lower()
        except OSError:
            is_pi = False
        state = env.get("STATE_DIRECTORY", "").split(":")[0]
        home_state = Path(env.get("HOME", "/nonexistent")) / ".local/state/anime-or-cartoon"
        notify = notifier_settings(env, pid=os.getpid() if pid is None else pid)
        return cls(
            under_systemd=bool(env.get("INVOCATION_ID") or env.get("JOURNAL_STREAM")),
            stdout_tty=sys.stdout.isatty(),
            is_pi=is_pi,
            state_dir=Path(state) if state else home_state,
            notify_socket=notify.socket_path,
            watchdog_usec=notify.watchdog_usec,
            as_root=(os.geteuid() if euid is None else euid) == 0,
        )


def root_refusal(config: Config, host: Host) -> str | None:
    """Why ``aoc run`` must not start as root under systemd, or ``None`` to go on.

    The unit runs the app as the unprivileged ``aoc`` user; root there means the unit was
    edited (``User=`` dropped). That is logged as an error always, and refused (the
    caller exits with EX_CONFIG, which systemd does not restart) unless
    ``service.allow_root`` is true.
    """
    if not (host.as_root and host.under_systemd):
        return None
    log.error("running as root under systemd: the unit should set User=aoc (see "
              "/usr/share/anime-or-cartoon/headless.md); set service.allow_root = true "
              "only if you really mean it")
    if config.service.allow_root:
        return None
    return ("refusing to run as root under systemd: restore User=aoc in the unit "
            "(`systemctl edit anime-or-cartoon`) or set service.allow_root = true in "
            "the config")


def resolve_display_kind(kind: str, host: Host) -> str:
    """``auto``: the OLED on a Raspberry Pi or under systemd; else the terminal when
    standard output is a TTY; else ``null``."""
    if kind != "auto":
        return kind
    if host.is_pi or host.under_systemd:
        return "oled"
    return "terminal" if host.stdout_tty else "null"


def tpu_present() -> bool:
    """An Edge TPU is attached (USB IDs or /dev/apex_0): cheap check before spawning."""
    from aoc.doctor import find_edgetpus

    return bool(find_edgetpus())


def classifier_opener(
    config: Config, *, tpu_probe: Callable[[], bool] = tpu_present
) -> Callable[[Any], Any]:
    """bundle -> classifier following ``[inference]``.

    ``cpu``: the CPU model. ``auto``/``edgetpu`` with an Edge TPU model in the bundle: a
    :class:`~aoc.failover.FailoverClassifier` whose primary is the TPU (in a child process
    when ``isolate_tpu``) and whose fallback is the CPU; it re-probes the TPU every
    ``reprobe_interval_s``. Without a TPU model: the CPU, with the reason.
    """
    from aoc.classifier import open_classifier
    from aoc.errors import EdgeTpuUnavailable

    inf = config.inference
    threads = inf.num_threads or None

    def cpu(bundle: Any) -> Any:
        return open_classifier(bundle, prefer="cpu", num_threads=threads)

    def opener(bundle: Any) -> Any:
        if inf.backend == "cpu":
            return cpu(bundle)
        if bundle.edgetpu_model is None:
            # "auto" fails over at once and its reason says why there is no TPU model.
            return open_classifier(bundle, prefer="auto", num_threads=threads)
        from aoc.failover import FailoverClassifier

        def primary() -> Any:
            if not tpu_probe():
                raise EdgeTpuUnavailable(
                    "no Edge TPU found (USB 1a6e:089a / 18d1:9302 or /dev/apex_0); plug in "
                    "the Coral accelerator"
                )
            if inf.isolate_tpu:
                from aoc.isolated import open_isolated_classifier

                return open_isolated_classifier(
                    bundle, prefer="edgetpu", edgetpu_device=inf.edgetpu_device,
                    num_threads=threads)
            return open_classifier(bundle, prefer="edgetpu",
                                   edgetpu_device=inf.edgetpu_device, num_threads=threads)

        return FailoverClassifier(primary, lambda: cpu(bundle),
                                  reprobe_interval_s=inf.reprobe_interval_s)

    return opener


def open_model(config: Config, host: Host, *, opener: Callable[[Any], Any] | None = None,
               default_dirs: Sequence[Path] | None = None) -> Selection[Any]:
    """Select, load and open the model with fallback (see :mod:`aoc.model_select`)."""
    state_file = host.state_dir / "last-good-bundle" if host.state_dir else None
    m = config.model
    cands = candidates(bundle=m.bundle, model=m.model, labels=m.labels,
                       last_good=read_last_good(state_file), default_dirs=default_dirs)
    return select(cands, opener or classifier_opener(config), fallback=m.fallback,
                  state_file=state_file)


def source_resize(bundle: Any) -> str:
    """How a source should fit frames to the model: the bundle's ``input.resize`` (the
    sources take the manifest's names), ``stretch`` for a bare model."""
    spec = getattr(bundle, "input", None)
    return spec.resize if spec is not None else "stretch"


def open_frames(config: Config, *, size: tuple[int, int], resize: str = "stretch") -> Any:
    """A :class:`~aoc.sources.ResilientSource` around :func:`~aoc.sources.open_source`.

    ``auto`` without a camera runs the demo (and says so) unless
    ``camera.demo_when_missing`` is false; then it waits for a camera.
    """
    from aoc.errors import CameraError
    from aoc.sources import DemoSource, ResilientSource, open_source

    cam = config.camera
    described: list[str] = []

    def factory() -> Any:
        source, description = open_source(
            cam.source, size=size, resize=resize, main_size=(cam.width, cam.height),
            demo_period_s=cam.demo_period_s)
        if isinstance(source, DemoSource) and cam.source == "auto" and not cam.demo_when_missing:
            source.close()
            found = description.split(": using")[0]
            raise CameraError(f"{found}; camera.demo_when_missing is false, so waiting for a "
                              "camera: connect one")
        described[:] = [description]
        return source

    resilient = ResilientSource(factory, backoff=cam.backoff, name=f"camera:{cam.source}")
    resilient.description = described  # type: ignore[attr-defined]
    return resilient


class GuardedDisplay:
    """:class:`~aoc.display.threaded.ThreadedDisplay` with burn-in care applied per state."""

    def __init__(self, threaded: Any, guard: Any) -> None:
        self.threaded = threaded
        self.guard = guard

    @property
    def fault(self) -> str | None:
        """The drawer's fault (``display lost``) or ``None``."""
        return self.threaded.fault

    def submit(self, state: Any) -> None:
        """Hand ``state`` (with offset/dim/blank) to the drawing thread."""
        self.threaded.submit(self.guard.apply(state))

    def close(self) -> None:
        """Clear the screen and stop the drawer (safe twice)."""
        self.threaded.clear()
        self.threaded.close()


def display_options(config: Config, kind: str) -> dict[str, Any]:
    """Constructor keywords of the display ``kind`` from ``[display]``."""
    d = config.display
    if kind == "oled":
        return dict(driver=d.driver, width=d.width, height=d.height, interface=d.interface,
                    i2c_port=d.i2c_port, i2c_address=d.i2c_address, spi_port=d.spi_port,
                    spi_device=d.spi_device, gpio_dc=d.gpio_dc, gpio_rst=d.gpio_rst,
                    rotate=d.rotate, contrast=d.contrast, dim_contrast=d.dim_contrast)
    if kind == "emulated":
        fmt = "gif" if d.path.lower().endswith(".gif") else "png"
        return dict(path=d.path, fmt=fmt, width=d.width, height=d.height)
    if kind == "null":
        return dict(width=d.width, height=d.height)
    return {}


def open_screen(config: Config, kind: str) -> GuardedDisplay:
    """The display of ``kind`` in a drawing thread, with burn-in protection."""
    from aoc.display import open_display
    from aoc.display.burnin import BurnInGuard
    from aoc.display.threaded import ThreadedDisplay

    d = config.display
    opts = display_options(config, kind)
    display = open_display(kind, **opts)
    threaded = ThreadedDisplay(display, max_fps=d.max_fps, retry_interval_s=d.retry_interval_s,
                               reopen=(lambda: open_display(kind, **opts)))
    guard = BurnInGuard(shift_every_s=d.shift_every_s if kind == "oled" else 0,
                        max_shift=d.max_shift, dim_after_s=d.dim_after_s,
                        blank_after_s=d.blank_after_s, change_threshold=d.change_threshold)
    return GuardedDisplay(threaded, guard)


class LedHook:
    """LoopHook: status LED starting / running / fault, set only on change."""

    def __init__(self, controls: Any) -> None:
        self.controls = controls
        self.status = ""

    def _set(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.controls.set_status(status)

    def on_start(self, info: Any) -> None:
        self._set("starting")

    def on_result(self, stats: LoopStats, first: bool) -> None:
        self._set("fault" if stats.classifier_fault or stats.display_fault else "running")

    def on_tick(self, stats: LoopStats) -> None:
        if stats.source_fault:
            self._set("fault")

    def on_stop(self, stats: LoopStats) -> None:
        self._set("off")


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


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Any:
    """SIGTERM/SIGINT set ``stop`` (main thread only); previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(config: Config, host: Host, *, max_frames: int | None = None,
        duration_s: float | None = None, stop: threading.Event | None = None,
        hooks: Sequence[LoopHook] = (), display_kind: str | None = None,
        pin_factory: Any = None, process_age: Callable[[], float] | None = None,
        default_dirs: Sequence[Path] | None = None) -> RunResult:
    """Open everything from ``config``, run the loop, close everything; return the result."""
    from aoc.controls import NullControls, open_controls

    stop = stop or threading.Event()
    kind = resolve_display_kind(display_kind or config.display.kind, host)
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
        source = stack.enter_context(open_frames(config, size=classifier.input_size,
                                                 resize=source_resize(bundle)))
        described = getattr(source, "description", [])
        screen = open_screen(config, kind)
        stack.callback(screen.close)
        controls_state = LoopControls(views=_num_views())

        def shut() -> None:
            shutdown.set()
            stop.set()

        c = config.controls
        if c.enabled and (host.is_pi or pin_factory is not None):
            pins = {k: (v if v >= 0 else None) for k, v in (
                ("freeze_pin", c.freeze_pin), ("view_pin", c.view_pin),
                ("power_pin", c.power_pin), ("led_pin", c.led_pin))}
            buttons: Any = open_controls(
                **pins, hold_time_s=c.hold_time_s, on_freeze=controls_state.toggle_freeze,
                on_view=controls_state.next_view, on_shutdown=shut,
                i2c_in_use=(kind == "oled" and config.display.interface == "i2c"),
                pin_factory=pin_factory)
        else:
            buttons = NullControls("disabled in config" if not c.enabled else "not a Pi")
        stack.callback(buttons.close)

        model_note = selection.warning()

        def health() -> str | None:
            note = screen.fault or model_note
            if note is None and described and described[0].startswith("no camera"):
                note = "no camera - demo"
            return note

        class StartupHook:
            def on_result(self, stats: LoopStats, first: bool) -> None:
                if first and process_age is not None:
                    startup.append(process_age())

        all_hooks = [StartupHook(), LedHook(buttons), *hooks]
        if host.notify_socket:
            from aoc.notify import SystemdNotifier

            notifier = SystemdNotifier(host.notify_socket, watchdog_usec=host.watchdog_usec,
                                       status_interval_s=config.service.status_interval_s,
                                       ready_grace_s=config.service.ready_grace_s)
            stack.callback(notifier.close)
            all_hooks.append(notifier)
        s = config.smoothing
        smoother = Smoother(classifier.labels, tau_s=s.tau_s, rules=VerdictRules(
            enter=s.enter, both_min=s.both_min, hysteresis=s.hysteresis,
            top1_enter=s.top1_enter))
        log.info("running: model %s (%s), source %s, display %s", bundle.name,
                 classifier.reason, described[0] if described else source.name, kind)
        stats = run_loop(source, classifier, smoother, screen, max_frames=max_frames,
                         duration_s=duration_s, stop=stop, hooks=all_hooks, health=health,
                         controls=controls_state, max_fps=config.camera.max_fps)
        stats.reason = classifier.reason
        result = RunResult(stats=stats, model=f"{bundle.name} ({bundle.root})",
                           source=described[0] if described else str(source.name),
                           display=kind, startup_s=startup[0] if startup else None,
                           peak_rss_mb=peak_rss_mb(), warnings=warnings,
                           shutdown_requested=shutdown.is_set())
    if result.shutdown_requested and config.service.shutdown_command:
        log.warning("power button: running %r", config.service.shutdown_command)
        subprocess.run(shlex.split(config.service.shutdown_command), check=False)  # noqa: S603
    return result


def _num_views() -> int:
    from aoc.display import NUM_VIEWS

    return int(NUM_VIEWS)


def show_config_error(error: ConfigError, host: Host) -> None:
    """Best effort: put the bad key on the OLED (default settings) and leave it there."""
    if not (host.is_pi or host.under_systemd):
        return
    from aoc.display.oled import OledDisplay
    from aoc.display.state import DisplayState

    text = f"config error: {error.key}" if error.key else "config error - see log"
    try:
        # persist: the message stays lit after the process exits.
        with OledDisplay(persist=True) as display:
            display.show(DisplayState(anime=0.0, cartoon=0.0, verdict="uncertain",
                                      message=text))
    except Exception as exc:  # noqa: BLE001 - the log already has the error; screen is extra
        log.debug("could not show the config error on the OLED: %s", exc)


def timed_process_age(start: float | None = None) -> Callable[[], float]:
    """Seconds since the process started (psutil when present, else since ``start``)."""
    try:
        import psutil

        created = psutil.Process().create_time()
        return lambda: time.time() - created
    except (ImportError, OSError):
        t0 = start if start is not None else time.perf_counter()
        return lambda: time.perf_counter() - t0
