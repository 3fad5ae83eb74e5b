"""ImageFolderSource: natural order, decode once, skip unreadable files, loop."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aoc.errors import CameraError
from aoc.sources.folder_source import ImageFolderSource, list_images, natural_key


def write_images(folder: Path, names_colours: dict[str, tuple[int, int, int]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, colour in names_colours.items():
        Image.new("RGB", (40, 30), colour).save(folder / name)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_images(tmp_path / "imgs", {"img10.png": (10, 0, 0), "img2.jpg": (0, 200, 0),
                                     "img1.png": (0, 0, 250)})
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    return tmp_path / "imgs"


def test_natural_sort():
    paths = [Path("a10.png"), Path("a2.png"), Path("A1.png")]
    assert sorted(paths, key=natural_key) == [Path("A1.png"), Path("a2.png"), Path("a10.png")]


def test_reads_in_natural_order_at_size_and_loops(folder: Path):
    with ImageFolderSource(folder, size=(16, 12)) as src:
        frames = [src.read() for _ in range(4)]
        assert [p.name for p in src.paths] == ["img1.png", "img2.jpg", "img10.png"]
    for frame in frames:
        assert frame.shape == (12, 16, 3) and frame.dtype == np.uint8 and frame.flags.c_contiguous
    assert tuple(frames[0][6, 8]) == (0, 0, 250)
    assert abs(int(frames[1][6, 8, 1]) - 200) <= 3  # JPEG
    assert tuple(frames[2][6, 8]) == (10, 0, 0)
    assert frames[3] is frames[0]  # looped, served from the cache


def test_frames_are_decoded_once_and_read_only(folder: Path, decoded):
    with ImageFolderSource(folder, size=(8, 8)) as src:
        for _ in range(30):
            frame = src.read()
        assert decoded == ["img1.png", "img2.jpg", "img10.png"]
        with pytest.raises(ValueError):
            frame[0, 0, 0] = 1


@pytest.fixture
def decoded(monkeypatch) -> list[str]:
    """The names of the pictures the folder source decodes, in order."""
    import aoc.sources.folder_source as folder_source

    names: list[str] = []
    real_load = folder_source.load_image

    def counting_load(path, **kwargs):
        names.append(Path(path).name)
        return real_load(path, **kwargs)

    monkeypatch.setattr(folder_source, "load_image", counting_load)
    return names


def test_open_decodes_one_picture_and_the_rest_when_shown(tmp_path: Path, decoded):
    """Opening decoded every picture that fitted the cache: 445 pictures of 12 MP took
    112 s before the first frame, beyond the unit's start limit and its watchdog, and a
    stop request waited for it; a folder reopened mid-run (a USB stick reseated) did the
    same on the loop's thread."""
    write_images(tmp_path / "d", {f"img{i}.png": (i, 0, 0) for i in range(6)})
    with ImageFolderSource(tmp_path / "d", size=(4, 4)) as src:
        assert decoded == ["img0.png"] and len(src.paths) == 6
        assert [int(src.read()[0, 0, 0]) for _ in range(3)] == [0, 1, 2]
        assert decoded == ["img0.png", "img1.png", "img2.png"]


def finish_copy_while_read(monkeypatch, path: Path, content: bytes,
                           during: tuple[str, ...] = ("probe_image", "load_image")) -> None:
    """Let the folder source's reads of ``path`` (``during``: its header check, its decode)
    end with the file rewritten to ``content``, as a copy that finishes meanwhile would."""
    import aoc.sources.folder_source as folder_source

    def finishing(real):
        def read(name, **kwargs):
            try:
                return real(name, **kwargs)
            finally:
                if Path(name) == path and path.read_bytes() != content:
                    path.write_bytes(content)
                    os.utime(path, ns=(1, 1))
        return read

    for name in during:
        monkeypatch.setattr(folder_source, name, finishing(getattr(folder_source, name)))


@pytest.mark.parametrize("cut", ["header", "pixels"])
def test_a_picture_rewritten_while_it_failed_to_decode_is_tried_again(tmp_path: Path,
                                                                       monkeypatch, cut):
    """A picture still being copied fails (its header at open, or its pixels when it is
    first shown); if the copy ends while it is being read, a stamp taken after the failure
    already matches the finished file, and the picture was skipped until it changed again
    (for good, on an exhibit)."""
    write_images(tmp_path / "d", {"a.png": (10, 0, 0), "b.png": (20, 0, 0)})
    b = tmp_path / "d" / "b.png"
    good = b.read_bytes()
    idat = good.index(b"IDAT")  # the pixels: cut half-way through their data
    half = idat + 4 + int.from_bytes(good[idat - 4:idat], "big") // 2
    b.write_bytes(good[:40] if cut == "header" else good[:half])  # the copy is not done
    finish_copy_while_read(monkeypatch, b, good,
                           during=("probe_image",) if cut == "header" else ("load_image",))
    with ImageFolderSource(tmp_path / "d", size=(4, 4), cache_bytes=0) as src:
        assert [p.name for p in src.skipped] == (["b.png"] if cut == "header" else [])
        values = [int(src.read()[0, 0, 0]) for _ in range(5)]
    assert values[0] == 10 and 20 in values  # round again: the finished b.png is shown


def test_a_picture_replaced_while_it_was_decoded_is_decoded_again(tmp_path: Path,
                                                                  monkeypatch):
    """A stamp taken after a successful decode would label the old pixels with the new
    file's stamp: the replaced picture would never be shown."""
    write_images(tmp_path / "d", {"a.png": (10, 0, 0), "b.png": (20, 0, 0)})
    write_images(tmp_path / "new", {"b.png": (30, 0, 0)})
    finish_copy_while_read(monkeypatch, tmp_path / "d" / "b.png",
                           (tmp_path / "new" / "b.png").read_bytes(), during=("load_image",))
    with ImageFolderSource(tmp_path / "d", size=(4, 4)) as src:
        values = [int(src.read()[0, 0, 0]) for _ in range(4)]
    assert values[:2] == [10, 20] and values[3] == 30


def test_glob_and_single_file(folder: Path):
    assert [p.name for p in list_images(str(folder / "*.png"))] == ["img1.png", "img10.png"]
    with ImageFolderSource(folder / "img2.jpg") as src:
        assert src.read().shape == (30, 40, 3)  # native size when size is None


def test_unreadable_files_are_skipped_with_a_warning(folder: Path, caplog):
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    caplog.set_level(logging.WARNING)
    with ImageFolderSource(folder) as src:
        assert [p.name for p in src.skipped] == ["broken.png"]
        assert len(src.paths) == 3
    assert "broken.png" in caplog.text


def test_no_readable_images_is_camera_error(tmp_path: Path):
    (tmp_path / "a.png").write_bytes(b"junk")
    with pytest.raises(CameraError, match="could be decoded"):
        ImageFolderSource(tmp_path).open()
    with pytest.raises(CameraError, match="no image files"):
        ImageFolderSource(tmp_path / "empty*").open()


def test_no_loop_raises_after_last(folder: Path):
    with ImageFolderSource(folder, loop=False) as src:
        for _ in range(3):
            src.read()
        with pytest.raises(CameraError, match="all 3 image"):
            src.read()


def test_hold_s_shows_each_image_for_a_while(folder: Path):
    now = [0.0]
    with ImageFolderSource(folder, hold_s=2.0, clock=lambda: now[0]) as src:
        first = src.read()
        now[0] = 1.9
        assert src.read() is first
        now[0] = 2.0
        assert src.read() is not first
        now[0] = 6.0
        assert src.read() is first  # wrapped around


def test_resize_policies(folder: Path):
    with ImageFolderSource(folder, size=(30, 30), resize="letterbox") as src:
        frame = src.read()
    assert tuple(frame[0, 15]) == (0, 0, 0)  # letterbox bar
    assert tuple(frame[15, 15]) == (0, 0, 250)


def test_close_twice(folder: Path):
    src = ImageFolderSource(folder)
    src.open()
    src.close()
    src.close()
    with pytest.raises(CameraError, match="not open"):
        src.read()


def test_memory_is_bounded_by_the_cache_budget(tmp_path: Path):
    write_images(tmp_path / "many", {f"img{i}.png": (i, 0, 0) for i in range(40)})
    frame_bytes = 16 * 16 * 3
    with ImageFolderSource(tmp_path / "many", size=(16, 16), cache_bytes=5 * frame_bytes) as src:
        assert len(src.paths) == 40 and len(src._cache) <= 5
        seen = [int(src.read()[0, 0, 0]) for _ in range(45)]
        assert len(src._cache) <= 5 and src._cached_bytes <= 5 * frame_bytes
    assert seen[:40] == list(range(40)) and seen[40:] == list(range(5))  # decoded on demand


def test_oversize_and_fifo_files_are_skipped_per_image(tmp_path: Path, caplog):
    import os

    from fakes.hostile_images import png_header_only

    write_images(tmp_path / "d", {"a.png": (1, 2, 3)})
    png_header_only(tmp_path / "d" / "huge.png", 20000, 20000)
    png_header_only(tmp_path / "d" / "big.png", 12000, 12000)
    os.mkfifo(tmp_path / "d" / "pipe.png")  # not listed: not a regular file
    caplog.set_level(logging.WARNING)
    with ImageFolderSource(tmp_path / "d", size=(8, 8)) as src:
        assert [p.name for p in src.paths] == ["a.png"]
        assert sorted(p.name for p in src.skipped) == ["big.png", "huge.png"]
        assert src.read().shape == (8, 8, 3)
    assert "huge.png" in caplog.text and "big.png" in caplog.text


def test_a_file_that_goes_bad_later_is_skipped_then_the_next_shown(tmp_path: Path):
    write_images(tmp_path / "d", {f"img{i}.png": (i * 10, 0, 0) for i in range(3)})
    with ImageFolderSource(tmp_path / "d", size=(4, 4), cache_bytes=0) as src:
        (tmp_path / "d" / "img1.png").write_bytes(b"now junk")
        values = [int(src.read()[0, 0, 0]) for _ in range(3)]
        assert values == [0, 20, 0] and [p.name for p in src.skipped] == ["img1.png"]
        for p in list(src.paths):
            p.write_bytes(b"junk")
        with pytest.raises(CameraError, match="no readable image"):
            src.read()


def test_a_folder_is_read_with_its_sub_folders_as_training_reads_it(tmp_path: Path):
    """Images only in sub-folders: 'camera unavailable', 0 frames, where training (which
    reads class folders recursively) had used them all."""
    from aoc.sources.folder_source import list_images

    for rel in ("a/1.png", "a/b/2.png", ".hidden/3.png", "c/.4.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / rel)
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == [
        "a/1.png", "a/b/2.png"]


def test_the_folder_is_listed_again_each_time_round(tmp_path: Path, caplog) -> None:
    """A running exhibit ignored pictures added or replaced in its folder until a restart,
    dropped a file that was briefly unreadable for good, and showed the last picture on
    after the folder was deleted."""
    folder = tmp_path / "pics"
    write_images(folder, {"a.png": (250, 0, 0)})

    def colours(src: ImageFolderSource, n: int) -> list[int]:
        return [int(src.read()[0, 0].argmax()) for _ in range(n)]  # 0 red, 1 green, 2 blue

    with ImageFolderSource(folder, size=(8, 8)) as src:
        assert colours(src, 2) == [0, 0]
        write_images(folder, {"b.png": (0, 250, 0)})
        (folder / "c.png").write_bytes(b"\x89PNG truncated")
        assert set(colours(src, 6)) == {0, 1}  # b joins when the loop comes round
        assert src.skipped == [folder / "c.png"]
        Image.new("RGB", (16, 16), (0, 0, 250)).save(folder / "c.png")  # repaired
        Image.new("RGB", (20, 20), (0, 0, 250)).save(folder / "a.png")  # replaced
        assert set(colours(src, 8)) == {1, 2}  # no red left: a was read again
        assert src.skipped == [] and len(src.paths) == 3
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
        with pytest.raises(CameraError, match="no readable image files at .* any more"):
            colours(src, 4)


def test_a_linked_sub_folder_is_listed_as_training_lists_it(tmp_path: Path) -> None:
    shows = tmp_path / "shows"
    shows.mkdir()
    Image.new("RGB", (8, 8)).save(shows / "a.png")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "linked").symlink_to(shows)
    assert list_images(tmp_path / "folder") == [tmp_path / "folder" / "linked" / "a.png"]
