"""Tests for aoc.config: defaults, the documented example, validation, overrides."""

from __future__ import annotations

import logging
import re

import pytest

from aoc.config import (
    EXAMPLE_CONFIG_PATH,
    apply_overrides,
    config_from_dict,
    load_config,
    parse_override,
    read_toml,
)
from aoc.config_sections import Config, section_keys
from aoc.errors import ConfigError


def test_example_parses_covers_every_key_and_equals_defaults():
    data = read_toml(EXAMPLE_CONFIG_PATH)
    assert {s: tuple(keys) for s, keys in data.items()} == section_keys()
    assert config_from_dict(data) == Config()


def test_every_key_has_a_comment_in_the_example():
    lines = EXAMPLE_CONFIG_PATH.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\w+) = ", line)
        if m:
            # the key's own line is preceded by a comment block (or a key sharing it)
            j = i - 1
            while j >= 0 and re.match(r"^\w+ = ", lines[j]):
                j -= 1
            assert lines[j].startswith("#"), f"key {m.group(1)} has no comment"


def test_missing_default_file_means_defaults(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="aoc.config"):
        config = load_config(default_path=tmp_path / "absent.toml")
    assert config == Config()
    assert "built-in defaults" in caplog.text


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_load_file_with_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[display]\nkind = "null"\n[smoothing]\ntau_s = 2\n')
    config = load_config(path, overrides=["camera.source=demo", "smoothing.enter=0.6"])
    assert config.display.kind == "null"
    assert config.smoothing.tau_s == 2.0 and isinstance(config.smoothing.tau_s, float)
    assert config.camera.source == "demo"
    assert config.smoothing.enter == 0.6


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"display": {"kind": "hdmi"}}, "display.kind", ["'hdmi'", "'oled'", "'null'"]),
        ({"display": {"colour": 1}}, "display.colour", ["unknown", "kind"]),
        ({"camera": {"width": "wide"}}, "camera.width", ["'wide'", "integer"]),
        ({"camera": {"width": 5.5}}, "camera.width", ["5.5", "integer"]),
        ({"controls": {"enabled": 1}}, "controls.enabled", ["true or false"]),
        ({"smoothing": {"tau_s": -1}}, "smoothing.tau_s", ["-1", "[0.0, 60.0]"]),
        ({"display": {"i2c_address": 200}}, "display.i2c_address", ["200", "range"]),
        ({"camera": {"backoff": []}}, "camera.backoff", ["non-empty list"]),
        ({"camera": {"backoff": [1, -2]}}, "camera.backoff", ["-2", "range"]),
        ({"screen": {}}, "screen", ["unknown section", "display"]),
        ({"model": {"model": "x.tflite"}}, "model.labels", ["labels"]),
        ({"smoothing": {"both_min": 0.7}}, "smoothing.both_min", ["enter"]),
        ({"controls": {"led_pin": 17}}, "controls.led_pin", ["controls.freeze_pin"]),
        ({"display": {"blank_after_s": 10.0}}, "display.blank_after_s", ["dim_after_s"]),
    ],
)
def test_bad_values_name_the_key_value_and_allowed(data, key, words):
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert err.value.key == key
    assert key in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_choices_take_either_case_and_a_webcam_may_be_a_number():
    """`--log-level debug` worked but `level = "debug"` was refused; `--source 0` worked
    but `source = 0` (and `--set camera.source=0`) was refused."""
    config = config_from_dict({"logging": {"level": "debug"}, "display": {"kind": "OLED"},
                               "camera": {"source": 0}})
    assert (config.logging.level, config.display.kind, config.camera.source) == (
        "DEBUG", "oled", "0")
    with pytest.raises(ConfigError, match="camera.source = True has the wrong type"):
        config_from_dict({"camera": {"source": True}})


def test_a_wrong_type_is_said_once():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"display": {"path": 3}})
    assert str(err.value).endswith("it must be a string")  # was "a string (a string)"


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[display\nkind = 1\n")
    with pytest.raises(ConfigError, match="broken.toml"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("display.kind=null", ("display", "kind", "null")),
        ("smoothing.tau_s=0.5", ("smoothing", "tau_s", 0.5)),
        ("controls.enabled=false", ("controls", "enabled", False)),
        ("display.i2c_address=0x3D", ("display", "i2c_address", 0x3D)),
        ('camera.source="/tmp/a b"', ("camera", "source", "/tmp/a b")),
        ("camera.backoff=[1, 2]", ("camera", "backoff", [1, 2])),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["display", "kind=null", ".kind=1", "display.=1"])
def test_bad_override_syntax(text):
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override(text)


def test_apply_overrides_does_not_touch_input():
    data = {"display": {"kind": "oled"}}
    merged = apply_overrides(data, [("display.kind", "null"), "logging.level=DEBUG"])
    assert data == {"display": {"kind": "oled"}}
    assert merged == {"display": {"kind": "null"}, "logging": {"level": "DEBUG"}}




def test_config_that_is_not_utf8_names_the_file_and_byte_offset(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'# caf\xe9 corner\n[camera]\nsource = "demo"\n')  # Latin-1, in a comment
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert str(path) in text and "byte offset 5" in text and "line 1" in text
    assert "UTF-8" in text


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'\xef\xbb\xbf[camera]\nsource = "demo"\n')
    assert load_config(path).camera.source == "demo"


def test_config_that_is_a_fifo_or_folder_is_refused(tmp_path):
    import os

    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="FIFO"):
        load_config(fifo)
    with pytest.raises(ConfigError, match="FIFO"):
        load_config(default_path=fifo)  # the default path too: never a silent default
    with pytest.raises(ConfigError, match="folder"):
        load_config(tmp_path)


def test_a_key_above_every_section_is_named_with_its_section():
    with pytest.raises(ConfigError, match=r"key 'source' is outside any section; it belongs "
                                          r"under \[camera\]") as info:
        config_from_dict({"source": "demo"})
    assert info.value.key == "source"
    with pytest.raises(ConfigError, match=r"unknown section \[camra\]"):
        config_from_dict({"camra": {"source": "demo"}})


@pytest.mark.parametrize(("section", "key"), [("display", "max_shift"), ("display", "rotate")])
def test_true_is_not_an_integer(tmp_path, section, key):
    """Python counts True as 1: `max_shift = true` (meant as "shift on") or `rotate = true`
    passed the range and choice checks and silently became 1."""
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{key} = true\n")
    with pytest.raises(ConfigError, match="has the wrong type; it must be an integer") as err:
        load_config(path)
    assert err.value.key == f"{section}.{key}" and f"{section}.{key}" in str(err.value)


@pytest.mark.parametrize("value", ["nan", "inf", "-nan"])
@pytest.mark.parametrize(("section", "key"),
                         [("smoothing", "tau_s"), ("display", "change_threshold")])
def test_nan_and_inf_are_refused_for_a_number(tmp_path, section, key, value):
    """TOML has `nan` and `inf`; a NaN passes every `lo <= value <= hi` check (each
    comparison is False), and a NaN time constant or threshold turns every score and
    verdict into NaN or never-changing."""
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match="must be a finite number") as err:
        load_config(path)
    assert err.value.key == f"{section}.{key}" and f"{section}.{key}" in str(err.value)
