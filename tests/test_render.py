"""render(): pixel-exact snapshots of every layout, plus properties of the drawing.

Regenerate snapshots with ``PYTHONPATH=device python3 tests/data/display/make_snapshots.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.snapshots import load_snapshot_maker
from PIL import Image, ImageChops

from aoc.display.render import NUM_VIEWS, fps_text, percent, render, text_width, to_text
from aoc.display.state import DisplayState
from aoc.errors import ConfigError

DATA = Path(__file__).parent / "data" / "display"


def _load_cases():
    return load_snapshot_maker(DATA, "make_snapshots").CASES


CASES = _load_cases()
BASE = DisplayState(anime=0.87, cartoon=0.12, verdict="anime", backend="edgetpu", fps=29.7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_snapshot(name, tmp_path):
    state, size, view = CASES[name]
    actual = render(state, size, view=view)
    expected_path = DATA / "snapshots" / f"{name}.png"
    expected = Image.open(expected_path).convert("1")
    if actual.tobytes() != expected.tobytes() or actual.size != expected.size:
        out = tmp_path / f"{name}.actual.png"
        actual.save(out)
        pytest.fail(
            f"render differs from {expected_path}; actual image written to {out}\n"
            f"{to_text(actual)}\n(if the change is intended, run "
            "tests/data/display/make_snapshots.py and review the PNGs)"
        )


@pytest.mark.parametrize("size", [(128, 64), (128, 32)])
@pytest.mark.parametrize("view", range(NUM_VIEWS))
def test_mode_size_and_content(size, view):
    img = render(BASE, size, view=view)
    assert img.mode == "1" and img.size == size
    assert img.getbbox() is not None  # something is drawn


@pytest.mark.parametrize("size", [(128, 64), (128, 32)])
@pytest.mark.parametrize("view", range(NUM_VIEWS))
def test_a_one_percent_change_shows(size, view):
    a = render(BASE, size, view=view)
    b = render(BASE.replace(anime=0.88), size, view=view)
    assert a.tobytes() != b.tobytes()


@pytest.mark.parametrize("size", [(128, 64), (128, 32)])
@pytest.mark.parametrize("view", range(NUM_VIEWS))
def test_verdicts_backends_and_frozen_look_different(size, view):
    seen = set()
    for verdict in ("anime", "cartoon", "both", "neither", "uncertain"):
        seen.add(render(BASE.replace(verdict=verdict), size, view=view).tobytes())
    assert len(seen) == 5
    cpu = render(BASE.replace(backend="cpu"), size, view=view)
    frozen = render(BASE.replace(frozen=True), size, view=view)
    plain = render(BASE, size, view=view)
    assert cpu.tobytes() != plain.tobytes() and frozen.tobytes() != plain.tobytes()


def test_view_defaults_to_the_state_and_wraps():
    assert render(BASE.replace(view=1)).tobytes() == render(BASE, view=1).tobytes()
    assert render(BASE, view=NUM_VIEWS + 1).tobytes() == render(BASE, view=1).tobytes()
    assert render(BASE, view=0).tobytes() != render(BASE, view=1).tobytes()


@pytest.mark.parametrize("size", [(128, 64), (128, 32)])
def test_message_replaces_bars_and_big_verdict(size):
    fault = BASE.replace(message="camera lost - retrying")
    assert render(fault, size, view=0).tobytes() == render(fault, size, view=1).tobytes()
    assert render(fault, size, view=0).tobytes() != render(BASE, size, view=0).tobytes()
    other = BASE.replace(message="display lost")
    assert render(fault, size).tobytes() != render(other, size).tobytes()


def test_long_message_is_cut_not_overflowing():
    long = BASE.replace(message="x" * 200)
    for size in ((128, 64), (128, 32)):
        for view in range(NUM_VIEWS):
            assert render(long, size, view=view).size == size


def test_offset_shifts_the_picture():
    plain = render(BASE)
    shifted = render(BASE, offset=(2, 1))
    expected = Image.new("1", plain.size)
    expected.paste(plain, (2, 1))
    assert shifted.tobytes() == expected.tobytes()
    assert render(BASE.replace(offset=(2, 1))).tobytes() == shifted.tobytes()
    # the 2 px side margin keeps every lit pixel on screen when shifting sideways
    for dx in (-2, 2):
        moved = render(BASE, offset=(dx, 0))
        back = ImageChops.offset(moved, -dx, 0)
        assert back.tobytes() == plain.tobytes()


def test_blank_state_is_black():
    assert render(BASE.replace(blank=True)).getbbox() is None


def test_too_small_is_a_config_error():
    with pytest.raises(ConfigError, match="64x16"):
        render(BASE, (64, 16))


def test_helpers():
    assert percent(0.874) == "87%" and percent(1.0) == "100%"
    assert fps_text(9.8) == "9.8" and fps_text(29.7) == "30"
    assert text_width("") == 0 and text_width("AB") == 13 and text_width("AB", 2) == 26


def test_percentages_round_to_the_nearest_whole_percent():
    """Cut off instead of rounded, 99.9 % anime showed as "99%", and 0.29 (28.999... in
    binary floating point) as "28%": the screen read a point lower than the model said."""
    assert percent(0.999) == "100%" and percent(0.876) == "88%"
    assert percent(0.29) == "29%" and percent(0.004) == "0%"


def test_display_package_imports_no_hardware_library():
    import subprocess
    import sys

    code = (
        "import sys, aoc.display, aoc.display.oled, aoc.display.emulated, aoc.display.threaded,"
        " aoc.display.terminal, aoc.display.burnin, aoc.app.controls;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('luma', 'gpiozero', 'pygame', 'smbus2', 'tensorflow')))"
    )
    device_dir = Path(__file__).resolve().parents[1] / "device"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(device_dir)})
    assert out.stdout.strip() == "[]"


def test_characters_the_bitmap_font_lacks_show_as_question_marks():
    """A bare model's Japanese labels, or a file name in explain's heading: the font holds
    Latin-1 only, and each drawn frame raised UnicodeEncodeError."""
    from aoc.display.render import draw_text

    img, ref = Image.new("1", (80, 12)), Image.new("1", (80, 12))
    assert draw_text(img, 0, 2, "アニメ 90%") == draw_text(ref, 0, 2, "??? 90%")
    assert img.tobytes() == ref.tobytes() and img.getbbox() is not None
    bare = DisplayState(anime=0.0, cartoon=0.0, verdict="neither", backend="cpu",
                        message="アニメ 90%")
    assert render(bare, (128, 64)).tobytes() == render(
        bare.replace(message="??? 90%"), (128, 64)).tobytes()
