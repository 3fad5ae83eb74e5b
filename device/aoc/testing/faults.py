"""Fault injection: wrappers that make a source, classifier or display fail on purpose.

Used by the soak benchmark (:mod:`aoc.testing.soak`) and the fault tests to prove the appliance
survives what a Pi in the field does to it: a camera that errors or vanishes, an Edge TPU
whose inference fails or whose child process is killed, an OLED whose I2C writes fail.

A :class:`FaultSchedule` decides *when* to fail: at a rate (seeded, so runs repeat), on the
next ``n`` calls (:meth:`FaultSchedule.fail_next`), or always while :attr:`FaultSchedule.down`
is set (a device unplugged). The wrappers decide *how*: each raises the project's own error
for its device (:class:`~aoc.errors.CameraError`, :class:`~aoc.errors.InferenceError`,
:class:`~aoc.errors.DisplayError`), exactly what the real adapters raise, so the production
recovery paths (``ResilientSource``, ``FailoverClassifier``, ``ThreadedDisplay``) run
unchanged. Schedules are shared objects: a source factory may build a fresh
:class:`FaultySource` on every reopen and the counts still add up.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
from typing import Any, Self

import numpy as np

from aoc.errors import CameraError, ConfigError, DisplayError, InferenceError

log = logging.getLogger(__name__)

CLASSIFIER_FAULTS = ("error", "kill")


class FaultSchedule:
    """When a wrapped call fails: ``rate`` (0..1) per call, forced failures, or ``down``.

    ``seed`` makes the random sequence repeatable; ``rng`` may be passed instead. ``injected``
    counts the failures produced and ``calls`` the calls seen. Thread-safe (the display is
    drawn from its own thread).
    """

    def __init__(
        self,
        rate: float = 0.0,
        *,
        seed: int | None = 0,
        rng: random.Random | None = None,
        name: str = "fault",
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"fault rate for {name} must be within 0..1, got {rate!r}")
        self.rate = float(rate)
        self.name = name
        self._rng = rng or random.Random(seed)
        self._lock = threading.Lock()
        self._forced = 0
        self.down = False
        self.calls = 0
        self.injected = 0

    def fail_next(self, n: int = 1) -> None:
        """Make the next ``n`` calls fail, whatever the rate."""
        with self._lock:
            self._forced += n

    def fire(self) -> bool:
        """Count a call; True when this call must fail."""
        with self._lock:
            self.calls += 1
            if self.down:
                fail = True
            elif self._forced > 0:
                self._forced -= 1
                fail = True
            else:
                fail = self.rate > 0.0 and self._rng.random() < self.rate
            if fail:
                self.injected += 1
            return fail

    def __repr__(self) -> str:
        return (
            f"<FaultSchedule {self.name} rate={self.rate:g} down={self.down} "
            f"injected={self.injected}/{self.calls}>"
        )


class _Wrapper:
    """What the faulty wrappers share: ``close``, ``with``, and the inner object's
    attributes for anything not faked."""

    inner: Any

    def close(self) -> None:
        """Close the inner object; safe twice."""
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Anything not faked is the inner object's (fault, pid, frame_key, ...).
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FaultySource(_Wrapper):
    """A frame source whose ``open``/``read`` fail when their schedules say so.

    ``read_faults`` governs reads (a camera that errors mid-run), ``open_faults`` opening (no
    camera at start: set ``down`` or ``fail_next``). Everything else is the inner source's.
    """

    def __init__(
        self,
        inner: Any,
        *,
        read_faults: FaultSchedule | None = None,
        open_faults: FaultSchedule | None = None,
    ) -> None:
        self.inner = inner
        self.read_faults = read_faults or FaultSchedule(name="camera read")
        self.open_faults = open_faults or FaultSchedule(name="camera open")
        self.name: str = getattr(inner, "name", "source")
        self.is_live: bool = bool(getattr(inner, "is_live", True))

    def open(self) -> None:
        """Open the inner source, unless an open fault is due."""
        if self.open_faults.fire():
            raise CameraError(
                f"injected fault: camera {self.name} is not connected; check the ribbon cable"
            )
        self.inner.open()

    def read(self) -> np.ndarray:
        """The inner source's frame, unless a read fault is due."""
        if self.read_faults.fire():
            raise CameraError(f"injected fault: reading from camera {self.name} failed")
        return self.inner.read()  # type: ignore[no-any-return]

    def __enter__(self) -> Self:
        self.open()
        return self


class FaultyClassifier(_Wrapper):
    """A classifier whose ``invoke`` fails when its schedule says so.

    ``kind="error"`` raises :class:`~aoc.errors.InferenceError` (a USB transfer error);
    ``kind="kill"`` SIGKILLs the inner classifier's inference child (an
    :class:`aoc.inference.isolated.IsolatedClassifier`, which has ``pid``) and lets the real invoke
    discover the death. ``backend`` may be overridden so a CPU model can stand in for the
    Edge TPU in a failover test; ``open_faults`` lets a factory refuse to open (no TPU).
    """

    def __init__(
        self,
        inner: Any,
        *,
        faults: FaultSchedule | None = None,
        kind: str = "error",
        backend: str | None = None,
    ) -> None:
        if kind not in CLASSIFIER_FAULTS:
            raise ConfigError(
                f"classifier fault kind {kind!r} is not one of {', '.join(CLASSIFIER_FAULTS)}"
            )
        if kind == "kill" and not isinstance(getattr(inner, "pid", None), int):
            raise ConfigError(
                "classifier fault kind 'kill' needs a classifier with a child process "
                "(aoc.inference.isolated.IsolatedClassifier)"
            )
        self.inner = inner
        self.faults = faults or FaultSchedule(name="inference")
        self.kind = kind
        self.backend: str = backend or inner.backend
        self.reason: str = getattr(inner, "reason", "")
        self.labels: tuple[str, ...] = tuple(inner.labels)
        self.input_size: tuple[int, int] = tuple(inner.input_size)  # type: ignore[assignment]
        self.runtime_name: str = str(getattr(inner, "runtime_name", "unknown"))

    def preprocess(self, frame: np.ndarray) -> None:
        """Preprocess on the inner classifier."""
        self.inner.preprocess(frame)

    def invoke(self) -> None:
        """Run the model, or fail as scheduled."""
        if self.faults.fire():
            if self.kind == "kill":
                os.kill(self.inner.pid, signal.SIGKILL)
            else:
                hint = ("USB transfer error; check the Edge TPU cable" if self.backend == "edgetpu"
                        else "the interpreter failed; check the model bundle")
                raise InferenceError(f"injected fault: {self.backend} inference failed ({hint})")
        self.inner.invoke()

    def postprocess(self) -> np.ndarray:
        """Scores from the inner classifier."""
        return self.inner.postprocess()  # type: ignore[no-any-return]

    def classify(self, frame: np.ndarray) -> np.ndarray:
        """preprocess, invoke, postprocess."""
        self.preprocess(frame)
        self.invoke()
        return self.postprocess()


class FaultyDisplay(_Wrapper):
    """A display whose ``show`` (and ``clear``) fail when the schedule says so.

    Raises :class:`~aoc.errors.DisplayError`, as the OLED adapter does on an I2C error.
    """

    def __init__(self, inner: Any, *, faults: FaultSchedule | None = None) -> None:
        self.inner = inner
        self.faults = faults or FaultSchedule(name="display")
        self.size: tuple[int, int] = tuple(inner.size)  # type: ignore[assignment]

    def show(self, state: Any) -> None:
        """Show ``state`` on the inner display, or fail as scheduled."""
        if self.faults.fire():
            raise DisplayError("injected fault: I2C write to the OLED at 0x3c failed (errno 121)")
        self.inner.show(state)

    def clear(self) -> None:
        """Clear the inner display; fails only while the display is ``down``."""
        if self.faults.down:
            raise DisplayError("injected fault: the OLED at 0x3c does not answer")
        self.inner.clear()


DAMAGED_STATE_RECORDS: tuple[bytes, ...] = (
    b"/opt/bundles/caf\xe9\n",  # Latin-1, not UTF-8
    b"/opt/bun\x00dle\n",  # a NUL byte (what a torn write on FAT can leave)
    b"\x00" * 64,  # a block of zeros after a power cut
    b"relative/path\n",
    b"/a\n/b\n",
    b"x" * 10_000,
)
"""Contents a damaged ``last-good-bundle`` record may have; each must mean "no record"."""

BAD_CONFIGS: tuple[bytes, ...] = (
    b"# caf\xe9\n[camera]\nsource = \"demo\"\n",  # Latin-1 in a comment
    b"[camera]\nsource = \"dmeo\"\n",  # unknown source: refused at start-up
    b"[inference]\nedgetpu_device = \"usb0\"\n",
    b"[service]\nshutdown_command = \"/nonexistent/poweroff\"\n",
    b"[display\nkind = 1\n",  # not TOML
    b"\x00\x01\x02",
)
"""Config files that must be refused with a :class:`~aoc.errors.ConfigError`, never a crash."""


def start_up_faults(folder: Any, bundle_dir: Any) -> dict[str, Any]:
    """Start the app's model selection on every :data:`DAMAGED_STATE_RECORDS` and its config
    loading on every :data:`BAD_CONFIGS`, in ``folder`` (a temporary directory).

    Config reload is not implemented (a new config needs a restart), so both faults are
    tried the way a restart meets them. Returns the counts: each damaged record must give
    the configured bundle and be rewritten clean; each bad config must be a ConfigError.
    """
    from pathlib import Path

    from aoc.app.host import Host
    from aoc.app.model import open_model
    from aoc.config import load_config
    from aoc.config_sections import Config, ModelConfig
    from aoc.inference.model_select import CONFIGURED, read_last_good
    from aoc.sources.source_spec import check_source_spec

    folder, bundle_dir = Path(folder), Path(bundle_dir)
    state_dir = folder / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    record = state_dir / "last-good-bundle"
    config = Config(model=ModelConfig(bundle=str(bundle_dir)))
    survived = 0
    for content in DAMAGED_STATE_RECORDS:
        record.write_bytes(content)
        selection = open_model(config, Host(state_dir=state_dir), opener=lambda b: b)
        if (selection.candidate.kind == CONFIGURED
                and read_last_good(record) == bundle_dir.resolve()):
            survived += 1
    refused = 0
    for i, content in enumerate(BAD_CONFIGS):
        path = folder / f"config-{i}.toml"
        path.write_bytes(content)
        try:
            loaded = load_config(path)
            check_source_spec(loaded.camera.source)
        except ConfigError:
            refused += 1
    return {"damaged_state_records": len(DAMAGED_STATE_RECORDS),
            "state_records_survived": survived,
            "bad_configs": len(BAD_CONFIGS), "bad_configs_refused": refused}
