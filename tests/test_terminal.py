"""TerminalDisplay: in-place line on a TTY, rate-capped plain lines into pipes."""

from __future__ import annotations

import io

import pytest

from aoc.display.state import DisplayState
from aoc.display.terminal import TerminalDisplay, format_line

STATE = DisplayState(anime=0.87, cartoon=0.12, verdict="anime", backend="edgetpu", fps=29.7)


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_format_line_has_the_facts():
    line = format_line(STATE.replace(frozen=True, message="no TPU - on CPU", live=True), 120)
    for part in ("anime  87%", "cartoon  12%", "ANIME", "TPU", "30 fps", "[frozen]",
                 "! no TPU - on CPU"):
        assert part in line
    assert "#" in line  # bars when there is room
    assert len(format_line(STATE.replace(message="x" * 300), 60)) == 60
    assert "blanked" in format_line(STATE.replace(blank=True))


@pytest.mark.parametrize("width", [120, 48])
def test_a_fault_does_not_show_the_last_verdict_as_current(width):
    """Under a fault the last reading is not live: the OLED drops its verdict, and so does
    the line (it printed ANIME while the camera was gone, and NEITHER under a bare model's
    label)."""
    fault = format_line(STATE.replace(message="camera lost - retrying"), width)
    assert "ANIME" not in fault and " - " in fault and "! camera lost" in fault
    live = format_line(STATE.replace(message="no TPU - on CPU", live=True), width)
    assert "ANIME" in live


def test_pipe_gets_plain_lines_at_a_capped_rate():
    out, clock = io.StringIO(), Clock()
    term = TerminalDisplay(out, width=80, min_interval_s=1.0, clock=clock)
    term.show(STATE)
    term.show(STATE.replace(anime=0.5))  # same verdict, too soon: skipped
    clock.now += 1.5
    term.show(STATE.replace(anime=0.6))
    term.show(STATE.replace(verdict="both"))  # a new verdict is written at once
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert "60%" in lines[1] and "BOTH" in lines[2]
    term.close()
    term.close()
    assert out.getvalue().count("\n") == 3  # close adds nothing to a pipe


def test_identical_lines_are_not_repeated():
    out, clock = io.StringIO(), Clock()
    term = TerminalDisplay(out, clock=clock)
    term.show(STATE)
    clock.now += 10
    term.show(STATE)
    assert out.getvalue().count("\n") == 1


def test_tty_redraws_one_line_in_place_with_ansi():
    out = FakeTTY()
    term = TerminalDisplay(out, width=100)
    term.show(STATE)
    term.show(STATE.replace(anime=0.3, verdict="neither"))
    text = out.getvalue()
    assert text.count("\r") == 2 and "\n" not in text
    assert "\x1b[K" in text and "\x1b[1m" in text  # ANSI because it is a TTY
    term.clear()
    term.close()
    term.close()
    assert out.getvalue().endswith("\n") and out.getvalue().count("\n") == 1


def test_tty_without_ansi_pads_over_the_old_line():
    out = FakeTTY()
    term = TerminalDisplay(out, width=100, ansi=False)
    term.show(STATE.replace(message="a long message that will go away"))
    term.show(STATE)
    first, second = out.getvalue().split("\r")[1:]
    assert "\x1b" not in out.getvalue() and len(second) == len(first)


def test_show_after_close_writes_nothing():
    out = io.StringIO()
    term = TerminalDisplay(out)
    term.close()
    term.show(STATE)
    assert out.getvalue() == ""


def test_open_display_builds_terminal_and_null():
    from aoc.display import open_display
    from aoc.display.base import Display
    from aoc.display.null import NullDisplay

    out = io.StringIO()
    with open_display("terminal", stream=out) as term:
        assert isinstance(term, TerminalDisplay) and isinstance(term, Display)
        term.show(STATE)
    assert "ANIME" in out.getvalue()
    with open_display("null", height=32) as null:
        assert isinstance(null, NullDisplay) and null.size == (128, 32)
        null.show(STATE)
        assert null.last == STATE and null.shown == 1
    assert null.closed


class ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_closed_pipe_calls_on_output_closed_once():
    calls = []
    term = TerminalDisplay(ClosedPipe(), width=80, on_output_closed=lambda: calls.append(1))
    term.show(STATE)
    term.show(STATE.replace(verdict="both"))
    term.close()
    assert calls == [1]


def test_closed_pipe_without_a_callback_raises():
    import pytest

    term = TerminalDisplay(ClosedPipe(), width=80)
    with pytest.raises(BrokenPipeError):
        term.show(STATE)


@pytest.mark.parametrize("message", ["camera unavailable - retrying in 5 s",
                                     "no camera - demo", "Egyptian cat 33%"])
def test_a_message_fits_in_80_columns_with_the_bars_giving_way(message):
    """At 80 columns the message was always the part cut off ('~')."""
    line = format_line(STATE.replace(message=message, live=True), 80)
    assert len(line) <= 80 and line.endswith(f"! {message}")
    assert "87%" in line and "12%" in line and "ANIME" in line
    assert "#" in format_line(STATE, 80)  # without a message the bars are back
