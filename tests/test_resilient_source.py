"""ResilientSource: retry with back-off, None while down, counters, one log per change."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from fakes.clock import FakeClock

from aoc.errors import CameraError, ConfigError
from aoc.sources.resilient import ResilientSource


class FlakySource:
    """Reads ``good_reads`` frames, then fails; counts closes."""

    is_live = True

    def __init__(self, serial: int, good_reads: int | None = None) -> None:
        self.name = "fake-cam"
        self.serial = serial
        self.good_reads = good_reads
        self.reads = 0
        self.opened = False
        self.closes = 0

    def open(self) -> None:
        self.opened = True

    def read(self) -> np.ndarray:
        if self.good_reads is not None and self.reads >= self.good_reads:
            raise CameraError("fake-cam unplugged")
        self.reads += 1
        return np.full((2, 2, 3), self.serial, np.uint8)

    def close(self) -> None:
        self.closes += 1

    def __enter__(self) -> FlakySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Factory:
    """Fails ``fail_first`` times, then builds sources that each read ``good_reads`` frames."""

    def __init__(self, fail_first: int = 0, good_reads: int | None = None) -> None:
        self.fail_first = fail_first
        self.good_reads = good_reads
        self.calls = 0
        self.built: list[FlakySource] = []

    def __call__(self) -> FlakySource:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise CameraError(f"no camera (attempt {self.calls})")
        source = FlakySource(len(self.built) + 1, self.good_reads)
        self.built.append(source)
        return source


def make(factory: Factory, clock: FakeClock, **kw: object) -> ResilientSource:
    return ResilientSource(factory, backoff=(0.5, 1, 2, 5), clock=clock, sleep=clock.sleep, **kw)


def test_healthy_source_passes_frames_through():
    clock, factory = FakeClock(), Factory()
    with make(factory, clock) as src:
        assert src.read()[0, 0, 0] == 1
        assert src.fault is None and src.failures == 0 and src.recoveries == 0
        assert src.name == "fake-cam"
    assert factory.built[0].closes == 1


def test_no_camera_at_start_retries_with_backoff_then_recovers(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger="aoc.sources.resilient")
    clock, factory = FakeClock(), Factory(fail_first=3)
    src = make(factory, clock, idle_s=10.0)
    src.open()  # does not raise
    assert src.is_down and src.failures == 1
    assert src.fault == "camera unavailable - retrying in 0.5 s"
    start = clock.now
    assert src.read() is None  # sleeps until the retry is due, no attempt yet
    assert clock.slept == [0.5] and factory.calls == 1
    assert src.read() is None  # retry 2 at +0.5 fails; waits (1 s) for the next
    assert factory.calls == 2 and src.fault.endswith("retrying in 1 s")
    assert src.read() is None  # retry 3 fails; waits 2 s
    assert factory.calls == 3 and clock.slept == [0.5, 1, 2]
    frame = src.read()  # retry 4 succeeds
    assert frame is not None and frame[0, 0, 0] == 1
    assert clock.now - start == pytest.approx(3.5)
    assert src.fault is None and src.failures == 3 and src.recoveries == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1 and len(infos) == 1  # once per state change
    src.close()


def test_mid_run_loss_returns_none_and_reopens():
    clock, factory = FakeClock(), Factory(good_reads=2)
    src = make(factory, clock)
    src.open()
    assert src.read() is not None and src.read() is not None
    assert src.read() is None  # the third read fails
    assert src.fault == "camera lost - retrying in 0.5 s"
    assert factory.built[0].closes == 1  # the dead source was released
    clock.now += 0.5
    frame = src.read()
    assert frame is not None and frame[0, 0, 0] == 2  # a fresh source
    assert src.failures == 1 and src.recoveries == 1 and src.fault is None


def test_a_camera_that_worked_stays_lost_while_reopening_fails():
    """The screen said "camera lost" for 0.5 s, then "camera unavailable" for good."""
    clock, built = FakeClock(), []

    def factory() -> FlakySource:
        if built:
            raise CameraError("no camera")  # unplugged: every reopen fails
        built.append(FlakySource(1, good_reads=1))
        return built[-1]

    src = make(factory, clock, idle_s=0)
    src.open()
    assert src.read() is not None
    faults = []
    for _ in range(4):
        assert src.read() is None
        faults.append(src.fault)
        clock.now += 10
    assert faults == ["camera lost - retrying in 0.5 s", "camera lost - retrying in 1 s",
                      "camera lost - retrying in 2 s", "camera lost - retrying in 5 s"]


def test_backoff_caps_at_last_value():
    clock, factory = FakeClock(), Factory(fail_first=100)
    src = make(factory, clock, idle_s=0)
    src.open()
    delays = []
    for _ in range(6):
        delay = float(src.fault.split("in ")[1].split(" s")[0])
        delays.append(delay)
        clock.now += delay
        assert src.read() is None
    assert delays == [0.5, 1, 2, 5, 5, 5]
    assert clock.slept == []  # idle_s=0: never sleeps


def test_idle_sleep_is_bounded_by_idle_s():
    clock, factory = FakeClock(), Factory(fail_first=100)
    src = ResilientSource(factory, backoff=(30,), clock=clock, sleep=clock.sleep, idle_s=0.1)
    src.open()
    assert src.read() is None
    assert clock.slept == [pytest.approx(0.1)]


def test_close_twice_and_read_reopens():
    clock, factory = FakeClock(), Factory()
    src = make(factory, clock)
    src.close()
    src.read()
    src.close()
    src.close()
    assert factory.built[0].closes == 1


def test_bad_backoff_is_config_error():
    with pytest.raises(ConfigError, match="backoff"):
        ResilientSource(Factory(), backoff=())
    with pytest.raises(ConfigError, match="backoff"):
        ResilientSource(Factory(), backoff=(1, -1))


def test_a_camera_that_opens_but_never_delivers_backs_off_and_stays_down(caplog):
    """Opening is not recovery: only a frame is. Otherwise the back-off restarts at every
    open, and a camera that opens and then fails is reopened every 0.5 s for good."""
    clock = FakeClock()
    factory = Factory(good_reads=0)  # every source opens, then fails its first read
    src = ResilientSource(factory, backoff=(0.5, 1, 2, 5), clock=clock, sleep=clock.sleep,
                          idle_s=100.0)
    caplog.set_level(logging.INFO, logger="aoc.sources.resilient")
    opened_at = []
    for _ in range(12):
        calls = factory.calls
        assert src.read() is None
        if factory.calls > calls:
            opened_at.append(clock.now)
    gaps = np.diff(opened_at)
    assert list(gaps[:4]) == [0.5, 1.0, 2.0, 5.0] and all(g == 5.0 for g in gaps[4:])
    assert src.recoveries == 0 and src.fault.startswith("camera lost")
    assert not any("is back" in r.getMessage() for r in caplog.records)


def test_a_source_that_is_no_camera_names_its_own_fault_on_the_screen(tmp_path):
    """An empty image folder showed 'camera unavailable - retrying' on the panel."""
    from aoc.sources.folder_source import ImageFolderSource

    clock = FakeClock()
    src = ResilientSource(lambda: ImageFolderSource(str(tmp_path), size=(8, 8)),
                          backoff=(2,), clock=clock, sleep=clock.sleep)
    src.open()
    assert src.read() is None
    assert src.fault == "no images - retrying in 2 s"
    assert "no image files" in str(src.last_error)
    src.close()
