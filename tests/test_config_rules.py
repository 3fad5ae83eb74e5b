"""Tests for aoc.config_rules: keys that must agree, Edge TPU device names, the shutdown
command; each refusal names its key."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from aoc.config import config_from_dict
from aoc.config_rules import check_edgetpu_device, check_rules, check_shutdown_command
from aoc.config_sections import Config, ControlsConfig, ModelConfig, ServiceConfig
from aoc.errors import ConfigError


def test_the_defaults_keep_every_rule():
    check_rules(Config())


@pytest.mark.parametrize(("change", "key"), [
    ({"model": ModelConfig(bundle="", model="m.tflite")}, "model.labels"),
    ({"model": ModelConfig(bundle="", labels="l.txt")}, "model.model"),
    ({"model": ModelConfig(bundle="b", model="m.tflite", labels="l.txt")}, "model.model"),
])
def test_a_bare_model_needs_its_labels_and_no_bundle(change, key):
    with pytest.raises(ConfigError) as info:
        check_rules(dataclasses.replace(Config(), **change))
    assert info.value.key == key and key in str(info.value)


def test_two_controls_on_one_pin_name_the_later_key():
    controls = dataclasses.replace(ControlsConfig(), led_pin=ControlsConfig().freeze_pin)
    with pytest.raises(ConfigError, match="own GPIO pin") as info:
        check_rules(dataclasses.replace(Config(), controls=controls))
    assert info.value.key == "controls.led_pin"


def test_unfitted_controls_may_share_minus_one():
    controls = dataclasses.replace(ControlsConfig(), freeze_pin=-1, led_pin=-1)
    check_rules(dataclasses.replace(Config(), controls=controls))


@pytest.mark.parametrize("device", ["usb", "usb:0", "usb:12", "pci", "pci:1"])
def test_edgetpu_device_names_accepted(device):
    check_edgetpu_device(device)
    assert config_from_dict({"inference": {"edgetpu_device": device}}).inference


@pytest.mark.parametrize("device", ["", "usb0", "USB", "usb:", "pci:x", "/dev/apex_0",
                                    "usb:0 "])
def test_edgetpu_device_names_refused(device):
    with pytest.raises(ConfigError, match="'usb', 'usb:N', 'pci' or 'pci:N'") as info:
        check_edgetpu_device(device)
    assert info.value.key == "inference.edgetpu_device"


@pytest.mark.parametrize("command,words", [
    ('systemctl "poweroff', "cannot be parsed"),
    ("/nonexistent/bin/halt now", "not found"),
    ("no-such-program-aoc --now", "not found"),
])
def test_shutdown_command_is_checked_at_load(command, words):
    with pytest.raises(ConfigError, match=words) as info:
        config_from_dict({"service": {"shutdown_command": command}})
    assert info.value.key == "service.shutdown_command"


def test_shutdown_command_empty_or_existing_is_fine():
    check_shutdown_command("")
    check_shutdown_command("true --now")


def test_the_default_shutdown_command_missing_is_not_the_users_mistake(caplog):
    """A desktop without systemctl: the default only logs; the same program named by the
    user is refused."""
    def nowhere(program):
        return None

    with caplog.at_level(logging.DEBUG, logger="aoc.config_rules"):
        check_shutdown_command(ServiceConfig.shutdown_command, which=nowhere)
    assert "power button will only log" in caplog.text
    with pytest.raises(ConfigError, match="not found"):
        check_shutdown_command(ServiceConfig.shutdown_command + " --force", which=nowhere)


@pytest.mark.parametrize("rotate", [1, 3])
def test_a_panel_stood_on_its_side_must_stay_wide_enough_to_draw(rotate):
    """luma turns a 128x64 panel at rotate 1 or 3 into 64x128; the screens need 96 wide:
    every frame failed to draw, with a traceback each."""
    with pytest.raises(ConfigError, match="display.rotate") as info:
        config_from_dict({"display": {"rotate": rotate}})
    assert info.value.key == "display.rotate" and "64x128" in str(info.value)
    config_from_dict({"display": {"rotate": rotate, "width": 128, "height": 128}})
    config_from_dict({"display": {"rotate": 2}})


def test_the_drawable_size_agrees_with_the_renderer():
    import dataclasses

    from aoc.config_rules import DRAWABLE_WIDTH
    from aoc.config_sections import DisplayConfig
    from aoc.display.render import MIN_SIZE

    rules = {f.name: f.metadata for f in dataclasses.fields(DisplayConfig)}
    assert (rules["width"]["lo"], rules["height"]["lo"]) == MIN_SIZE
    assert DRAWABLE_WIDTH == MIN_SIZE[0]


@pytest.mark.parametrize("smoothing", [
    {"both_min": 0.3, "hysteresis": 0.3},  # "both" held while anime >= 0 and cartoon >= 0
    {"both_min": 0.0, "hysteresis": 0.0},  # "both" from the first frame, for good
    {"enter": 0.4, "both_min": 0.3, "hysteresis": 0.45},  # "neither" held for any scores
])
def test_verdict_settings_that_could_never_end_a_verdict_are_refused(smoothing):
    with pytest.raises(ConfigError, match="could never end") as info:
        config_from_dict({"smoothing": smoothing})
    assert info.value.key == "smoothing.hysteresis"
    config_from_dict({"smoothing": {"both_min": 0.3, "hysteresis": 0.25}})


def test_a_bundle_folder_given_as_a_bare_model_points_to_the_bundle_key(tmp_path):
    """`aoc classify --model models/default` said 'model.labels is empty', then with
    --labels that the folder 'is a folder ... pass a .tflite file': neither named --bundle."""
    config = dataclasses.replace(Config(), model=ModelConfig(model=str(tmp_path)))
    with pytest.raises(ConfigError, match=r"is a folder: a bundle folder goes in model.bundle "
                                          r"\(--bundle"):
        check_rules(config)


def test_thresholds_that_let_the_lower_class_stay_are_warned_about(caplog):
    """both_min above enter - 2 x hysteresis: a held anime stays while cartoon is below
    both_min + hysteresis, above anime's own floor (41 % anime shown against 50 %)."""
    with caplog.at_level(logging.WARNING, logger="aoc.config_rules"):
        config_from_dict({"smoothing": {"both_min": 0.45}})
    assert "smoothing.both_min = 0.45 is above smoothing.enter - 2 x" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aoc.config_rules"):
        config_from_dict({"smoothing": {"both_min": 0.45, "hysteresis": 0.025}})
        config_from_dict({})
    assert "both_min" not in caplog.text


def test_two_controls_on_gpio0_are_caught_too():
    """GPIO0 is a real pin (-1 means not fitted): two buttons wired to it would both
    fire on one press, and the config must say so like for any other pin."""
    controls = dataclasses.replace(ControlsConfig(), freeze_pin=0, view_pin=0)
    with pytest.raises(ConfigError, match="own GPIO pin") as info:
        check_rules(dataclasses.replace(Config(), controls=controls))
    assert info.value.key == "controls.view_pin"
