"""What a soak measures while it runs: loop stalls, RSS over time, network sockets.

:class:`SoakMonitor` is a loop hook; :func:`rss_bytes` and :func:`listening_sockets` read
this process through psutil (imported lazily).
"""

from __future__ import annotations

import gc
import time
from typing import Any


def rss_bytes() -> int:
    """Resident memory of this process after a garbage collection (psutil)."""
    import psutil

    gc.collect()
    return int(psutil.Process().memory_info().rss)


def listening_sockets() -> list[str]:
    """Network sockets this process has (any IPv4/IPv6 socket, or anything listening)."""
    import psutil

    found = []
    process = psutil.Process()
    # net_connections since psutil 6.0; Bookworm's apt python3-psutil (5.9), which the
    # Pi's venv sees, has only the older name
    connections = getattr(process, "net_connections", None) or process.connections
    for conn in connections(kind="all"):
        if conn.family.name in ("AF_INET", "AF_INET6") or conn.status == psutil.CONN_LISTEN:
            found.append(f"{conn.family.name} {conn.type.name} {conn.laddr} {conn.status}")
    return found


class SoakMonitor:
    """Loop hook: longest gap between iterations, RSS after warm-up and at the end."""

    def __init__(
        self, warmup: int, *, final: int = 0, sample_every: int = 0,
        clock: Any = time.monotonic,
    ) -> None:
        self.warmup = warmup
        self.final = final
        self.sample_every = sample_every
        self.rss_samples: list[tuple[int, int]] = []  # (frames, bytes) after warm-up
        self._clock = clock
        self._last: float | None = None
        self.max_gap_s = 0.0
        self.rss_warm: int | None = None
        self.rss_end: int | None = None  # at the last frame
        self.rss_stop: int | None = None
        self.listeners: list[str] | None = None

    def on_start(self, info: Any) -> None:
        """Start timing the gaps between ticks."""
        self._last = self._clock()

    def on_result(self, stats: Any, first: bool) -> None:
        """Sample the listening sockets once and the RSS after warm-up and at intervals."""
        if first:
            self.listeners = listening_sockets()
        if stats.frames == self.warmup:
            self.rss_warm = rss_bytes()
            self.rss_samples.append((stats.frames, self.rss_warm))
        elif stats.frames > self.warmup and (
            stats.frames == self.final
            or (self.sample_every and (stats.frames - self.warmup) % self.sample_every == 0)
        ):
            self.rss_samples.append((stats.frames, rss_bytes()))
        if stats.frames == self.final:
            self.rss_end = self.rss_samples[-1][1] if self.rss_samples else rss_bytes()

    def on_tick(self, stats: Any) -> None:
        """Track the longest gap between two ticks (a stalled loop)."""
        now = self._clock()
        if self._last is not None:
            self.max_gap_s = max(self.max_gap_s, now - self._last)
        self._last = now

    def on_stop(self, stats: Any) -> None:
        """Take the RSS once more after the loop's end."""
        # After the loop's end-of-run summary (numpy temporaries); reported, not judged.
        self.rss_stop = rss_bytes()
        if self.rss_end is None:
            self.rss_end = self.rss_stop

