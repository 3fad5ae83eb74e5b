"""aoc.cli_output: how `aoc` ends when its standard output fails or Ctrl-C comes (a fake
stream stands in for /dev/full and for a pipe whose reader left; test_cli.py runs the real
ones in subprocesses)."""

from __future__ import annotations

import errno
import io
import sys

import pytest

from aoc.cli_output import EX_FAIL, EX_INTERRUPTED, EX_PIPE, CheckedOutput, run_guarded
from aoc.errors import OutputError


class Failing(io.StringIO):
    """Every write fails with ``error`` (ENOSPC: a full disk; EPIPE: the reader left)."""

    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        raise self.error


FULL = OSError(errno.ENOSPC, "No space left on device")


def test_an_error_argparse_swallows_still_ends_the_command_with_1(monkeypatch, capsys):
    """argparse's --help writes inside `except OSError: pass`: exit 0, and nothing said."""
    monkeypatch.setattr(sys, "stdout", Failing(FULL))

    def help_then_exit() -> int:
        try:
            print("usage: aoc ...")
        except OSError:  # what argparse's _print_message does
            pass
        raise SystemExit(0)

    assert run_guarded(help_then_exit) == EX_FAIL
    assert "aoc: cannot write to standard output: No space left on device" in (
        capsys.readouterr().err)


def test_ctrl_c_is_130_even_when_the_output_fails_too(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", Failing(FULL))

    def interrupted() -> int:
        with pytest.raises(OutputError):
            print("a line that cannot be written")
        raise KeyboardInterrupt

    assert run_guarded(interrupted) == EX_INTERRUPTED
    assert capsys.readouterr().err == "aoc: interrupted\n"


def test_a_reader_that_left_is_a_quiet_141(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", Failing(BrokenPipeError(errno.EPIPE, "Broken pipe")))

    def prints() -> int:
        print("x")
        return 0

    assert run_guarded(prints) == EX_PIPE and capsys.readouterr().err == ""


def test_a_closed_standard_output_is_taken_as_dev_null(monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)

    def prints() -> int:
        print("nobody reads this")
        return 0

    assert run_guarded(prints) == 0
    assert sys.stdout is None  # put back as it was


def test_checked_output_keeps_the_first_error():
    out = CheckedOutput(Failing(FULL))
    with pytest.raises(OutputError):
        out.write("x")
    first = out.error
    with pytest.raises(OutputError):
        out.write("y")
    assert out.error is first and isinstance(first, OSError)
    with pytest.raises(OutputError):
        out.finish()
