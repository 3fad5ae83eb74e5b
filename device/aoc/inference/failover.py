"""Edge TPU first, CPU when it fails, and back to the TPU when it returns.

:class:`FailoverClassifier` holds a primary classifier (normally the Edge TPU, often an
:class:`aoc.inference.isolated.IsolatedClassifier`) and a fallback (the CPU model), both made by
factories. When the primary fails mid-run the same frame is re-run on the fallback, so no
result is lost; every ``reprobe_interval_s`` the primary factory is tried again, less often
while an attached TPU keeps failing to open (see :class:`FailoverClassifier`). The clock is
injectable so tests need no sleeps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from aoc.errors import AocError, EdgeTpuNotFound, InferenceError
from aoc.inference.preprocess import check_frame
from aoc.resource import Closing

log = logging.getLogger(__name__)

FAULT_NO_TPU = "no TPU - on CPU"
FAULT_TPU_LOST = "TPU lost - on CPU"
REPROBE_MAX_S = 1800.0


class ClassifierLike(Protocol):
    """What :class:`aoc.inference.classifier.Classifier` and ``IsolatedClassifier`` both offer."""

    backend: str
    reason: str
    labels: tuple[str, ...]
    input_size: tuple[int, int]

    def preprocess(self, frame: np.ndarray) -> None:
        """Fit ``frame`` into the model's input."""

    def invoke(self) -> None:
        """Run the model on the input set by :meth:`preprocess`."""

    def postprocess(self) -> np.ndarray:
        """The class probabilities of the last invoke."""

    def classify(self, frame: np.ndarray) -> np.ndarray:
        """:meth:`preprocess`, :meth:`invoke` and :meth:`postprocess` in one call."""

    def close(self) -> None:
        """Release the interpreter (and its child process or delegate); safe twice."""


def _close_quietly(clf: ClassifierLike | None) -> None:
    if clf is None:
        return
    try:
        clf.close()
    except (AocError, OSError) as exc:  # a dead TPU may fail to close; we are leaving it anyway
        log.warning("closing the failed %s classifier: %s", clf.backend, exc)


class FailoverClassifier(Closing):
    """The Classifier interface over a primary and a fallback classifier.

    ``fault`` is a short line for the display (``"TPU lost - on CPU"``) or None while the
    primary runs. ``failovers`` counts mid-run switches to the fallback, ``reprobes`` the
    attempts to reopen the primary. ``reprobe_interval_s=None`` never retries.
    ``reprobe_factory`` (default ``primary_factory``) reopens it: re-probes run on the loop
    thread mid-run, so they may need a shorter time limit than the first open.

    A re-probe that finds no TPU (:class:`~aoc.errors.EdgeTpuNotFound`) is cheap and is
    repeated every ``reprobe_interval_s``, so a Coral plugged in is soon used. One that
    finds a TPU that will not open (a crashing delegate, a child that hangs) stalls the
    loop for its start-up, so each such failure in a row doubles the wait, up to
    ``reprobe_max_s``.
    """

    def __init__(
        self,
        primary_factory: Callable[[], ClassifierLike],
        fallback_factory: Callable[[], ClassifierLike],
        *,
        reprobe_interval_s: float | None = 30.0,
        reprobe_factory: Callable[[], ClassifierLike] | None = None,
        reprobe_max_s: float = REPROBE_MAX_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary_factory = primary_factory
        self._reprobe_factory = reprobe_factory or primary_factory
        self._fallback_factory = fallback_factory
        self.reprobe_interval_s = reprobe_interval_s
        self.reprobe_max_s = reprobe_max_s
        self._failing = 0  # re-probes in a row that found a TPU and could not open it
        self._last_failure = ""  # what the last re-probe failed with (logged once)
        self._clock = clock
        self.failovers = 0
        self.reprobes = 0
        self.fault: str | None = None
        self._primary: ClassifierLike | None = None
        self._fallback: ClassifierLike | None = None
        self._frame: np.ndarray | None = None
        self._next_probe = float("inf")
        try:
            self._primary = primary_factory()
        except AocError as exc:
            self._use_fallback(exc, FAULT_NO_TPU, "Edge TPU unavailable")
        else:
            self.reason = self._primary.reason
            log.info("failover: starting on %s", self._primary.backend)

    # --- state -------------------------------------------------------------------------

    @property
    def current(self) -> ClassifierLike:
        """The classifier now in use."""
        clf = self._primary or self._fallback
        if clf is None:
            raise InferenceError("the failover classifier is closed: open a new one")
        return clf

    @property
    def backend(self) -> str:
        """``"edgetpu"`` or ``"cpu"``: the backend of the classifier now in use."""
        return self.current.backend

    @property
    def labels(self) -> tuple[str, ...]:
        """Labels, index = class id."""
        return self.current.labels

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) the model wants."""
        return self.current.input_size

    @property
    def preprocess_spec(self) -> Any:
        """The preprocessing of the classifier in use (``None`` if it has none): how frames
        are fitted, for whoever fits them outside (``aoc explain``, prefetching)."""
        return getattr(self.current, "preprocess_spec", None)

    @property
    def runtime_name(self) -> str:
        """The TFLite runtime of the classifier in use."""
        return str(getattr(self.current, "runtime_name", "unknown"))

    # --- switching ---------------------------------------------------------------------

    def _use_fallback(self, exc: BaseException, fault: str, what: str) -> None:
        _close_quietly(self._primary)
        self._primary = None
        if self._fallback is None:
            self._fallback = self._fallback_factory()
        self.fault = fault
        self.reason = f"{what} ({exc}); {self._fallback.reason}"
        if self.reprobe_interval_s is not None:
            self._next_probe = self._clock() + self.reprobe_interval_s
        log.warning("failover: %s", self.reason)

    def _maybe_reprobe(self) -> None:
        if self._primary is not None or self._clock() < self._next_probe:
            return
        self.reprobes += 1
        try:
            self._primary = self._reprobe_factory()
        except AocError as exc:
            wait = self._retry_wait(exc)
            self._next_probe = self._clock() + wait
            # the same failure again (no Coral plugged in, for months) goes to debug: one
            # line a minute would fill the journal with nothing new
            level = logging.DEBUG if str(exc) == self._last_failure else logging.INFO
            self._last_failure = str(exc)
            log.log(level, "failover: re-probe %d failed: %s; next in %.0f s", self.reprobes,
                    exc, wait)
            return
        self._failing = 0
        self.fault = None
        self.reason = self._primary.reason
        self._next_probe = float("inf")
        log.warning("failover: primary back on %s after %d re-probes", self.backend, self.reprobes)

    def _retry_wait(self, exc: AocError) -> float:
        """Seconds to the next re-probe after one failed with ``exc``."""
        base = self.reprobe_interval_s or 0.0
        if isinstance(exc, EdgeTpuNotFound):
            self._failing = 0
            return base
        self._failing = min(self._failing + 1, 32)  # 2**32 times any interval is past the cap
        return min(base * 2 ** self._failing, max(base, self.reprobe_max_s))

    def _stage(self, name: str) -> Any:
        clf = self.current
        args = (self._frame,) if name == "preprocess" else ()
        try:
            return getattr(clf, name)(*args)
        except AocError as exc:
            if clf is not self._primary or self._frame is None:
                raise
            self.failovers += 1
            self._use_fallback(exc, FAULT_TPU_LOST, "Edge TPU failed mid-run")
        # Re-run the stages done so far on the fallback: the frame's result is not lost.
        fallback = self.current
        fallback.preprocess(self._frame)
        if name == "preprocess":
            return None
        fallback.invoke()
        return None if name == "invoke" else fallback.postprocess()

    # --- Classifier interface ----------------------------------------------------------

    def preprocess(self, frame: np.ndarray) -> None:
        """Re-probe the primary when due, then preprocess ``frame``."""
        # A bad frame is the caller's fault, not the TPU's: refuse it before any failover.
        self._frame = check_frame(frame)
        self._maybe_reprobe()
        self._stage("preprocess")

    def invoke(self) -> None:
        """Run the model; on a primary failure, re-run the frame on the fallback."""
        self._stage("invoke")

    def postprocess(self) -> np.ndarray:
        """The scores of the current frame."""
        return self._stage("postprocess")

    def classify(self, frame: np.ndarray) -> np.ndarray:
        """preprocess, invoke, postprocess (with failover)."""
        self.preprocess(frame)
        self.invoke()
        return self.postprocess()

    def close(self) -> None:
        """Close both classifiers; safe to call twice."""
        _close_quietly(self._primary)
        _close_quietly(self._fallback)
        self._primary = self._fallback = None
        self._frame = None
