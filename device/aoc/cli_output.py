"""How ``aoc`` ends when its standard output fails or Ctrl-C comes, as Unix tools do.

* A closed output pipe (``aoc classify ... | head -1``): quiet, exit 141.
* Ctrl-C: ``aoc: interrupted``, exit 130, even when what is still buffered cannot be
  written (the reader of a pipe gets the same Ctrl-C).
* An output that cannot be written (a full disk, ``> /dev/full``): one line on stderr,
  exit 1; also when argparse's ``--help`` or ``--version`` met it (argparse swallows the
  error) and when it comes only in the last flush (the interpreter's "Exception ignored"
  and exit 120 otherwise).
* A closed standard output (``>&-``): taken as ``/dev/null``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from aoc.errors import OutputError

log = logging.getLogger(__name__)

EX_FAIL, EX_INTERRUPTED, EX_PIPE = 1, 130, 141  # 128 + SIGINT, 128 + SIGPIPE


class CheckedOutput:
    """Standard output whose write errors are an :class:`OutputError` naming it (a closed
    pipe stays a ``BrokenPipeError``); the first is kept, for callers that swallow it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.error: OSError | None = None

    def _checked(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError as exc:
            self.error = self.error or exc
            raise
        except OSError as exc:
            error = OutputError(f"cannot write to standard output: {exc.strerror or exc}")
            self.error = self.error or error
            raise error from exc

    def write(self, text: str) -> int:
        """Write ``text``; raises OutputError when the output cannot take it."""
        return int(self._checked(self._stream.write, text))

    def flush(self) -> None:
        """Flush; raises OutputError when the output cannot take what is buffered."""
        self._checked(self._stream.flush)

    def finish(self) -> None:
        """Flush what is buffered, and raise the first error even if a caller swallowed it."""
        self.flush()
        if self.error is not None:
            raise self.error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def run_guarded(body: Callable[[], int]) -> int:
    """``body()``'s exit code, with standard output guarded as the module says."""
    saved = sys.stdout
    out = CheckedOutput(saved if saved is not None else open(os.devnull, "w"))  # noqa: SIM115
    sys.stdout = out
    try:
        return _ended(body, out)
    except BrokenPipeError:
        silence_stdout()
        return EX_PIPE
    except OutputError as exc:
        print(f"aoc: {exc}", file=sys.stderr)
        silence_stdout()  # what is left in the buffer must not fail again at exit
        return EX_FAIL
    finally:
        sys.stdout = saved


def _ended(body: Callable[[], int], out: CheckedOutput) -> int:
    try:
        code = body()
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):  # the interrupt is what is said, not the output
            out.flush()
        silence_stdout()
        print("aoc: interrupted", file=sys.stderr)
        return EX_INTERRUPTED
    except SystemExit:  # argparse's --help, --version and usage errors
        out.finish()
        raise
    out.finish()
    return code


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError) as exc:  # stdout without a file descriptor (tests)
        log.debug("cannot redirect stdout: %s", exc)
