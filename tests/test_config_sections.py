"""Tests for aoc.config_sections: section dataclasses, their rules and defaults."""

from __future__ import annotations

import dataclasses

import pytest

from aoc.config import config_from_dict
from aoc.config_sections import SECTIONS, Config, ServiceConfig, option, section_keys


def test_config_is_frozen_and_round_trips():
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.display.kind = "null"  # type: ignore[misc]
    assert config_from_dict(config.to_dict()) == config


def test_every_field_carries_its_rules_and_sections_match_config():
    assert list(SECTIONS) == [f.name for f in dataclasses.fields(Config)]
    assert section_keys()["service"][-1] == "allow_root"
    rules = {f.name: f.metadata for f in dataclasses.fields(ServiceConfig)}
    assert rules["ready_grace_s"]["lo"] == 0.0 and rules["ready_grace_s"]["hi"] == 60.0
    assert ServiceConfig().allow_root is False
    for cls in SECTIONS.values():
        for f in dataclasses.fields(cls):
            # plain defaults have no rules; option() fields have all of them
            assert set(f.metadata) in (set(), {"choices", "lo", "hi", "integer_as_text"}), (
                f"{cls.__name__}.{f.name}")


def test_option_stores_lists_as_tuples():
    @dataclasses.dataclass(frozen=True)
    class Section:
        sizes: tuple[int, ...] = option([1, 2], lo=0)

    assert Section().sizes == (1, 2)
    assert dataclasses.fields(Section)[0].metadata["lo"] == 0
