"""Tests for aoc.app.model: the classifier opener per [inference], resize from the bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aoc.app.host import Host
from aoc.app.model import (
    classifier_opener,
    inference_threads,
    open_one_shot_classifier,
    source_resize,
)
from aoc.config import config_from_dict
from aoc.config_sections import Config

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "data" / "models"


def make_config(**sections) -> Config:
    return config_from_dict(sections)


def test_cpu_backend_never_probes_the_tpu():
    def probe():
        raise AssertionError("TPU probed")

    opener = classifier_opener(make_config(inference={"backend": "cpu"}), tpu_probe=probe)
    from aoc.inference.bundle import load_bundle

    with opener(load_bundle(MODELS / "uint8")) as clf:
        assert clf.backend == "cpu"


@pytest.mark.parametrize(("probe", "isolate"), [([], True), (["usb:18d1:9302"], False)])
def test_tpu_bundle_without_a_tpu_fails_over_to_cpu(probe, isolate):
    """A bundle with an Edge TPU model on a machine without TPU/libedgetpu runs on the CPU."""
    import dataclasses

    from aoc.inference.bundle import load_bundle

    bundle = load_bundle(MODELS / "uint8")
    tpu_bundle = dataclasses.replace(bundle, edgetpu_model=bundle.cpu_model)
    config = make_config(inference={"backend": "auto", "isolate_tpu": isolate})
    with classifier_opener(config, tpu_probe=lambda: probe)(tpu_bundle) as clf:
        assert clf.backend == "cpu"
        assert clf.fault == "no TPU - on CPU"
        assert "Edge TPU unavailable" in clf.reason
        # nobody asked for the CPU: the reason says the CPU model stands in
        assert "the CPU model stands in; running CPU model" in clf.reason
        assert "requested" not in clf.reason
        assert clf.classify(np.zeros((32, 32, 3), np.uint8)).shape == (3,)


def test_a_reprobe_of_the_isolated_tpu_has_a_shorter_start_limit(monkeypatch):
    """60 s for the child at boot; a re-probe blocks the loop that feeds the watchdog."""
    import dataclasses

    import aoc.inference.isolated as isolated
    from aoc.app.model import REPROBE_START_TIMEOUT_S, START_TIMEOUT_S
    from aoc.errors import EdgeTpuUnavailable
    from aoc.inference.bundle import load_bundle

    limits = []

    def no_child(bundle, **kwargs):
        limits.append(kwargs["start_timeout_s"])
        raise EdgeTpuUnavailable("no Edge TPU answered")

    monkeypatch.setattr(isolated, "open_isolated_classifier", no_child)
    bundle = load_bundle(MODELS / "uint8")
    tpu_bundle = dataclasses.replace(bundle, edgetpu_model=bundle.cpu_model)
    config = make_config(inference={"backend": "auto", "isolate_tpu": True,
                                    "reprobe_interval_s": 1.0})
    with classifier_opener(config, tpu_probe=lambda: ["usb:18d1:9302"])(tpu_bundle) as clf:
        assert clf.backend == "cpu"
        clf._next_probe = 0.0  # due now
        clf.classify(np.zeros((32, 32, 3), np.uint8))
    assert limits == [START_TIMEOUT_S, REPROBE_START_TIMEOUT_S]


@pytest.mark.parametrize(("configured", "cpus", "expected"),
                         [(0, 4, 4), (3, 4, 3), (0, None, None), (1, None, 1)])
def test_threads_are_every_usable_cpu_unless_configured(configured, cpus, expected):
    config = make_config(inference={"num_threads": configured})
    assert inference_threads(config, Host(cpu_count=cpus)) == expected
    assert inference_threads(config, None) == (configured or None)


def test_the_cpu_model_runs_on_the_host_cpus_and_says_so():
    config = make_config(inference={"backend": "cpu"},
                         model={"bundle": str(MODELS / "uint8")})
    selection = open_one_shot_classifier(config, Host(cpu_count=2))
    with selection.opened as clf:
        assert clf.reason.endswith(", 2 threads")
        assert clf.classify(np.zeros((32, 32, 3), np.uint8)).shape == (3,)


def test_source_resize_is_the_manifest_name_the_sources_accept():
    from types import SimpleNamespace

    from aoc.sources.base import check_resize_mode

    for name in ("stretch", "center_crop", "letterbox"):
        bundle = SimpleNamespace(input=SimpleNamespace(resize=name))
        assert check_resize_mode(source_resize(bundle)) == name
    assert source_resize(SimpleNamespace(input=None)) == "stretch"  # bare model


@pytest.mark.parametrize(("device", "found", "other"),
                         [("usb", ["pci:/dev/apex_0"], "pci"),
                          ("pci:0", ["usb:1a6e:089a"], "usb")])
def test_a_tpu_of_the_other_kind_starts_no_child_and_names_the_setting(
        monkeypatch, device, found, other):
    """libedgetpu opens only the configured kind: a lone M.2 Coral with the default "usb"
    would fail like a missing one on every re-probe; no child is started, and the reason
    says which setting to change."""
    import dataclasses

    import aoc.inference.isolated as isolated
    from aoc.inference.bundle import load_bundle

    def no_child(bundle, **kwargs):
        raise AssertionError("a child was started for a TPU libedgetpu cannot open")

    monkeypatch.setattr(isolated, "open_isolated_classifier", no_child)
    bundle = load_bundle(MODELS / "uint8")
    tpu_bundle = dataclasses.replace(bundle, edgetpu_model=bundle.cpu_model)
    config = make_config(inference={"backend": "auto", "edgetpu_device": device})
    with classifier_opener(config, tpu_probe=lambda: found)(tpu_bundle) as clf:
        assert clf.backend == "cpu"
        assert found[0] in clf.reason
        assert f'edgetpu_device = "{other}"' in clf.reason
