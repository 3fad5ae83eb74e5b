"""A clock the test moves by hand, with a ``sleep`` that only moves it."""

from __future__ import annotations


class FakeClock:
    """``clock()`` reads ``now``; ``clock.sleep(s)`` records ``s`` and moves ``now`` on."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
