"""aoc.app.repeat_filter: a flood of one message is held after a burst and later summarised."""

from __future__ import annotations

import logging

from aoc.app.repeat_filter import RepeatFilter


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_repeat_filter_holds_floods_and_summarises(caplog) -> None:
    clock = FakeClock()
    logger = logging.getLogger("aoc.test.flood")
    flt = RepeatFilter(burst=3, interval_s=60.0, clock=clock)
    logger.addFilter(flt)
    try:
        with caplog.at_level(logging.WARNING, logger="aoc.test.flood"):
            for i in range(100):
                logger.warning("camera lost: %s", f"errno {i}")
            logger.warning("display lost")  # a different message is not held
            assert len(caplog.records) == 4
            clock.t += 60.0
            logger.warning("camera lost: %s", "errno 100")
        assert caplog.records[-1].getMessage() == (
            "camera lost: errno 100 (97 similar messages suppressed)"
        )
    finally:
        logger.removeFilter(flt)


def test_repeat_filter_memory_is_bounded() -> None:
    flt = RepeatFilter(max_keys=10, clock=FakeClock())
    for i in range(1000):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, f"message {i}", None, None)
        assert flt.filter(record)
    assert len(flt._seen) == 10
