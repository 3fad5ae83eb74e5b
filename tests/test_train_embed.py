"""aoc_train.embed: where Coral's compiled extractor is found (the shipped default bundle
carries it byte for byte, so a clone without ../shared can build)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aoc_train import embed
from aoc_train.embed import BUNDLED_BACKBONE_DIR, coral_v1, default_backbone_dir
from aoc_train.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def test_the_default_bundle_carries_corals_extractor() -> None:
    """A user's clone has no ../shared: --backbone-dir models/default was refused for its
    file names although they are Coral's files byte for byte."""
    backbone = coral_v1(ROOT / "models" / "default")
    assert backbone.cpu_model.name == "model.tflite"
    assert backbone.edgetpu_model.name == "model_edgetpu.tflite"
    assert BUNDLED_BACKBONE_DIR == ROOT / "models" / "default"


def test_a_bundle_with_other_models_is_not_taken_for_the_extractor(tmp_path: Path) -> None:
    for name in ("model.tflite", "model_edgetpu.tflite"):
        shutil.copyfile(ROOT / "tests" / "data" / "models" / "uint8" / "model.tflite",
                        tmp_path / name)
    with pytest.raises(DataError, match="not Coral's embedding extractor"):
        coral_v1(tmp_path)
    with pytest.raises(DataError, match=r"is missing: pass --backbone-dir.*models/default"):
        coral_v1(tmp_path / "nothing-here")


def test_without_the_research_references_the_default_bundle_is_used(tmp_path: Path,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(embed, "SHARED_BACKBONE_DIR", tmp_path / "no-shared")
    assert default_backbone_dir() == BUNDLED_BACKBONE_DIR
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite").write_bytes(b"x")
    monkeypatch.setattr(embed, "SHARED_BACKBONE_DIR", shared)
    assert default_backbone_dir() == shared
