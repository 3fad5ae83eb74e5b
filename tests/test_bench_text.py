"""Tests for aoc.bench.text: the printed form of a bench result."""

from __future__ import annotations

from pathlib import Path

from fakes.head_bundles import standin_bundle

from aoc.bench.run import run_bench
from aoc.bench.text import format_result
from aoc.inference.bundle import load_bundle
from aoc.inference.classifier import open_classifier
from aoc.sources.demo_source import DEMO_DIR

MODELS = Path(__file__).parent / "data" / "models"


def test_text_has_every_row_and_the_targets():
    bundle = load_bundle(MODELS / "uint8")
    with open_classifier(bundle, prefer="cpu") as clf:
        r = run_bench(clf, bundle, frames=6, images_dir=DEMO_DIR, measure_startup=False,
                      sizes={"64x48": (64, 48)}, extras=False)
    text = format_result(r)
    for piece in ("naive", "64x48 RGB", "640x480 YUV420", "decode row", "overhead_ms",
                  "Method:"):
        assert piece in text
    assert "Edge-TPU-like" not in text  # not measured, not printed
    r["tpu_like"] = {"invoke_wait_ms": 2.4, "sizes": {"64x48": r["sizes"]["64x48"]}}
    assert "with an Edge-TPU-like invoke (a 2.4 ms wait" in format_result(r)


def test_text_of_a_head_bundle_names_the_head(tmp_path):
    bundle = standin_bundle(tmp_path)
    with open_classifier(bundle, prefer="cpu") as clf:
        r = run_bench(clf, bundle, frames=6, images_dir=DEMO_DIR, measure_startup=False,
                      sizes={"64x48": (64, 48)}, extras=False)
    assert "part of postprocess" in format_result(r)
