"""DemoSource and the project-made demo assets."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aoc.errors import CameraError, ConfigError
from aoc.sources.demo_source import DEMO_DIR, DemoSource, demo_asset_paths, expected_label


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_assets_exist_are_small_and_credited():
    paths = demo_asset_paths()
    assert 5 <= len(paths) <= 8
    labels = {expected_label(p) for p in paths}
    assert labels == {"anime", "cartoon", "both", "neither"}
    for path in paths:
        with Image.open(path) as image:
            assert image.size == (320, 240) and image.mode == "RGB"
        assert path.stat().st_size < 250_000
    credits = (DEMO_DIR / "CREDITS.md").read_text()
    assert "Apache-2.0" in credits and "made by the Anime or Cartoon? project" in credits
    for path in paths:
        assert path.name in credits


def test_cycles_scenes_by_clock_at_size():
    clock = Clock()
    with DemoSource(size=(224, 224), frame_period_s=3.0, clock=clock, pan=False) as src:
        first = src.read()
        assert first.shape == (224, 224, 3) and first.dtype == np.uint8
        assert first.flags.c_contiguous
        assert src.scene_path == src.paths[0]
        clock.now = 2.9
        assert src.read() is first
        clock.now = 3.0
        assert src.scene_index == 1 and not np.array_equal(src.read(), first)
        clock.now = 3.0 * len(src.paths)
        assert src.read() is first  # wrapped


def test_pan_makes_frames_differ_but_stay_the_scene():
    clock = Clock()
    with DemoSource(size=(160, 120), frame_period_s=100.0, clock=clock) as src:
        a = src.read()
        clock.now = 0.4
        b = src.read()
    assert a.shape == b.shape == (120, 160, 3) and b.flags.c_contiguous
    assert not np.array_equal(a, b)
    # Same scene: the mean colour barely moves with a few pixels of pan.
    assert np.abs(a.mean(axis=(0, 1)) - b.mean(axis=(0, 1))).max() < 8


def test_default_size_and_is_not_live():
    with DemoSource(pan=False) as src:
        assert src.read().shape == (240, 320, 3)
        assert src.is_live is False and src.name == "demo"


def test_missing_assets_and_bad_period(tmp_path: Path):
    with pytest.raises(CameraError, match="no demo scenes"):
        DemoSource(folder=tmp_path).open()
    with pytest.raises(ConfigError, match="demo_period_s"):
        DemoSource(frame_period_s=0)


def test_close_twice_then_read_fails():
    src = DemoSource()
    src.open()
    src.close()
    src.close()
    with pytest.raises(CameraError, match="not open"):
        src.read()


def test_make_demo_is_deterministic_and_matches_committed(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("make_demo", DEMO_DIR.parent / "make_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.make_all(tmp_path)
    assert [p.name for p in written] == [p.name for p in demo_asset_paths()]
    for path in written:
        fresh = np.asarray(Image.open(path))
        committed = np.asarray(Image.open(DEMO_DIR / path.name))
        # Same drawing; allow tiny differences from another Pillow/numpy version.
        assert np.abs(fresh.astype(int) - committed.astype(int)).mean() < 2.0, path.name
    digest = hashlib.sha256(written[0].read_bytes()).hexdigest()
    assert digest == hashlib.sha256(module.make_all(tmp_path / "again")[0].read_bytes()).hexdigest()


DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "models" / "default"


def test_default_model_shows_every_verdict_in_one_demo_cycle():
    """With the shipped model, one demo cycle through the appliance's own smoothing shows
    anime, cartoon, both and neither: each scene, panning for its whole period, ends on
    the verdict its name promises."""
    from aoc.app.smoothing import Smoother
    from aoc.inference.bundle import load_bundle
    from aoc.inference.classifier import open_classifier

    bundle = load_bundle(DEFAULT_BUNDLE)
    clock = Clock()
    period, step = 4.0, 0.1
    shown = {}
    with open_classifier(bundle, prefer="cpu") as clf, DemoSource(
        size=(320, 240), frame_period_s=period, clock=clock
    ) as src:
        smoother = Smoother(clf.labels)
        for k, path in enumerate(src.paths):
            for t in np.arange(0.0, period, step):
                clock.now = k * period + t
                _, verdict = smoother.update(clf.classify(src.read()), clock.now)
            shown[path.name] = verdict.state
    assert shown == {p.name: expected_label(p) for p in demo_asset_paths()}
    assert set(shown.values()) == {"anime", "cartoon", "both", "neither"}
