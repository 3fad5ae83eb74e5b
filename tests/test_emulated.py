"""EmulatedDisplay through luma.emulator's capture and gifanim devices (headless)."""

from __future__ import annotations

import pytest
from PIL import Image

pytest.importorskip("luma.emulator")
pytest.importorskip("pygame")

from aoc.display.emulated import EmulatedDisplay  # noqa: E402
from aoc.display.render import render  # noqa: E402
from aoc.display.state import DisplayState  # noqa: E402
from aoc.errors import ConfigError  # noqa: E402

STATE = DisplayState(anime=0.87, cartoon=0.12, verdict="anime", backend="edgetpu", fps=29.7)


def _pixels(path, scale, size=(128, 64)):
    """The emulator's PNG scaled back down to panel pixels, as a mode-1 image."""
    img = Image.open(path).convert("L")
    assert img.size == (size[0] * scale, size[1] * scale)
    return img.resize(size, Image.Resampling.NEAREST).point(lambda v: 255 if v > 127 else 0)


def test_png_shows_the_rendered_state_with_square_pixels(tmp_path):
    out = tmp_path / "screen.png"
    with EmulatedDisplay(out, scale=3) as emu:
        emu.show(STATE)
    assert _pixels(out, 3).convert("1").tobytes() == render(STATE).tobytes()


def test_folder_gets_numbered_frames_only_on_change(tmp_path):
    with EmulatedDisplay(tmp_path, height=32) as emu:
        emu.show(STATE)
        emu.show(STATE)  # unchanged: no new file
        emu.show(STATE.replace(verdict="both"))
        assert emu.frames == 2
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["frame_000001.png", "frame_000002.png"]
    assert Image.open(tmp_path / names[0]).size == (256, 64)


def test_template_and_dim(tmp_path):
    with EmulatedDisplay(tmp_path / "s_{0:02}.png") as emu:
        emu.show(STATE)
        emu.show(STATE.replace(dim=True))  # same pixels, dimmer: a new frame
    bright = Image.open(tmp_path / "s_01.png").convert("L").getextrema()[1]
    dim = Image.open(tmp_path / "s_02.png").convert("L").getextrema()[1]
    assert bright == 255 and 0 < dim < 128


def test_gif_collects_frames_and_is_written_on_close(tmp_path):
    out = tmp_path / "anim.gif"
    emu = EmulatedDisplay(out, fmt="gif", frame_duration_s=0.2)
    for anime in (0.1, 0.5, 0.9):
        emu.show(STATE.replace(anime=anime))
    assert not out.exists()
    emu.close()
    emu.close()
    with Image.open(out) as gif:
        assert gif.n_frames == 3 and gif.size == (256, 128)


def test_a_gif_stops_recording_at_its_frame_limit(tmp_path, monkeypatch, caplog):
    """luma keeps every GIF frame in memory (about 90 MB a minute of changing scenes)."""
    import aoc.display.emulated as emulated

    monkeypatch.setattr(emulated, "MAX_GIF_FRAMES", 3)
    out = tmp_path / "anim.gif"
    emu = EmulatedDisplay(out, fmt="gif")
    for anime in (0.1, 0.3, 0.5, 0.7, 0.9):
        emu.show(STATE.replace(anime=anime))
    emu.close()
    with Image.open(out) as gif:
        assert gif.n_frames == 3
    assert emu.gif_full and caplog.text.count("holds 3 frames") == 1


def test_bad_format_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="bmp"):
        EmulatedDisplay(tmp_path / "x.bmp", fmt="bmp")


def test_open_display_builds_an_emulator_and_needs_a_path(tmp_path):
    from aoc.display import open_display

    with open_display("emulated", path=tmp_path / "x.png") as emu:
        assert isinstance(emu, EmulatedDisplay)
    with pytest.raises(ConfigError, match="display.path"):
        open_display("emulated")
    with pytest.raises(ConfigError, match="'lcd'"):
        open_display("lcd")


def test_a_path_that_became_a_folder_is_a_display_error(tmp_path):
    """pygame's own error (no OSError) went to the 'bug in rendering' path: never marked
    lost, never retried, logged five times a minute."""
    from aoc.errors import DisplayError

    out = tmp_path / "screen.png"
    with EmulatedDisplay(out) as emu:
        emu.show(STATE)
        out.unlink()
        out.mkdir()
        with pytest.raises(DisplayError, match=r"emulated display: cannot write .*screen.png"):
            emu.show(STATE.replace(anime=0.2))


def test_a_failed_write_keeps_the_last_whole_picture(tmp_path, monkeypatch):
    """A full disk used to leave a 0-byte screen.png: the picture is written beside it and
    renamed into place, so a failed write leaves the last whole one."""
    import pygame

    from aoc.errors import DisplayError

    out = tmp_path / "screen.png"
    with EmulatedDisplay(out) as emu:
        emu.show(STATE)
        before = out.read_bytes()

        def disk_full(surface, filename):
            with open(filename, "wb") as f:
                f.write(b"\x89PNG")  # a torn start, then the disk is full
            raise pygame.error("No space left on device")

        monkeypatch.setattr(pygame.image, "save", disk_full)
        with pytest.raises(DisplayError, match="cannot write"):
            emu.show(STATE.replace(anime=0.2))
    assert out.read_bytes() == before
    assert _pixels(out, 2).convert("1").tobytes() == render(STATE).tobytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["screen.png"]  # no torn partial


def test_an_empty_picture_from_a_full_disk_is_display_lost_not_a_blank_screen(
        tmp_path, monkeypatch):
    """On a full disk pygame wrote an empty file and raised nothing: it was renamed over
    the last good picture, and nobody was told."""
    import pygame

    from aoc.errors import DisplayError

    out = tmp_path / "screen.png"
    with EmulatedDisplay(out) as emu:
        emu.show(STATE)
        before = out.read_bytes()

        def silently_empty(surface, filename):
            open(filename, "wb").close()

        monkeypatch.setattr(pygame.image, "save", silently_empty)
        with pytest.raises(DisplayError, match=r"came out unreadable.*disk full"):
            emu.show(STATE.replace(anime=0.2))
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["screen.png"]


def test_a_folder_that_is_gone_is_not_replaced_by_a_file(tmp_path):
    """A frames folder deleted mid-run: the display's reopen wrote PNG data into a plain
    file at the folder's path."""
    from aoc.errors import DisplayError

    frames = tmp_path / "frames"
    frames.mkdir()
    EmulatedDisplay(frames, folder=True).close()
    frames.rmdir()
    with pytest.raises(DisplayError, match="folder .*frames is gone"):
        EmulatedDisplay(frames, folder=True)
    assert not frames.exists()


def test_a_fifo_at_the_path_is_replaced_not_written_into(tmp_path):
    """Writing into a FIFO nobody reads blocked the display thread for good."""
    import os
    import threading

    out = tmp_path / "screen.png"
    os.mkfifo(out)
    done = threading.Event()

    def show() -> None:
        with EmulatedDisplay(out) as emu:
            emu.show(STATE)
        done.set()

    threading.Thread(target=show, daemon=True).start()
    if not done.wait(10):
        with open(out, "rb"):  # unblock the writer so the test run can end
            pass
        pytest.fail("the display blocked writing into the FIFO")
    assert out.is_file()
    assert _pixels(out, 2).convert("1").tobytes() == render(STATE).tobytes()


def test_no_partial_files_are_left_beside_the_frames(tmp_path):
    with EmulatedDisplay(tmp_path / "s_{0:02}.png") as emu:
        emu.show(STATE)
        emu.show(STATE.replace(verdict="neither"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s_01.png", "s_02.png"]


def test_a_gif_without_a_frame_duration_plays_in_real_time(tmp_path):
    """A 3 s run became a 0.7 s GIF: 100 ms a frame, and frames only when the picture
    changed."""
    now = [10.0]
    out = tmp_path / "run.gif"
    emu = EmulatedDisplay(out, fmt="gif", frame_duration_s=None, clock=lambda: now[0])
    for anime, wait in ((0.1, 0.5), (0.5, 1.5), (0.5, 0.2), (0.9, 1.0)):
        emu.show(STATE.replace(anime=anime))  # the repeated picture adds no frame
        now[0] += wait
    emu.close()
    with Image.open(out) as gif:
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert durations == [500, 1700, 1000]


def test_a_picture_shown_for_hours_is_held_as_long_as_a_gif_can_say():
    """A GIF frame holds at most 655.35 s: an idle blanked screen made Pillow raise
    OverflowError at close, and the run's GIF was a broken 44-byte file."""
    from aoc.display.emulated import GIF_MAX_FRAME_MS, gif_durations_ms

    assert gif_durations_ms([0.0, 0.099, 0.2], 3600.0) == [100, 100, GIF_MAX_FRAME_MS]
    assert gif_durations_ms([0.0], 0.001) == [20]


def test_a_long_idle_gif_is_written_whole(tmp_path):
    now = [0.0]
    out = tmp_path / "idle.gif"
    emu = EmulatedDisplay(out, fmt="gif", frame_duration_s=None, clock=lambda: now[0])
    emu.show(STATE)
    now[0] += 4 * 3600.0
    emu.close()
    with Image.open(out) as gif:
        assert gif.info["duration"] == 655_350


def test_a_picture_shown_again_after_a_clear_is_one_frame_a_gif_can_hold(tmp_path):
    """Pillow merges identical consecutive frames and adds their durations: two 10-minute
    showings of one picture went past what a GIF can say, and the write failed."""
    now = [0.0]
    out = tmp_path / "twice.gif"
    emu = EmulatedDisplay(out, fmt="gif", frame_duration_s=None, clock=lambda: now[0])
    emu.show(STATE)
    now[0] += 600.0
    emu.clear()
    emu.show(STATE)
    now[0] += 600.0
    emu.close()
    with Image.open(out) as gif:
        assert gif.n_frames == 1 and gif.info["duration"] == 655_350


def test_opening_prints_nothing_and_leaves_the_environment_alone(tmp_path, repo_root) -> None:
    """pygame greets on stdout when first imported: a fresh process opening the emulated
    display must print nothing, and must not have set PYGAME_HIDE_SUPPORT_PROMPT."""
    import os
    import subprocess
    import sys

    code = ("import os, sys; from aoc.display.emulated import EmulatedDisplay; "
            f"d = EmulatedDisplay({str(tmp_path / 'oled.png')!r}); d.close(); "
            "sys.stderr.write(str('PYGAME_HIDE_SUPPORT_PROMPT' in os.environ))")
    env = {k: v for k, v in os.environ.items() if k != "PYGAME_HIDE_SUPPORT_PROMPT"}
    env["HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=repo_root, timeout=60, check=True)
    assert done.stdout == ""
    assert done.stderr.endswith("False")
