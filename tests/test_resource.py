"""aoc.resource: with-statement plumbing and the release handed to a worker thread."""

from __future__ import annotations

from aoc.resource import WorkerRelease


def test_a_release_runs_now_when_the_worker_is_done():
    done = []
    release = WorkerRelease()
    release.finished()
    assert release.release_or_leave(lambda: done.append("released")) is True
    assert done == ["released"]


def test_a_release_is_left_to_a_worker_still_running_and_runs_once():
    done = []
    release = WorkerRelease()
    assert release.release_or_leave(lambda: done.append("released")) is False
    assert done == []  # never under the worker
    release.finished()
    release.finished()
    assert done == ["released"]
