"""aoc.app.bundle_watch: a configured model missing at start-up is loaded once it appears."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

from aoc.app.bundle_watch import ConfiguredModelWatch, model_file_of, watch_configured_model
from aoc.inference.model_select import CONFIGURED, DEFAULT


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_run_ends_once_the_configured_model_appears_and_not_before() -> None:
    stop, clock, there = threading.Event(), FakeClock(), [False]
    watch = ConfiguredModelWatch(stop, Path("/media/usb/mine/manifest.json"), every_s=60,
                                 exists=lambda p: there[0], clock=clock)
    clock.t += 30
    there[0] = True
    watch.on_tick(None)
    assert not stop.is_set()  # not due yet: a check a minute, not one a frame
    clock.t += 30
    watch.on_tick(None)
    assert stop.is_set() and "appeared (/media/usb/mine/manifest.json)" in watch.tripped


def test_a_model_still_missing_is_looked_for_again_a_minute_later() -> None:
    stop, clock, looked = threading.Event(), FakeClock(), []
    watch = ConfiguredModelWatch(stop, Path("m.tflite"), every_s=60,
                                 exists=lambda p: looked.append(clock.t) or False, clock=clock)
    for _ in range(5):
        clock.t += 30
        watch.on_tick(None)
    assert looked == [160.0, 220.0] and not stop.is_set() and watch.tripped is None


def test_watched_only_when_the_configured_model_was_missing(tmp_path: Path) -> None:
    """A model that is there but broken is not watched: a restart would not mend it, and
    the service would restart for ever."""
    stop = threading.Event()
    fell_back = SimpleNamespace(candidate=SimpleNamespace(kind=DEFAULT))
    late = tmp_path / "late"
    watch = watch_configured_model(stop, SimpleNamespace(bundle=str(late), model=""), fell_back)
    assert watch is not None and watch.watched == late / "manifest.json"
    late.mkdir()
    (late / "manifest.json").write_text("{broken")
    assert watch_configured_model(stop, SimpleNamespace(bundle=str(late), model=""),
                                  fell_back) is None
    bare = watch_configured_model(stop, SimpleNamespace(bundle="", model=str(tmp_path / "m")),
                                  fell_back)
    assert bare is not None and bare.watched == tmp_path / "m"
    assert watch_configured_model(stop, SimpleNamespace(bundle="", model=""), fell_back) is None
    runs = SimpleNamespace(candidate=SimpleNamespace(kind=CONFIGURED))
    assert watch_configured_model(stop, SimpleNamespace(bundle=str(late), model=""),
                                  runs) is None


def test_model_file_of_a_bundle_is_its_manifest() -> None:
    assert model_file_of(Path("b"), bare=False) == Path("b/manifest.json")
    assert model_file_of(Path("m.tflite"), bare=True) == Path("m.tflite")
