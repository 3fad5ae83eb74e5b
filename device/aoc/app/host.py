"""Facts about the machine the appliance runs on, probed once and passed in.

:class:`Host` is the only reader of the process environment (systemd's variables, the
effective UID, ``/proc/device-tree/model``); everything else gets a ``Host``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aoc.config_sections import Config

log = logging.getLogger(__name__)


PI_MODEL_PATH = Path("/proc/device-tree/model")


def read_pi_model(path: Path = PI_MODEL_PATH) -> str | None:
    """Return the board model string (``"Raspberry Pi 5 Model B Rev 1.0"``) or ``None``."""
    try:
        return path.read_bytes().rstrip(b"\x00\n").decode("ascii", "replace") or None
    except OSError:
        return None


def usable_cpus() -> int | None:
    """CPUs this process may run on (its affinity mask, e.g. a cgroup's ``cpuset``), else
    the machine's count, else ``None``."""
    try:
        return len(os.sched_getaffinity(0)) or None
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count()


@dataclass(frozen=True)
class Host:
    """Facts about where the appliance runs (probed by :meth:`probe`, injectable in tests)."""

    under_systemd: bool = False
    stdout_tty: bool = False
    is_pi: bool = False
    pi_model: str | None = None  # "Raspberry Pi 5 Model B Rev 1.0"; None when unknown
    state_dir: Path | None = None
    notify_socket: str | None = None
    watchdog_usec: int | None = None
    as_root: bool = False
    invocation_id: str | None = None
    cpu_count: int | None = None  # CPUs this process may run on; None when unknown

    @classmethod
    def probe(cls, environ: Mapping[str, str] | None = None, *, pid: int | None = None,
              euid: int | None = None) -> Host:
        """Read the process environment and the machine once.

        The last-good record lives in systemd's ``STATE_DIRECTORY`` (the unit's
        ``StateDirectory=``), else in ``$XDG_STATE_HOME/anime-or-cartoon`` (by default
        ``~/.local/state/anime-or-cartoon``). The watchdog
        is this process's only when ``WATCHDOG_PID`` is unset or ``pid`` (see
        :func:`aoc.app.notify.notifier_settings`).
        """
        from aoc.app.notify import notifier_settings

        env = os.environ if environ is None else environ
        pi_model = read_pi_model()
        state = env.get("STATE_DIRECTORY", "").split(":")[0]
        # XDG: $XDG_STATE_HOME when set to an absolute path, else ~/.local/state
        xdg_state = env.get("XDG_STATE_HOME", "")
        home_state = (Path(xdg_state) if os.path.isabs(xdg_state)
                      else Path(env.get("HOME", "/nonexistent")) / ".local/state"
                      ) / "anime-or-cartoon"
        notify = notifier_settings(env, pid=os.getpid() if pid is None else pid)
        return cls(
            under_systemd=bool(env.get("INVOCATION_ID") or env.get("JOURNAL_STREAM")),
            stdout_tty=sys.stdout is not None and sys.stdout.isatty(),
            is_pi="raspberry pi" in (pi_model or "").lower(),
            pi_model=pi_model,
            state_dir=Path(state) if state else home_state,
            notify_socket=notify.socket_path,
            watchdog_usec=notify.watchdog_usec,
            as_root=(os.geteuid() if euid is None else euid) == 0,
            invocation_id=env.get("INVOCATION_ID") or None,
            cpu_count=usable_cpus(),
        )


def root_refusal(config: Config, host: Host) -> str | None:
    """Why ``aoc run`` must not start as root under systemd, or ``None`` to go on.

    The unit runs the app as the unprivileged ``aoc`` user; root there means the unit was
    edited (``User=`` dropped). That is logged as an error always, and refused (the
    caller exits with EX_CONFIG, which systemd does not restart) unless
    ``service.allow_root`` is true.
    """
    # INVOCATION_ID is set by systemd for a service's processes only (JOURNAL_STREAM may be
    # inherited by anything started from one).
    if not (host.as_root and host.invocation_id):
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

