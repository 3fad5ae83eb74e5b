"""Run inference in a child process, so a crash in libedgetpu kills only the child.

libedgetpu aborts the whole process on some USB errors (a pulled cable, a brown-out). Here
the interpreter lives in a child process (``spawn`` context: no inherited threads or
locks). The parent preprocesses frames straight into shared memory, sends a tiny command
down a pipe, and reads the scores from shared memory. Every call has a timeout; a child that
dies or hangs becomes an :class:`~aoc.errors.InferenceError` naming the exit code or signal,
and the parent carries on (``aoc.inference.failover`` then switches to the CPU).

The child's side is :mod:`aoc.inference.isolated_child`. ``spawn`` re-imports the main module in
the child: scripts need the usual ``if __name__ == "__main__":`` guard (console-script
entry points have it).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import signal
from collections.abc import Callable
from multiprocessing.shared_memory import SharedMemory
from typing import TYPE_CHECKING, Any

import numpy as np

from aoc import errors
from aoc.errors import AocError, InferenceError
from aoc.inference.isolated_child import FAULTS, child_main
from aoc.inference.preprocess import Preprocessor
from aoc.resource import Closing

if TYPE_CHECKING:
    from aoc.inference.bundle import Bundle
    from aoc.inference.classifier import Classifier

__all__ = [
    "IsolatedClassifier",
    "describe_exit",
    "open_isolated_classifier",
]

log = logging.getLogger(__name__)


def describe_exit(exitcode: int | None) -> str:
    """``"killed by SIGABRT"`` / ``"exit code 3"`` / ``"still running"``."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class IsolatedClassifier(Closing):
    """The :class:`~aoc.inference.classifier.Classifier` interface, with the model in a child
    process.

    ``opener`` is a picklable zero-argument callable that opens the classifier inside the
    child (see :func:`open_isolated_classifier`).
    """

    def __init__(
        self,
        opener: Callable[[], Classifier],
        *,
        call_timeout_s: float = 2.0,
        start_timeout_s: float = 60.0,
        context: str = "spawn",
    ) -> None:
        self.call_timeout_s = call_timeout_s
        self._dead: str | None = None
        self._segments: list[SharedMemory] = []
        self._pixels: np.ndarray | None = None
        self._scores: np.ndarray | None = None
        ctx = multiprocessing.get_context(context)
        try:
            self._conn, child_conn = ctx.Pipe()
        except OSError as exc:  # EMFILE/ENFILE: no file descriptors left
            raise errors.BackendError(
                f"could not open a pipe to an inference child process ({exc}); the CPU model "
                "stands in (check the unit's LimitNOFILE and `ls /proc/<pid>/fd`)"
            ) from exc
        self._process = ctx.Process(
            target=child_main, args=(opener, child_conn), name="aoc-inference", daemon=True
        )
        try:
            self._process.start()
        except OSError as exc:  # EAGAIN under the unit's TasksMax, ENOMEM: no child at all
            child_conn.close()
            self._conn.close()
            raise errors.BackendError(
                f"could not start the inference child process ({exc}); the CPU model "
                "stands in (check the unit's TasksMax and the free memory)"
            ) from exc
        child_conn.close()  # so the parent sees EOF when the child dies
        self.pid = self._process.pid
        try:
            self._start(start_timeout_s)
        except BaseException:
            self.close()
            raise

    def _start(self, timeout: float) -> None:
        reply = self._receive(timeout, "starting")
        if reply[0] == "error":
            error_type = getattr(errors, reply[1], errors.BackendError)
            if not (isinstance(error_type, type) and issubclass(error_type, AocError)):
                error_type = errors.BackendError
            raise error_type(f"{reply[2]} (in inference child process {self.pid})")
        info = reply[1]
        self.backend: str = info["backend"]
        self.reason: str = info["reason"]
        self.labels: tuple[str, ...] = tuple(info["labels"])
        self.runtime_name: str = info["runtime_name"]
        self.model_path: str = info["model_path"]
        self.output_kind: str = info["output_kind"]
        self.preprocess_spec = info["preprocess_spec"]
        self._pre = Preprocessor(self.preprocess_spec)
        self.input_size = self._pre.size
        shape, dtype = self._pre.shape, self._pre.dtype
        for size in (int(np.prod(shape)) * dtype.itemsize, max(1, len(self.labels)) * 4):
            # one at a time, each kept at once: close() unlinks what was made before a failure
            try:
                self._segments.append(SharedMemory(create=True, size=size))
            except OSError as exc:  # /dev/shm full (ENOSPC) or no descriptors left
                raise errors.BackendError(
                    f"could not create {size} bytes of shared memory for inference child "
                    f"process {self.pid} ({exc}); the CPU model stands in (check the free "
                    "space of /dev/shm: `df -h /dev/shm`)"
                ) from exc
        self._pixels = np.ndarray(shape, dtype, buffer=self._segments[0].buf)
        self._scores = np.ndarray((len(self.labels),), np.float32, buffer=self._segments[1].buf)
        self._call(
            "attach",
            self._segments[0].name,
            shape,
            dtype.str,
            self._segments[1].name,
            len(self.labels),
        )
        log.info("inference child %d: %s", self.pid, self.reason)

    @property
    def alive(self) -> bool:
        """True while the child serves requests."""
        return self._dead is None and self._process.is_alive()

    def _died(self, doing: str) -> InferenceError:
        self._process.join(5.0)  # EOF came first; the exit status follows at once
        code = self._process.exitcode
        how = describe_exit(code)
        if doing != "starting":
            hint = ("libedgetpu may have aborted on a USB error; check the Edge TPU's cable "
                    "and power, then reopen")
        elif code is not None and code < 0:
            # a crash, not a Python error: Coral's libedgetpu 16.0 was built against
            # TensorFlow 2.5 and is reported to segfault under newer TFLite runtimes
            hint = ("libedgetpu crashed while loading the model; check that the installed "
                    "libedgetpu was built for this TFLite runtime (`aoc doctor` names both), "
                    "and the Edge TPU's cable and power")
        else:
            hint = ("see its traceback above; a script starting it needs an `if __name__ == "
                    '"__main__":` guard (spawn re-imports the main module)')
        self._dead = f"inference child process {self.pid} died ({how}) while {doing}: {hint}"
        log.error("%s", self._dead)
        return InferenceError(self._dead)

    def _receive(self, timeout: float, doing: str) -> tuple[Any, ...]:
        try:
            ready = self._conn.poll(timeout)
            if not ready:
                self._process.kill()
                self._process.join(5.0)
                self._dead = (
                    f"inference child process {self.pid} did not answer within {timeout:g} s "
                    f"while {doing}; killed it ({describe_exit(self._process.exitcode)}): "
                    "the Edge TPU may be hung, re-plug it"
                )
                log.error("%s", self._dead)
                raise InferenceError(self._dead)
            return self._conn.recv()
        except (EOFError, OSError) as exc:
            raise self._died(doing) from exc

    def _call(self, command: str, *args: Any) -> None:
        if self._dead is not None:
            raise InferenceError(self._dead)
        try:
            self._conn.send((command, *args))
        except OSError as exc:  # BrokenPipeError: the child is gone
            raise self._died(f"sending {command!r}") from exc
        reply = self._receive(self.call_timeout_s, f"running {command!r}")
        if reply[0] == "error":
            raise InferenceError(
                f"{self.backend} inference in child process {self.pid} failed: "
                f"{reply[1]}: {reply[2]}"
            )

    def preprocess(self, frame: np.ndarray) -> None:
        """Fit and quantize ``frame`` into the shared input buffer (in this process)."""
        if self._pixels is None:
            raise InferenceError(self._dead or "the isolated classifier is closed")
        self._pre(frame, self._pixels)

    def invoke(self) -> None:
        """Have the child run the model; raises InferenceError on death, timeout or error."""
        self._call("invoke")

    def postprocess(self) -> np.ndarray:
        """The scores the child wrote for the last invoke (a copy)."""
        if self._scores is None:
            raise InferenceError(self._dead or "the isolated classifier is closed")
        return self._scores.copy()

    def classify(self, frame: np.ndarray) -> np.ndarray:
        """preprocess, invoke, postprocess."""
        self.preprocess(frame)
        self.invoke()
        return self.postprocess()

    def inject_fault(self, kind: str) -> None:
        """Test hook: make the child's next invoke misbehave (one of ``FAULTS``)."""
        if kind not in FAULTS:
            raise InferenceError(f"unknown fault {kind!r}: use one of {', '.join(FAULTS)}")
        self._call("fault", kind)

    def close(self) -> None:
        """Stop the child and free the shared memory; safe to call twice."""
        if self._process.is_alive() and self._dead is None:
            try:
                self._conn.send(("close",))
                if self._conn.poll(self.call_timeout_s):
                    self._conn.recv()
            except (EOFError, OSError):
                pass  # it died on its way out: nothing left to tell it
            self._process.join(self.call_timeout_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5.0)
        self._dead = self._dead or "the isolated classifier is closed"
        self._conn.close()
        self._pixels = self._scores = None  # views must go before the segments close
        for segment in self._segments:
            segment.close()
            segment.unlink()
        self._segments = []


def open_isolated_classifier(
    bundle: Bundle,
    *,
    prefer: str = "edgetpu",
    edgetpu_device: str = "usb",
    num_threads: int | None = None,
    call_timeout_s: float = 2.0,
    start_timeout_s: float = 60.0,
    context: str = "spawn",
) -> IsolatedClassifier:
    """:func:`aoc.inference.classifier.open_classifier` in a child process (same arguments)."""
    from aoc.inference.classifier import open_classifier

    opener = functools.partial(
        open_classifier,
        bundle,
        prefer=prefer,
        edgetpu_device=edgetpu_device,
        num_threads=num_threads,
    )
    return IsolatedClassifier(
        opener, call_timeout_s=call_timeout_s, start_timeout_s=start_timeout_s, context=context
    )
