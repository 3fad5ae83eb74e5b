"""aoc.app.bundle_watch: a configured model missing at start-up is loaded once it appears."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

from aoc.app.bundle_watch import ConfiguredModelWatch, model_file_of, watch_configured_model
from aoc.inference.model_select import CONFIGURED, DEFAULT, LAST_GOOD, Candidate


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_run_ends_once_the_configured_model_is_there_on_two_checks() -> None:
    """Two checks a minute apart: a bundle still being copied (its manifest first) would
    otherwise be loaded half-way, fail, and never be looked at again."""
    stop, clock, there = threading.Event(), FakeClock(), [False]
    watch = ConfiguredModelWatch(stop, Path("/media/usb/mine/manifest.json"), every_s=60,
                                 exists=lambda p: there[0], clock=clock)
    watch.on_tick(None)  # the first check at once: not there
    there[0] = True
    clock.t += 30
    watch.on_tick(None)
    assert not stop.is_set()  # not due yet: a check a minute, not one a frame
    clock.t += 30
    watch.on_tick(None)
    assert not stop.is_set()  # seen once
    clock.t += 60
    watch.on_tick(None)
    assert stop.is_set() and "appeared (/media/usb/mine/manifest.json)" in watch.tripped


def test_a_model_that_appeared_while_the_rest_started_is_seen_at_the_first_ticks() -> None:
    stop, clock = threading.Event(), FakeClock()
    watch = ConfiguredModelWatch(stop, Path("m.tflite"), every_s=60, exists=lambda p: True,
                                 clock=clock)
    watch.on_tick(None)
    clock.t += 60
    watch.on_tick(None)
    assert stop.is_set()


def test_a_model_still_missing_is_looked_for_again_a_minute_later() -> None:
    stop, clock, looked = threading.Event(), FakeClock(), []
    watch = ConfiguredModelWatch(stop, Path("m.tflite"), every_s=60,
                                 exists=lambda p: looked.append(clock.t) or False, clock=clock)
    for _ in range(5):
        watch.on_tick(None)
        clock.t += 30
    assert looked == [100.0, 160.0, 220.0] and not stop.is_set() and watch.tripped is None


def test_a_model_that_goes_again_before_the_second_check_does_not_end_the_run() -> None:
    stop, clock, answers = threading.Event(), FakeClock(), iter([True, False, True])
    watch = ConfiguredModelWatch(stop, Path("m.tflite"), every_s=60,
                                 exists=lambda p: next(answers), clock=clock)
    for _ in range(3):
        watch.on_tick(None)
        clock.t += 60
    assert not stop.is_set()


def selection(kind: str, missing: tuple[str, ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(candidate=SimpleNamespace(kind=kind),
                           missing=tuple(Candidate(k, Path("x")) for k in missing))


def test_watched_only_when_the_configured_model_was_missing(tmp_path: Path) -> None:
    """A model that was there but broken is not watched: a restart would not mend it, and
    the service would restart for ever."""
    stop = threading.Event()
    late = tmp_path / "late"
    bundle = SimpleNamespace(bundle=str(late), model="")
    watch = watch_configured_model(stop, bundle, selection(DEFAULT, (CONFIGURED,)))
    assert watch is not None and watch.watched == late / "manifest.json"
    assert watch_configured_model(stop, bundle, selection(DEFAULT)) is None  # broken
    assert watch_configured_model(stop, bundle, selection(DEFAULT, (LAST_GOOD,))) is None
    bare = watch_configured_model(stop, SimpleNamespace(bundle="", model=str(tmp_path / "m")),
                                  selection(LAST_GOOD, (CONFIGURED,)))
    assert bare is not None and bare.watched == tmp_path / "m"
    nothing = SimpleNamespace(bundle="", model="")
    assert watch_configured_model(stop, nothing, selection(DEFAULT, (CONFIGURED,))) is None


def test_model_file_of_a_bundle_is_its_manifest() -> None:
    assert model_file_of(Path("b"), bare=False) == Path("b/manifest.json")
    assert model_file_of(Path("m.tflite"), bare=True) == Path("m.tflite")
