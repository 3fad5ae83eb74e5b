"""Tests for aoc.cli_args: argument types, output-file checks, flags as config overrides."""

from __future__ import annotations

import argparse
import os

import pytest

from aoc.cli_args import (
    build_parser,
    config_overrides,
    output_file_problem,
    positive_int,
    positive_seconds,
)
from aoc.errors import ConfigError


@pytest.mark.parametrize("text,value", [("1", 1), ("400", 400)])
def test_positive_int_takes_whole_numbers_from_one(text, value):
    assert positive_int(text) == value


@pytest.mark.parametrize("text,why", [("0", "at least 1"), ("-3", "at least 1"),
                                      ("2.5", "whole number"), ("ten", "whole number")])
def test_positive_int_says_what_is_wrong(text, why):
    with pytest.raises(argparse.ArgumentTypeError, match=why):
        positive_int(text)


def test_positive_seconds_takes_finite_positive_numbers():
    assert positive_seconds("0.5") == 0.5 and positive_seconds("20") == 20.0
    for text in ("0", "-1", "nan", "inf", "-inf"):
        with pytest.raises(argparse.ArgumentTypeError, match="finite number of seconds"):
            positive_seconds(text)
    with pytest.raises(argparse.ArgumentTypeError, match="not a number"):
        positive_seconds("soon")


def test_output_file_problem_names_the_flag_and_the_fix(tmp_path):
    assert output_file_problem(None, "--out") is None
    assert output_file_problem(tmp_path / "bench.json", "--out") is None
    assert "is a folder" in output_file_problem(tmp_path, "--out")
    missing = output_file_problem(tmp_path / "no" / "x.json", "--stats-json")
    assert missing.startswith("--stats-json") and "create it first" in missing


def test_output_file_problem_sees_a_read_only_folder(tmp_path, monkeypatch):
    # os.access, not chmod: root (as in CI containers) may write into a 0500 folder
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert "not writable" in output_file_problem(tmp_path / "x.json", "--out")


def test_flags_become_overrides_after_set():
    args = build_parser().parse_args(
        ["run", "--set", "camera.fps=15", "--source", "demo", "--display", "null",
         "--backend", "cpu", "--log-level", "debug"])
    assert config_overrides(args) == [
        "camera.fps=15", ("camera.source", "demo"), ("display.kind", "null"),
        ("inference.backend", "cpu"), ("logging.level", "DEBUG")]


def test_a_bare_model_clears_the_bundle():
    args = build_parser().parse_args(["classify", "--model", "m.tflite", "--labels", "l.txt",
                                      "x.png"])
    assert config_overrides(args) == [("model.model", "m.tflite"),
                                      ("model.labels", "l.txt"), ("model.bundle", "")]


def test_a_bundle_flag_clears_a_bare_model_set_in_the_config(tmp_path):
    """configuration.md: a flag wins. --model cleared model.bundle, but --bundle left a
    config's model.model in place, and the two together were refused (exit 78)."""
    from aoc.config import load_config

    config_file = tmp_path / "config.toml"
    config_file.write_text('[model]\nmodel = "m.tflite"\nlabels = "l.txt"\n')
    args = build_parser().parse_args(["classify", "--config", str(config_file), "--bundle",
                                      str(tmp_path), "x.png"])
    config = load_config(config_file, overrides=config_overrides(args))
    assert (config.model.bundle, config.model.model, config.model.labels) == (
        str(tmp_path), "", "")


def test_bundle_and_model_together_are_a_config_error_naming_the_key():
    args = build_parser().parse_args(["run", "--bundle", "b", "--model", "m.tflite"])
    with pytest.raises(ConfigError, match="--bundle and --model") as info:
        config_overrides(args)
    assert info.value.key == "model.model"


def test_every_command_has_its_parser():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {"run", "classify", "explain", "bench", "doctor"}


def test_output_file_problem_refuses_a_fifo_nobody_may_read(tmp_path):
    """Opening a FIFO with no reader blocks for ever: after the whole run, with no summary."""
    import os

    fifo = tmp_path / "stats.fifo"
    os.mkfifo(fifo)
    problem = output_file_problem(fifo, "--stats-json")
    assert problem is not None and "FIFO" in problem and "--stats-json" in problem
