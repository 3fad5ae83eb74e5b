"""Tests for aoc.filecheck: regular files only; atomic, durable text writes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from aoc.errors import BundleError, ConfigError
from aoc.filecheck import atomic_write_text, require_regular_file


def test_regular_files_pass_and_everything_else_is_named(tmp_path):
    good = tmp_path / "a.txt"
    good.write_text("x")
    assert require_regular_file(str(good), what="thing", error=ConfigError) == good
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    cases = [(fifo, "FIFO"), (tmp_path, "a folder"), ("/dev/null", "character device"),
             (tmp_path / "gone", "does not exist")]
    for path, what in cases:
        with pytest.raises(BundleError, match=what) as info:
            require_regular_file(path, what="labels file", error=BundleError,
                                 fix="pass the labels", path=path)
        assert "labels file" in str(info.value) and "pass the labels" in str(info.value)
        assert info.value.path == path


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "state"
    atomic_write_text(target, "one\n")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    atomic_write_text(target, "two\n")
    assert target.read_text() == "two\n"
    assert len(synced) == 2  # the file, then its folder
    assert [p.name for p in tmp_path.iterdir()] == ["state"]


def test_temps_left_by_a_killed_write_are_removed_by_the_next(tmp_path):
    """A SIGKILL or power cut between creating the temp file and renaming it left it
    behind: one a kill, for months, in the state folder. A young temp may be another
    writer's, and other files are not ours."""
    target = tmp_path / "last-good-bundle"
    old, young = (tmp_path / ".last-good-bundle-k3j_9x2a.tmp",
                  tmp_path / ".last-good-bundle-busy0001.tmp")
    # a user's own files that look alike (result files land in the user's folders)
    users = [tmp_path / ".last-good-bundle-draft.tmp", tmp_path / ".other-k3j_9x2a.tmp",
             tmp_path / ".last-good-bundle-2025-ab12cd34.tmp"]
    for path in (old, young, *users):
        path.write_text("half")
    long_ago = time.time() - 3600
    for path in (old, *users):
        os.utime(path, (long_ago, long_ago))
    atomic_write_text(target, "/b\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [young.name, "last-good-bundle", *(p.name for p in users)])


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "state"
    atomic_write_text(target, "old\n")

    def broken(a, b):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["state"]


def test_a_result_file_is_replaced_whole_or_left_as_it_was(tmp_path, monkeypatch):
    from aoc.errors import OutputError
    from aoc.filecheck import write_result_file

    target = tmp_path / "stats.json"
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    write_result_file(link, "{}\n")  # through the link: the file is written, the link kept
    assert link.is_symlink() and target.read_text() == "{}\n"

    def full(a, b):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OutputError, match=r"cannot write .*stats.json: No space left"):
        write_result_file(target, '{"new": 1}\n')
    assert target.read_text() == "{}\n"  # not an empty file
    write_result_file(Path(os.devnull), "x")  # a device: written as it is, not replaced


def test_a_result_file_keeps_its_permissions_and_a_new_one_gets_the_umasks(tmp_path):
    """mkstemp's 0600 made every stats file unreadable to a monitoring agent."""
    from aoc.filecheck import write_result_file

    shared = tmp_path / "shared.json"
    shared.write_text("{}")
    shared.chmod(0o604)
    write_result_file(shared, "{}\n")
    assert shared.stat().st_mode & 0o777 == 0o604 and shared.read_text() == "{}\n"
    old_umask = os.umask(0o027)
    try:
        write_result_file(tmp_path / "new.json", "{}\n")
    finally:
        os.umask(old_umask)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640


def test_open_fd_of_finds_this_process_own_pipe(tmp_path):
    from aoc.filecheck import open_fd_of

    read_end, write_end = os.pipe()
    try:
        assert open_fd_of(f"/dev/fd/{write_end}") == write_end
        os.close(write_end)
        write_end = os.dup(read_end)  # only read ends left: `<(...)` is no output
        assert open_fd_of(f"/dev/fd/{read_end}") is None
        assert open_fd_of(tmp_path) is None and open_fd_of(tmp_path / "gone") is None
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_new_result_file_that_cannot_be_written_whole_is_removed(tmp_path):
    from aoc.filecheck import write_result_file

    with pytest.raises(UnicodeEncodeError):  # fails after the file was made
        write_result_file(tmp_path / "new.json", "{\"name\": \"\udce9\"}\n")
    assert list(tmp_path.iterdir()) == []


def test_standard_output_is_found_before_a_socket_on_stdin_too(tmp_path):
    """Under inetd or systemd's StandardOutput=socket, stdin and stdout are one socket:
    fd 0 matched /dev/stdout first, and the write went past sys.stdout."""
    import socket
    import subprocess
    import sys

    code = ("import sys; from aoc.filecheck import open_fd_of; "
            "sys.stderr.write(str(open_fd_of('/dev/stdout')))")
    ours, theirs = socket.socketpair()
    with ours, theirs:
        done = subprocess.run([sys.executable, "-c", code], stdin=theirs, stdout=theirs,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=True)
    assert done.stderr == "1"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file another group needs root")
def test_a_replaced_result_file_keeps_its_group(tmp_path):
    from aoc.filecheck import write_result_file

    shared = tmp_path / "shared.json"
    shared.write_text("{}")
    os.chown(shared, -1, 4321)
    write_result_file(shared, "{}\n")
    assert shared.stat().st_gid == 4321


def test_files_under_follows_a_linked_folder_once(tmp_path):
    from aoc.filecheck import files_under

    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "a.png").write_bytes(b"x")
    (real / "loop").symlink_to(real)  # a loop ends: each real folder once
    top = tmp_path / "top"
    top.mkdir()
    (top / "linked").symlink_to(real)
    (top / "b.png").write_bytes(b"y")
    assert files_under(top) == [top / "b.png", top / "linked" / "a.png"]
