"""Tests for inference/bundle_write: writing bundles, rewriting in place, every write refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.bundle_parts import LABELS, make
from fakes.head_bundles import backbone_section, random_head

from aoc.errors import BundleError
from aoc.inference.bundle_spec import EdgeTpuInfo, InputSpec, OutputSpec
from aoc.inference.bundle_write import check_bundle_target, write_bundle


def test_without_edgetpu_model(tmp_path: Path, sources: dict[str, Path]) -> None:
    bundle = make(tmp_path / "b", sources)
    assert bundle.edgetpu_model is None
    assert bundle.edgetpu.compiled is False and bundle.edgetpu.reason
    assert bundle.manifest["models"]["edgetpu"] is None
    assert bundle.name == "b"


def test_rewrite_without_edgetpu_removes_the_stale_one(bundle_dir: Path, sources: dict) -> None:
    reason = "edgetpu_compiler not found on PATH"
    bundle = make(bundle_dir, sources, edgetpu_info=EdgeTpuInfo(False, reason))
    assert bundle.edgetpu.reason == reason
    assert not (bundle_dir / "model_edgetpu.tflite").exists()


def test_float_model_is_copied_and_a_rewrite_without_it_removes_it(
        bundle_dir: Path, tmp_path: Path, sources: dict) -> None:
    float_src = tmp_path / "src" / "m_float.tflite"
    float_src.write_bytes(b"TFL3 fake float model")
    bundle = make(bundle_dir, sources, float_model=float_src)
    assert bundle.float_model is not None
    assert bundle.float_model.read_bytes() == float_src.read_bytes()
    assert bundle.manifest["models"]["float"] == "model_float.tflite"
    assert "model_float.tflite" in bundle.manifest["files"]
    again = make(bundle_dir, sources)
    assert again.float_model is None and again.manifest["models"]["float"] is None
    assert "model_float.tflite" not in again.manifest["files"]
    assert not (bundle_dir / "model_float.tflite").exists()


def test_write_from_files_already_in_place(bundle_dir: Path) -> None:
    again = write_bundle(
        bundle_dir, cpu_model=bundle_dir / "model.tflite", labels=LABELS,
        input_spec=InputSpec(96, 96), output_spec=OutputSpec(), provenance={}, metrics={},
    )
    assert again.input == InputSpec(96, 96)


PROBS = OutputSpec(dtype="float32", kind="probabilities", scale=1.0, zero_point=0)


def test_backbone_and_head_are_written_and_a_rewrite_without_them_removes_head_npz(
        tmp_path: Path, sources: dict) -> None:
    head = random_head(6)
    bundle = make(tmp_path / "b", sources, edgetpu_model=sources["tpu"], output_spec=PROBS,
                  backbone=backbone_section(6, 0.02), head=head)
    assert (tmp_path / "b" / "head.npz").is_file()
    assert bundle.head is not None and bundle.head.layer_sizes == (6, 3)
    assert bundle.backbone is not None and bundle.backbone.to_dict() == backbone_section(6, 0.02)
    again = make(tmp_path / "b", sources)
    assert again.head is None and again.backbone is None
    assert "head" not in again.manifest and "backbone" not in again.manifest
    assert not (tmp_path / "b" / "head.npz").exists()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"head": random_head(6)}, "backbone and head go together"),
        ({"backbone": backbone_section(6, 0.02)}, "backbone and head go together"),
        ({"head": random_head(6), "backbone": backbone_section(7, 0.02)},
         "takes a 6-long embedding but .* gives 7"),
        ({"head": random_head(6, 2), "backbone": backbone_section(6, 0.02)},
         "gives 2 scores but .* has 3 labels"),
        ({"head": random_head(6), "backbone": {"name": "b", "origin": "o", "output": {}}},
         "backbone.output.dim"),
        ({"head": random_head(6), "backbone": backbone_section(6, 0.02),
          "output_spec": OutputSpec()}, "must be float32 probabilities, not uint8"),
    ],
)
def test_write_refuses_bad_heads(tmp_path: Path, sources: dict, overrides: dict,
                                 match: str) -> None:
    overrides.setdefault("output_spec", PROBS)
    with pytest.raises(BundleError, match=match):
        make(tmp_path / "b", sources, **overrides)
    assert not (tmp_path / "b" / "manifest.json").exists()
    assert not (tmp_path / "b" / "head.npz").exists()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"edgetpu_info": EdgeTpuInfo(True)}, "compiled=True but edgetpu_model"),
        ({"extra_files": {"head.npz": b"x"}}, "reserved"),
        ({"labels": "labels.txt"}, "not a path"),
        ({"extra_files": {"labels.txt": b"x"}}, "reserved"),
        ({"extra_files": {"model_float.tflite": b"x"}}, "reserved"),
        ({"float_model": Path("/nonexistent/f.tflite")}, "does not exist"),
        ({"extra_files": {"../evil.md": b"x"}}, "escapes the bundle"),
        ({"extra_files": {"/tmp/evil.md": b"x"}}, "escapes the bundle"),
        ({"metrics": {"loss": float("nan")}}, "JSON cannot store"),
        ({"metrics": {"obj": object()}}, "JSON cannot store"),
        ({"cpu_model": Path("/nonexistent/m.tflite")}, "does not exist"),
    ],
)
def test_write_refuses(tmp_path: Path, sources: dict, overrides: dict, match: str) -> None:
    with pytest.raises(BundleError, match=match):
        make(tmp_path / "b", sources, **overrides)
    assert not (tmp_path / "b" / "manifest.json").exists()


def test_extra_files_from_bytes_text_and_paths_are_listed_and_hashed(
        tmp_path: Path, sources: dict[str, Path]) -> None:
    png = tmp_path / "c.png"
    png.write_bytes(b"\x89PNG fake")
    bundle = make(tmp_path / "b", sources, extra_files={
        "report.md": "# report\n", "raw.bin": b"\x00\x01", "report/confusion.png": png})
    files = bundle.manifest["files"]
    assert {"report.md", "raw.bin", "report/confusion.png", "model.tflite",
            "labels.txt"} <= set(files)
    assert (tmp_path / "b" / "report.md").read_text() == "# report\n"
    assert (tmp_path / "b" / "report" / "confusion.png").read_bytes() == b"\x89PNG fake"


def test_a_report_naming_a_file_that_is_not_utf8_is_written_with_escapes(
        tmp_path: Path, sources: dict[str, Path]) -> None:
    """os.fsdecode of a Latin-1 name gives surrogates: the report crashed the build."""
    import os

    name = os.fsdecode(b"intel\xe9scenes")
    make(tmp_path / "b", sources, extra_files={"report.md": f"| {name} | 12 |\n"})
    assert (tmp_path / "b" / "report.md").read_text() == "| intel\\udce9scenes | 12 |\n"


def test_a_rewrite_cut_short_leaves_the_old_bundle_working(bundle_dir: Path, sources: dict,
                                                           monkeypatch) -> None:
    """Files were replaced in place and the manifest written last: stopped half-way, the
    old bundle failed its checksums (head.npz changed) and the fall-back had nothing."""
    import aoc.inference.bundle_write as bw
    from aoc.inference.bundle import load_bundle

    before = {p.name: p.read_bytes() for p in bundle_dir.iterdir() if p.is_file()}

    def cut_short(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bw, "write_labels", cut_short)
    with pytest.raises(KeyboardInterrupt):
        make(bundle_dir, sources)
    assert {p.name: p.read_bytes() for p in bundle_dir.iterdir() if p.is_file()} == before
    load_bundle(bundle_dir, verify=True)
    assert sorted(p.name for p in bundle_dir.parent.iterdir() if p.name.startswith(".")) == []


def test_a_staging_folder_left_by_a_crash_is_replaced(bundle_dir: Path, sources: dict) -> None:
    left = bundle_dir.parent / f".{bundle_dir.name}.writing"
    left.mkdir()
    (left / "half-written.bin").write_bytes(b"x")
    again = make(bundle_dir, sources)
    assert not left.exists() and not (bundle_dir / "half-written.bin").exists()
    assert again.root == bundle_dir


def test_a_folder_that_is_not_a_bundle_is_never_replaced(tmp_path: Path, sources: dict) -> None:
    """The bundle replaces its folder whole: --out pointed at the training data (or any
    folder with files) deleted it without a word."""
    data = tmp_path / "data"
    (data / "anime").mkdir(parents=True)
    (data / "anime" / "x.jpg").write_bytes(b"a picture")
    with pytest.raises(BundleError, match="not a model bundle"):
        make(data, sources)
    assert (data / "anime" / "x.jpg").read_bytes() == b"a picture"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(BundleError, match="is a file"):
        make(tmp_path / "afile", sources)
    # a file where a parent folder must go: refused up front (it failed after the build)
    with pytest.raises(BundleError, match=r"afile is a file; give a folder path") as info:
        check_bundle_target(tmp_path / "afile" / "sub" / "bundle")
    assert info.value.path == tmp_path / "afile"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert make(empty, sources).root == empty  # new or empty folders, and bundles, are fine
    assert make(empty, sources).root == empty
