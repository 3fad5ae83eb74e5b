"""Tests for aoc.log_setup: journald priorities, timestamps, repeats held back."""

from __future__ import annotations

import logging

from aoc.log_setup import setup_logging


def test_journald_logging_has_no_timestamps(capsys):
    setup_logging("INFO", journald=True)
    logging.getLogger("aoc.test").warning("camera lost")
    assert capsys.readouterr().err.strip() == "<4>aoc.test: camera lost"
    setup_logging("INFO", journald=False)
    logging.getLogger("aoc.test").info("hello")
    err = capsys.readouterr().err
    assert err.endswith("INFO    aoc.test: hello\n") and err[:4].isdigit()


def test_log_handler_holds_back_repeats(capsys):
    setup_logging("INFO", journald=True)
    for i in range(20):
        logging.getLogger("aoc.test").warning("camera lost: %d", i)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"<4>aoc.test: camera lost: {i}" for i in range(5)]  # burst 5
