"""aoc.sources.source_spec: what a camera.source names, and what start-up refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from aoc.errors import CameraError, ConfigError
from aoc.sources.source_spec import check_source_spec, guess_kind, may_appear_later


@pytest.mark.parametrize("spec", ["auto", "demo", "picamera2", "picamera2:1", "webcam:0", "0",
                                  3, "rtsp://cam/x", "http://h/v.mjpg", "/data/*.jpg",
                                  "folder:/nowhere/*.png"])
def test_check_source_spec_accepts_the_valid_forms(spec):
    check_source_spec(spec)


def test_check_source_spec_accepts_existing_paths(tmp_path: Path):
    (tmp_path / "a.png").write_bytes(b"x")
    for spec in (str(tmp_path), str(tmp_path / "a.png"), f"image:{tmp_path / 'a.png'}"):
        check_source_spec(spec)


@pytest.mark.parametrize("spec,why", [
    ("dmeo", "not a camera name"), ("", "is empty"), ("   ", "is empty"),
    ("picamera2:x", "picamera2:N"), ("webcam:x", "webcam:N"), ("/no/such.png", "existing"),
    (True, "not a string"), (-1, "webcam index"),
    # a number past any /dev/videoN overflowed OpenCV's C int: a traceback, a crash loop
    (2**31, "webcam index"), ("99999999999", r"webcam:N \(N 0 to 255\)"),
    ("webcam:2147483648", "webcam:N"), ("picamera2:256", "picamera2:N"),
])
def test_check_source_spec_refuses_with_the_list(spec, why):
    with pytest.raises(ConfigError, match=why) as info:
        check_source_spec(spec)
    assert info.value.key == "camera.source" and "auto, demo, picamera2" in str(info.value)


def test_check_source_spec_refuses_a_fifo_and_a_file_as_folder(tmp_path: Path):
    import os

    os.mkfifo(tmp_path / "cam")
    with pytest.raises(ConfigError, match="FIFO"):
        check_source_spec(str(tmp_path / "cam"))
    check_source_spec("/dev/null")  # a character device, as /dev/video0 is: OpenCV opens it
    (tmp_path / "f.png").write_bytes(b"x")
    with pytest.raises(ConfigError, match="not a folder"):
        check_source_spec(f"folder:{tmp_path / 'f.png'}")


def test_a_text_file_is_refused_and_any_binary_file_or_link_is_left_to_opencv(tmp_path: Path):
    """A script named by mistake was accepted and retried forever as a broken source; a
    video is binary whatever its suffix (.divx, .m2t, none) or the name of a link to it."""
    script = tmp_path / "mkvid.py"
    script.write_text("print('hi')  # caf\u00e9\n")
    with pytest.raises(ConfigError, match=r"is a text file, not a video or a picture") as info:
        check_source_spec(str(script))
    assert info.value.key == "camera.source" and "webcam:N" in str(info.value)
    check_source_spec(f"video:{script}")  # the user says it is one
    # a name with glob characters that exists is that file, checked like any other (it was
    # passed over as a glob, though the factory opens it as itself)
    bracketed = tmp_path / "[Subs] script.sh"
    bracketed.write_text("#!/bin/sh\n")
    with pytest.raises(ConfigError, match="is a text file"):
        check_source_spec(str(bracketed))
    check_source_spec(str(tmp_path / "*.png"))  # a glob still passes
    video = tmp_path / "v.divx"
    video.write_bytes(b"RIFF\x10\x00\x00\x00AVI LIST" + bytes(range(256)))
    (tmp_path / "now-playing").symlink_to(video)
    (tmp_path / "empty.mp4").write_bytes(b"")
    for path in (video, tmp_path / "now-playing", tmp_path / "empty.mp4"):
        check_source_spec(str(path))


@pytest.mark.parametrize("spec", [
    "/dev/video7", "/dev/v4l/by-id/usb-Logitech_C920-video-index0", "/media/usb0/slides",
    "/mnt/show/film.mp4", "/run/media/pi/STICK/pics", "video:/media/usb0/film.mkv"])
def test_a_missing_camera_node_or_drive_path_is_left_to_the_retry(spec):
    """A webcam unplugged or a USB stick not mounted yet at a restart: refused (exit 78,
    which systemd does not restart), the exhibit stayed dark until someone came by."""
    check_source_spec(spec)


def test_a_missing_camera_node_or_drive_is_retried_with_what_is_missing():
    for path, what in (("/dev/video7", "camera is missing"),
                       ("/media/usb0/slides", "drive (not mounted yet?)")):
        assert may_appear_later(path)
        with pytest.raises(CameraError) as info:
            guess_kind(path)
        assert f"is not there: its {what}" in str(info.value) and "retrying" in str(info.value)
    assert not may_appear_later("slides") and not may_appear_later("/srv/slides")
    assert not may_appear_later("/devices/x")  # a folder merely named like /dev


def test_a_link_to_a_drive_not_mounted_yet_is_left_to_the_retry(tmp_path: Path):
    """/srv/slides -> /media/usb/slides is a common way to point the service at a stick;
    while the stick is out the link dangles, and it was refused with exit 78."""
    link = tmp_path / "slides"
    link.symlink_to("/media/aoc-test-no-such-stick/slides")
    check_source_spec(str(link))
    with pytest.raises(CameraError, match="drive"):
        guess_kind(str(link))
    (tmp_path / "nowhere").symlink_to(tmp_path / "gone")  # a link to nothing in particular
    with pytest.raises(ConfigError):
        check_source_spec(str(tmp_path / "nowhere"))


def test_a_relative_path_is_judged_where_it_points(tmp_path: Path, monkeypatch):
    monkeypatch.chdir("/")
    check_source_spec("dev/video9")  # /dev/video9 from /
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError):
        check_source_spec("dev/video9")


def test_a_missing_path_under_home_names_the_services_blind_spot():
    """The unit has ProtectHome=yes: a source under /home does not exist for the service."""
    with pytest.raises(ConfigError, match=r"ProtectHome=yes; keep sources under /srv"):
        check_source_spec("/home/pi/slides")
    with pytest.raises(ConfigError) as info:
        check_source_spec("/srv/no/such/slides")
    assert "ProtectHome" not in str(info.value)
