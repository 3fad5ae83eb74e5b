"""ThreadedDisplay: non-blocking submit, latest wins, change-only drawing, fault and reopen.

Every wait is on an Event set by the fake display (bounded by a timeout), never a sleep.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from aoc.display.state import DisplayState
from aoc.display.threaded import FAULT_LOST, ThreadedDisplay
from aoc.errors import DisplayError

WAIT = 5.0
STATE = DisplayState(anime=0.87, cartoon=0.12, verdict="anime", backend="edgetpu", fps=29.7)


class FakeDisplay:
    """Records states; ``gate`` (when set) holds show() until released; can fail."""

    def __init__(self, fail: bool = False):
        self.size = (128, 64)
        self.shown: list[DisplayState] = []
        self.fail = fail
        self.entered = threading.Event()
        self.gate: threading.Event | None = None
        self.changed = threading.Condition()
        self.cleared = 0
        self.closed = 0

    def show(self, state):
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(WAIT)
        if self.fail:
            raise DisplayError("OLED on I2C bus 1 address 0x3C stopped answering")
        with self.changed:
            self.shown.append(state)
            self.changed.notify_all()

    def wait_for(self, predicate):
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.shown), WAIT), self.shown

    def clear(self):
        self.cleared += 1

    def close(self):
        self.closed += 1


def test_shows_submitted_state_and_closes_cleanly():
    fake = FakeDisplay()
    threaded = ThreadedDisplay(fake, max_fps=0)
    threaded.submit(STATE)
    fake.wait_for(lambda shown: shown == [STATE])
    assert threaded.size == (128, 64) and threaded.fault is None
    threaded.close()
    threaded.close()
    assert fake.cleared == 1 and fake.closed == 1
    threaded.submit(STATE)  # ignored after close, no error


def test_submit_never_blocks_and_latest_wins():
    fake = FakeDisplay()
    fake.gate = threading.Event()
    with ThreadedDisplay(fake, max_fps=0) as threaded:
        threaded.submit(STATE)
        assert fake.entered.wait(WAIT)  # the thread is stuck inside show()
        for anime in (0.1, 0.2, 0.3, 0.4):
            threaded.submit(STATE.replace(anime=anime))  # returns although show() blocks
        fake.gate.set()
        fake.wait_for(lambda shown: len(shown) == 2)
        assert [s.anime for s in fake.shown] == [0.87, 0.4]


def test_only_changed_pictures_are_shown():
    fake = FakeDisplay()
    with ThreadedDisplay(fake, max_fps=0) as threaded:
        threaded.submit(STATE)
        fake.wait_for(lambda shown: len(shown) == 1)
        threaded.submit(STATE.replace(anime=0.871))  # same pixels: skipped
        threaded.submit(STATE.replace(dim=True))  # same pixels but dimmed: shown
        fake.wait_for(lambda shown: len(shown) == 2)
        assert fake.shown[1].dim and threaded.frames_shown == 2


def test_frame_rate_is_capped():
    fake = FakeDisplay()
    times = []
    show = fake.show

    def timed_show(state):
        times.append(time.monotonic())
        show(state)

    fake.show = timed_show
    with ThreadedDisplay(fake, max_fps=20.0, clock=time.monotonic) as threaded:
        threaded.submit(STATE)
        fake.wait_for(lambda shown: len(shown) == 1)
        threaded.submit(STATE.replace(anime=0.2))
        threaded.submit(STATE.replace(anime=0.3))  # normally arrives during the wait
        fake.wait_for(lambda shown: shown[-1].anime == 0.3)
    assert all(later - earlier >= 0.05 for earlier, later in zip(times, times[1:], strict=False))
    assert len(fake.shown) in (2, 3)  # 0.2 is dropped unless the test thread stalled


def test_frame_interval_tells_the_loop_how_often_a_state_can_be_drawn():
    with ThreadedDisplay(FakeDisplay(), max_fps=20.0) as capped:
        assert capped.frame_interval_s == pytest.approx(0.05)
    with ThreadedDisplay(FakeDisplay(), max_fps=0) as uncapped:
        assert uncapped.frame_interval_s == 0.0


def test_failure_is_logged_once_exposed_and_display_reopened(caplog):
    broken = FakeDisplay(fail=True)
    fresh = FakeDisplay()
    attempts = []
    reopened = threading.Event()

    def reopen():
        attempts.append(1)
        if len(attempts) < 3:
            raise DisplayError("OLED on I2C bus 1 address 0x3C stopped answering")
        reopened.set()
        return fresh

    faults = []
    back = threading.Event()

    def on_fault(fault):
        faults.append(fault)
        if fault is None:
            back.set()

    caplog.set_level(logging.INFO, logger="aoc.display.threaded")
    with ThreadedDisplay(broken, max_fps=0, retry_interval_s=0.01, reopen=reopen,
                         on_fault=on_fault) as threaded:
        threaded.submit(STATE)
        assert reopened.wait(WAIT) and back.wait(WAIT)
        assert fresh.shown == [STATE]  # the latest state is redrawn on the new display
        assert threaded.fault is None and threaded.errors == 3
    assert faults == [FAULT_LOST, None]  # one change each way, not one per retry
    assert broken.closed == 1 and fresh.closed == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and FAULT_LOST in errors[0].getMessage()
    assert any("display is back" in r.getMessage() for r in caplog.records)


def test_a_reopen_failing_in_its_own_way_keeps_the_thread_retrying(caplog):
    """SPI's GPIO libraries raise their own errors (RuntimeError, lgpio.error): the
    drawing thread must not die of one, or the panel would never come back."""
    fresh = FakeDisplay()
    attempts = []

    def reopen():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("Failed to add edge detection")
        return fresh

    back = threading.Event()  # the fault clears just after the frame is drawn: wait for it
    with ThreadedDisplay(FakeDisplay(fail=True), max_fps=0, retry_interval_s=0.01,
                         reopen=reopen, on_fault=lambda f: f is None and back.set()
                         ) as threaded:
        threaded.submit(STATE)
        fresh.wait_for(lambda shown: shown == [STATE])
        assert back.wait(WAIT)
        assert threaded.fault is None and threaded.errors == 2
    assert any("RuntimeError: Failed to add edge detection" in r.getMessage()
               for r in caplog.records)


def test_fault_stays_while_the_display_keeps_failing():
    fake = FakeDisplay(fail=True)
    threaded = ThreadedDisplay(fake, max_fps=0, retry_interval_s=0.01)
    threaded.submit(STATE)
    assert fake.entered.wait(WAIT)
    fake.entered.clear()
    assert fake.entered.wait(WAIT)  # retried the same display (no reopen given)
    assert threaded.fault == FAULT_LOST and "0x3C" in threaded.last_error
    fake.fail = False
    fake.wait_for(lambda shown: shown == [STATE])
    threaded.close()  # joins the thread, so the fault is cleared by now
    assert threaded.fault is None


def test_clear_is_done_by_the_thread():
    fake = FakeDisplay()
    with ThreadedDisplay(fake, max_fps=0) as threaded:
        threaded.submit(STATE)
        fake.wait_for(lambda shown: len(shown) == 1)
        threaded.clear()
        threaded.submit(STATE)  # after a clear the same picture is drawn again
        fake.wait_for(lambda shown: len(shown) == 2)
        assert fake.cleared == 1


@pytest.mark.parametrize("max_fps", [0, 10.0])
def test_close_while_idle_joins_quickly(max_fps):
    fake = FakeDisplay()
    threaded = ThreadedDisplay(fake, max_fps=max_fps)
    threaded.close()
    assert not threaded._thread.is_alive()


def test_a_renderer_bug_skips_the_state_but_keeps_drawing(caplog):
    fake = FakeDisplay()

    def renderer(state, size):
        if state.verdict == "both":
            raise ZeroDivisionError("layout bug")
        from aoc.display.render import render

        return render(state, size)

    with ThreadedDisplay(fake, max_fps=0, renderer=renderer) as threaded:
        threaded.submit(STATE.replace(verdict="both"))
        threaded.submit(STATE)  # may replace the bad one before it is drawn; either way
        fake.wait_for(lambda shown: shown == [STATE])
        threaded.submit(STATE.replace(verdict="both"))
        threaded.submit(STATE.replace(verdict="neither"))
        fake.wait_for(lambda shown: shown[-1].verdict == "neither")
    assert all(s.verdict != "both" for s in fake.shown)


def test_wraps_a_text_display_using_its_frame_key():
    import io

    from aoc.display.terminal import TerminalDisplay

    class Stream(io.StringIO):
        def __init__(self):
            super().__init__()
            self.written = threading.Event()

        def write(self, text):
            n = super().write(text)
            if "BOTH" in text:
                self.written.set()
            return n

    out = Stream()
    with ThreadedDisplay(TerminalDisplay(out, min_interval_s=0), max_fps=0) as threaded:
        assert threaded.size == (80, 1)
        threaded.submit(STATE)
        threaded.submit(STATE.replace(verdict="both"))
        assert out.written.wait(WAIT)
        assert threaded.fault is None


def test_an_oled_renders_each_shown_frame_once():
    pytest.importorskip("luma.oled")
    from luma.core.device import dummy

    from aoc.display.oled import OledDisplay
    from aoc.display.render import render

    calls: list[DisplayState] = []
    drawn = threading.Event()

    def renderer(state, size):
        calls.append(state)
        return render(state, size)

    class Panel(dummy):
        def display(self, image):
            super().display(image)
            drawn.set()

    panel = Panel(width=128, height=64, mode="1")
    oled = OledDisplay(device=panel, renderer=renderer)
    with ThreadedDisplay(oled, max_fps=0) as threaded:
        threaded.submit(STATE)
        assert drawn.wait(WAIT)
        assert calls == [STATE]  # rendered for the comparison, and that picture was sent
        assert panel.image.tobytes() == render(STATE, (128, 64)).tobytes()


def test_an_unchanged_screen_still_gets_its_full_refresh():
    """The drawing thread slept until the next state, so an OLED showing the same picture
    never got the full frame that guards against a corrupted panel memory."""
    pytest.importorskip("luma.oled")
    from luma.oled.device import ssd1306

    from aoc.display.oled import OledDisplay

    frames: list[int] = []
    refreshed = threading.Event()

    class Wire:  # a luma serial interface; the ssd1306 sends each frame as one data call
        def command(self, *cmd):
            pass

        def data(self, data):
            frames.append(len(data))
            if frames.count(1024) >= 4:  # luma's clear at init, the picture, two refreshes
                refreshed.set()

        def cleanup(self):
            pass

    oled = OledDisplay(device=ssd1306(Wire()), full_refresh_s=0.02)
    with ThreadedDisplay(oled, max_fps=0) as threaded:
        threaded.submit(STATE)  # one picture, never changed
        assert refreshed.wait(WAIT)
    assert set(frames) == {1024}  # whole frames only: nothing else changed


def test_a_maintain_that_fails_is_not_called_again_at_once(caplog):
    """An upkeep that raised something other than an OSError (a GPIO library's own error)
    left the upkeep time in the past: the thread called it again at once, for good (20,000
    log records a second, a core pegged)."""
    calls: list[int] = []
    failed, again = threading.Event(), threading.Event()

    class Failing(FakeDisplay):
        def maintain(self):
            calls.append(1)
            if len(calls) == 1:
                return 0.0  # due at once: the next call is the failing one
            if len(calls) > 2:
                again.set()
            failed.set()
            raise RuntimeError("The GPIO channel has not been set up as an OUTPUT")

    display = Failing()
    with ThreadedDisplay(display, max_fps=0) as threaded:
        threaded.submit(STATE)
        assert failed.wait(WAIT)
        assert not again.wait(0.3)  # not called again without a new picture
    assert len(calls) == 2


def test_a_display_missing_at_start_up_is_retried_like_a_lost_one(caplog):
    """A headless box without its panel must still run: the panel comes when it answers."""
    fresh = FakeDisplay()
    came = threading.Event()
    attempts = []

    def reopen():
        attempts.append(1)
        if len(attempts) < 2:
            raise DisplayError("OLED on I2C bus 1 address 0x3C stopped answering")
        came.set()
        return fresh

    back = threading.Event()
    with ThreadedDisplay(None, size=(128, 64), lost_because="no /dev/i2c-1", max_fps=0,
                         retry_interval_s=0.01, reopen=reopen,
                         on_fault=lambda f: f is None and back.set()) as threaded:
        assert threaded.errors >= 1  # lost from the start (retries may have begun)
        threaded.submit(STATE)
        assert came.wait(WAIT)
        fresh.wait_for(lambda shown: shown == [STATE])
        assert back.wait(WAIT) and threaded.fault is None
    assert "no /dev/i2c-1" in caplog.text
    with pytest.raises(ValueError, match="reopen= and size="):
        ThreadedDisplay(None)


def test_a_panel_back_before_anything_is_shown_is_opened_once_and_not_polled():
    """A panel that failed at start-up and answers before the loop's first state: the
    thread reopened it in a tight loop, never closing the copies (an I2C handle and luma's
    device each time, until the fd guard or the OOM killer restarted the service)."""
    opened: list[FakeDisplay] = []
    first, second = threading.Event(), threading.Event()
    clock_calls = [0]

    def clock():
        clock_calls[0] += 1
        return time.monotonic()

    def reopen():
        opened.append(FakeDisplay())
        (second if len(opened) > 1 else first).set()
        return opened[-1]

    with ThreadedDisplay(None, size=(128, 64), lost_because="no ACK", max_fps=0,
                         retry_interval_s=0.01, reopen=reopen, clock=clock) as threaded:
        assert first.wait(WAIT)
        calls = clock_calls[0]
        assert not second.wait(0.2)  # no second panel while nothing is to be drawn
        assert clock_calls[0] - calls < 10  # and the thread sleeps, not spins
        threaded.submit(STATE)
        opened[0].wait_for(lambda shown: shown == [STATE])
        assert threaded.fault is None
    assert len(opened) == 1 and opened[0].closed == 1
