"""systemd readiness, status and watchdog notifications, as a loop hook.

:class:`SystemdNotifier` speaks the ``sd_notify`` protocol in pure Python: one datagram per
message to the ``AF_UNIX`` socket systemd names in ``$NOTIFY_SOCKET`` (a path, or ``@name``
for the abstract namespace). It plugs into :func:`aoc.app.loop.run_loop` as a ``LoopHook``:

* ``READY=1`` once, after the first classified frame (or, when no frame has arrived after
  ``ready_grace_s`` -- camera missing at boot -- with a status saying so, so that a missing
  camera shows on the OLED instead of turning into a start-timeout restart loop);
* ``WATCHDOG=1`` from ``on_tick``, at most once a second (or every half watchdog period if
  shorter). The feed comes from the loop itself, so a loop that stalls (not only a process
  that dies) stops it and systemd restarts the service; pinging every second rather than
  every half period lets a healthy loop block for nearly the whole period (a TPU re-probe,
  a slow camera) without being killed;
* ``STATUS=backend=cpu fps=29.7 ...`` at a capped rate;
* ``STOPPING=1`` on stop, unless ``stop_is_final`` says the stop may not be final: the
  power button's shutdown command runs after the loop, and when it fails the appliance
  starts again in the same process; a ``STOPPING=1`` sent then would have systemd stop
  the unit regardless (SIGTERM after the fact, SIGKILL at ``TimeoutStopSec``). A poweroff
  that works stops the unit itself.

Without a socket path (not under systemd) every method is a no-op. The constructor reads no
environment: :func:`notifier_settings` turns an environment mapping into arguments.
(Keeping the journal free of floods is :mod:`aoc.app.repeat_filter`'s job.)
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

Clock = Callable[[], float]
MAX_PING_INTERVAL_S = 1.0
StatusFormatter = Callable[[Any], str]


class NotifierSettings(NamedTuple):
    """What systemd told this process through its environment."""

    socket_path: str | None
    watchdog_usec: int | None


def notifier_settings(environ: Mapping[str, str], *, pid: int) -> NotifierSettings:
    """Read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` from ``environ``.

    The watchdog belongs to this process only when ``WATCHDOG_PID`` is unset or equals
    ``pid`` (the same rule as ``sd_watchdog_enabled(3)``). Malformed values disable the
    watchdog with a warning rather than stopping the appliance.
    """
    socket_path = environ.get("NOTIFY_SOCKET") or None
    usec: int | None = None
    raw = environ.get("WATCHDOG_USEC")
    if raw:
        try:
            usec = int(raw)
        except ValueError:
            log.warning("WATCHDOG_USEC=%r is not an integer; watchdog feed disabled", raw)
        owner = environ.get("WATCHDOG_PID")
        if usec is not None and owner:
            try:
                if int(owner) != pid:
                    usec = None
            except ValueError:
                log.warning("WATCHDOG_PID=%r is not an integer; watchdog feed disabled", owner)
                usec = None
        if usec is not None and usec <= 0:
            usec = None
    return NotifierSettings(socket_path, usec)


def _field(stats: Any, *names: str) -> Any:
    for name in names:
        value = getattr(stats, name, None)
        if value is not None:
            return value
    return None


def format_status(stats: Any) -> str:
    """A one-line ``STATUS=`` text from loop stats: ``backend=cpu fps=29.7 frames=1234 ...``.

    Reads the attributes the loop's stats carry (``backend``, ``fps``, ``frames``,
    ``verdict``, ``source_fault``/``display_fault``) and skips any that are absent, so the
    status line never breaks the loop.
    """
    parts: list[str] = []
    backend = _field(stats, "backend")
    if backend:
        parts.append(f"backend={backend}")
    fps = _field(stats, "fps")
    if isinstance(fps, int | float):
        parts.append(f"fps={fps:.1f}")
    frames = _field(stats, "frames", "classified")
    if isinstance(frames, int):
        parts.append(f"frames={frames}")
    verdict = _field(stats, "verdict")
    if verdict:
        parts.append(f"verdict={verdict}")
    for name in ("source_fault", "classifier_fault", "display_fault", "fault"):
        fault = _field(stats, name)
        if fault:
            parts.append(f"{name}={str(fault)[:60]!r}")
    return " ".join(parts) or "running"


class SystemdNotifier:
    """``sd_notify`` client and loop hook; a no-op when ``socket_path`` is ``None``.

    ``watchdog_usec`` is systemd's ``WATCHDOG_USEC``; pings go out at most once a second, or
    every half of it when that is shorter.
    ``status_interval_s`` caps how often ``STATUS=`` is sent. ``ready_grace_s`` is how long
    the loop may run without a classified frame before ``READY=1`` is sent anyway (with a
    status naming the wait); ``None`` waits for the first frame forever.
    ``stop_is_final`` is asked at stop whether to send ``STOPPING=1`` (default: always).
    """

    def __init__(
        self,
        socket_path: str | None,
        *,
        watchdog_usec: int | None = None,
        clock: Clock = time.monotonic,
        status_interval_s: float = 5.0,
        ready_grace_s: float | None = 30.0,
        status_formatter: StatusFormatter = format_status,
        stop_is_final: Callable[[], bool] = lambda: True,
    ) -> None:
        self.socket_path = socket_path or None
        self.watchdog_interval_s: float | None = (
            min(MAX_PING_INTERVAL_S, watchdog_usec / 2_000_000)
            if watchdog_usec and watchdog_usec > 0 else None
        )
        self._clock = clock
        self._status_interval_s = status_interval_s
        self._ready_grace_s = ready_grace_s
        self._format = status_formatter
        self._stop_is_final = stop_is_final
        self._sock: socket.socket | None = None
        self._address: str | bytes | None = None
        self._started_at: float | None = None
        self._last_ping: float | None = None
        self._last_status: float | None = None
        self._send_failed = False
        self.ready = False
        self.sent: dict[str, int] = {"READY": 0, "WATCHDOG": 0, "STATUS": 0, "STOPPING": 0}
        if self.socket_path:
            self._address = _socket_address(self.socket_path)

    @property
    def enabled(self) -> bool:
        """True when running under systemd (a notify socket was given)."""
        return self._address is not None

    # -- the protocol ------------------------------------------------------------------
    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines in one datagram; ``False`` if not sent.

        Send failures are logged once and never raised: losing systemd must not stop the
        appliance (the watchdog, if any, will tell systemd what it needs to know).
        """
        if self._address is None:
            return False
        payload = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            if not self._send_failed:
                log.warning(
                    "cannot notify systemd on %s: %s; check NotifyAccess= in the unit",
                    self.socket_path, exc,
                )
            self._send_failed = True
            return False
        self._send_failed = False
        for key in fields:
            if key in self.sent:
                self.sent[key] += 1
        return True

    def ping(self) -> bool:
        """Send ``WATCHDOG=1`` now (the app may call this during slow start-up steps)."""
        self._last_ping = self._clock()
        return self.notify(WATCHDOG=1)

    def status(self, text: str) -> bool:
        """Send ``STATUS=text`` now."""
        self._last_status = self._clock()
        return self.notify(STATUS=text.replace("\n", " "))

    # -- LoopHook ----------------------------------------------------------------------
    def on_start(self, info: Any = None) -> None:
        """The loop starts: feed the watchdog and say what is starting."""
        self._started_at = self._clock()
        if self.enabled:
            self.status("starting: waiting for the first frame")
            self._maybe_ping(force=True)

    def on_result(self, stats: Any, first: bool) -> None:
        """A frame was classified: READY once on the first, capped STATUS after that."""
        if first and not self.ready:
            self.ready = True
            self._last_status = self._clock()
            self.notify(READY=1, STATUS=self._format(stats))
            return
        self._maybe_status(stats)

    def on_tick(self, stats: Any) -> None:
        """Every loop iteration: feed the watchdog (rate-capped); READY after the grace."""
        now = self._clock()
        if (
            not self.ready
            and self._ready_grace_s is not None
            and self._started_at is not None
            and now - self._started_at >= self._ready_grace_s
        ):
            self.ready = True
            self._last_status = now
            self.notify(
                READY=1,
                STATUS=f"running, no frame classified after {self._ready_grace_s:.0f}s "
                f"(camera?) {self._format(stats)}",
            )
        self._maybe_ping()
        if self.ready:
            self._maybe_status(stats)

    def on_stop(self, stats: Any) -> None:
        """The loop ended: tell systemd we are stopping (when the stop is final)."""
        if not self.enabled:
            return
        if self._stop_is_final():
            self.notify(STOPPING=1, STATUS=f"stopping: {self._format(stats)}")
        else:
            self.notify(STATUS=f"power button: shutting down: {self._format(stats)}")

    # -- helpers -----------------------------------------------------------------------
    def _maybe_ping(self, *, force: bool = False) -> None:
        if self.watchdog_interval_s is None or not self.enabled:
            return
        now = self._clock()
        if force or self._last_ping is None or now - self._last_ping >= self.watchdog_interval_s:
            self.ping()

    def _maybe_status(self, stats: Any) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if self._last_status is None or now - self._last_status >= self._status_interval_s:
            self.status(self._format(stats))

    def close(self) -> None:
        """Close the socket; safe to call twice."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> SystemdNotifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _socket_address(path: str) -> str | bytes:
    """``@name`` means the abstract namespace: a leading NUL byte on Linux."""
    if path.startswith("@"):
        return b"\0" + path[1:].encode()
    return path
