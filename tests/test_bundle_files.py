"""inference/bundle_files: a bundle file is written durably and readable by the device."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aoc.inference.bundle_files import atomic_write_bytes


def test_a_written_bundle_file_is_readable_by_everyone(tmp_path: Path) -> None:
    """mkstemp makes its file 0600: a bundle written by the user who trained it could not
    be read by the service when it runs as another user, and the model failed to load."""
    target = tmp_path / "labels.txt"
    old_umask = os.umask(0o077)  # even under a strict umask
    try:
        atomic_write_bytes(target, b"anime\ncartoon\nneither\n")
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"anime\ncartoon\nneither\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_written_bundle_file_is_on_disk_before_it_replaces_the_old(
        tmp_path: Path, monkeypatch) -> None:
    """Renamed over the old file before its bytes reach the disk, a power cut (the device
    is unplugged at the wall) could leave an empty or torn model where a sound one was."""
    target = tmp_path / "model.tflite"
    target.write_bytes(b"old model")
    synced: list[tuple[int, bytes]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        # what the synced descriptor holds, and whether it is already the target
        synced.append((os.fstat(fd).st_ino, target.read_bytes()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write_bytes(target, b"new model")
    assert target.read_bytes() == b"new model"
    assert synced == [(target.stat().st_ino, b"old model")]  # the new file, still unrenamed
