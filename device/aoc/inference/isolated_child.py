"""The inference child's side of :mod:`aoc.inference.isolated`: open the classifier, then serve
``attach`` / ``fault`` / ``invoke`` / ``close`` commands from a pipe, with pixels and
scores in shared memory.

Runs in a ``spawn``-ed process, so everything here must be importable and picklable by
reference. Replies are tuples: ``("ready", info)``, ``("ok",)`` or
``("error", exception class name, message)``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import TYPE_CHECKING

import numpy as np

from aoc.errors import AocError

if TYPE_CHECKING:
    from aoc.inference.classifier import Classifier

FAULTS = ("abort", "kill", "hang", "exit", "error")


def _fault(kind: str) -> None:
    """Test hook, run in the child: misbehave the way a broken libedgetpu/USB link does."""
    if kind == "abort":
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file for a deliberate abort
        os.abort()
    elif kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "hang":
        threading.Event().wait()
    elif kind == "exit":
        os._exit(3)
    raise RuntimeError("injected inference fault")


def child_main(opener: Callable[[], Classifier], conn: Connection) -> None:
    """The child: open the classifier, then serve commands until told to close."""
    # Ctrl-C and a closed terminal reach the whole process group: the parent handles them
    # (it stops the loop and closes this child); the child must not die with a traceback.
    if threading.current_thread() is threading.main_thread():  # tests serve from a thread
        for signum in (signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
    try:
        clf = opener()
    except AocError as exc:
        conn.send(("error", type(exc).__name__, str(exc)))
        return
    except Exception as exc:  # noqa: BLE001 -- anything at all must reach the parent as text
        conn.send(("error", "BackendError", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(
        (
            "ready",
            {
                "backend": clf.backend,
                "reason": clf.reason,
                "labels": clf.labels,
                "runtime_name": clf.runtime_name,
                "model_path": str(clf.model_path),
                "output_kind": clf.output_kind,
                "preprocess_spec": clf.preprocess_spec,
            },
        )
    )
    segments: list[SharedMemory] = []
    pixels = scores = None
    armed: str | None = None
    try:
        while True:
            try:
                command, *args = conn.recv()
            except EOFError:  # the parent went away
                return
            if command == "attach":
                (in_name, in_shape, in_dtype, out_name, out_len) = args
                segments = [SharedMemory(name=in_name), SharedMemory(name=out_name)]
                pixels = np.ndarray(in_shape, np.dtype(in_dtype), buffer=segments[0].buf)
                scores = np.ndarray((out_len,), np.float32, buffer=segments[1].buf)
                conn.send(("ok",))
            elif command == "fault":
                armed = args[0]
                conn.send(("ok",))
            elif command == "invoke":
                try:
                    if armed is not None:
                        kind, armed = armed, None
                        _fault(kind)
                    clf.load_input(pixels)
                    clf.invoke()
                    np.copyto(scores, clf.postprocess())
                except (AocError, RuntimeError, ValueError) as exc:
                    conn.send(("error", type(exc).__name__, str(exc)))
                else:
                    conn.send(("ok",))
            elif command == "close":
                conn.send(("ok",))
                return
    finally:
        pixels = scores = None
        for segment in segments:
            segment.close()
        clf.close()
