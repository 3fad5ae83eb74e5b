"""inference/bundle: round trip, every refusal of load_bundle, bare models, label count."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes.bundle_parts import CPU_BYTES, LABELS, TPU_BYTES, make

from aoc.errors import AocError, BundleError
from aoc.inference.bundle import bare_bundle, check_label_count, load_bundle
from aoc.inference.bundle_files import sha256_file
from aoc.inference.bundle_spec import SCHEMA_VERSION, EdgeTpuInfo, InputSpec, OutputSpec


def edit_manifest(bundle_dir: Path, change: Any) -> None:
    path = bundle_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def refused(path: Path, match: str, **kwargs: Any) -> BundleError:
    with pytest.raises(BundleError, match=match) as info:
        load_bundle(path, **kwargs)
    assert info.value.path is not None
    return info.value


# ---------------------------------------------------------------- round trip


def test_round_trip(tmp_path: Path, sources: dict[str, Path]) -> None:
    created = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    written = make(
        tmp_path / "b",
        sources,
        edgetpu_model=sources["tpu"],
        edgetpu_info=EdgeTpuInfo(True, None, "16.0.384591198", {"ops_on_tpu": 70}),
        extra_files={"report.md": "# report\n", "report/confusion.png": sources["png"],
                     "model_card.md": b"card"},
        metrics={"accuracy": np.float32(0.5), "per_class": np.array([1, 2, 3])},
        name="default",
        created=created,
    )
    loaded = load_bundle(tmp_path / "b")
    assert loaded == written
    assert loaded.name == "default"
    assert loaded.labels == LABELS
    assert loaded.cpu_model.read_bytes() == CPU_BYTES  # type: ignore[union-attr]
    assert loaded.edgetpu_model is not None and loaded.edgetpu_model.read_bytes() == TPU_BYTES
    assert loaded.input == InputSpec(224, 224, scale=1 / 255)
    assert loaded.output == OutputSpec(dtype="uint8", kind="probabilities", scale=1 / 256)
    assert loaded.edgetpu == EdgeTpuInfo(True, None, "16.0.384591198", {"ops_on_tpu": 70})
    assert loaded.metrics == {"accuracy": 0.5, "per_class": [1, 2, 3]}
    assert loaded.provenance == {"seed": 1, "data_dir": "/data"}
    assert loaded.manifest  # not a bare model
    manifest = loaded.manifest
    assert manifest["schema_version"] == SCHEMA_VERSION == 1
    assert manifest["created"] == "2026-11-25T06:00:00Z"
    assert manifest["models"] == {"cpu": "model.tflite", "edgetpu": "model_edgetpu.tflite",
                                  "float": None}
    assert loaded.float_model is None
    assert manifest["input"]["value_range"] == [0.0, 255.0]
    assert set(manifest["files"]) == {
        "model.tflite", "model_edgetpu.tflite", "labels.txt", "report.md",
        "report/confusion.png", "model_card.md",
    }
    for rel, digest in manifest["files"].items():
        assert sha256_file(tmp_path / "b" / rel) == digest
    assert (tmp_path / "b" / "labels.txt").read_text() == "anime\ncartoon\nneither\n"
    assert (tmp_path / "b" / "report.md").read_text() == "# report\n"
    assert not list((tmp_path / "b").glob(".*.tmp")), "temp files left behind"
    assert load_bundle(tmp_path / "b" / "manifest.json") == loaded


def test_sha256_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    assert sha256_file(tmp_path / "f") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# ---------------------------------------------------------------- spec validation


@pytest.mark.parametrize(
    ("make_spec", "match"),
    [
        (lambda: InputSpec(0, 224), "input.width"),
        (lambda: InputSpec(224, True), "input.height"),  # type: ignore[arg-type]
        (lambda: InputSpec(224, 224, channels=1), "input.channels"),
        (lambda: InputSpec(224, 224, dtype="uint16"), "input.dtype"),
        (lambda: InputSpec(224, 224, resize="zoom"), "input.resize"),
        (lambda: InputSpec(224, 224, scale=0), "input.scale"),
        (lambda: InputSpec(224, 224, zero_point=300), "input.zero_point"),
        (lambda: InputSpec(224, 224, dtype="int8", zero_point=200), "input.zero_point"),
        (lambda: InputSpec(224, 224, value_range=(1, 0)), "input.value_range"),
        (lambda: InputSpec(224, 224, color_order="BGR"), "input.color_order"),
        (lambda: OutputSpec(kind="scores"), "output.kind"),
        (lambda: OutputSpec(scale=float("inf")), "output.scale"),
        (lambda: EdgeTpuInfo("yes"), "edgetpu.compiled"),  # type: ignore[arg-type]
        (lambda: EdgeTpuInfo(False, reason=3), "edgetpu.reason"),  # type: ignore[arg-type]
        (lambda: EdgeTpuInfo(True, summary=[]), "edgetpu.summary"),  # type: ignore[arg-type]
    ],
)
def test_specs_validate(make_spec: Any, match: str) -> None:
    with pytest.raises(BundleError, match=match):
        make_spec()


# ---------------------------------------------------------------- load refusals


def test_verify_false_skips_hashes_only(bundle_dir: Path) -> None:
    (bundle_dir / "model.tflite").write_bytes(b"changed")
    assert load_bundle(bundle_dir, verify=False).cpu_model == bundle_dir.resolve() / "model.tflite"
    error = refused(bundle_dir, "corrupt or changed")
    assert "re-copy the bundle or rebuild it with aoc-train" in str(error)
    assert error.path == bundle_dir.resolve() / "model.tflite"


def test_a_damaged_report_or_card_is_named_but_the_model_still_loads(
        tmp_path: Path, sources: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """One bad sector under report.md refused the only model on a months-old SD card: the
    service restarted every 10 s with a dark screen. What the device runs on stays checked."""
    make(tmp_path / "b", sources, extra_files={"report.md": "# report\n",
                                                "model_card.md": b"card"})
    with (tmp_path / "b" / "report.md").open("a") as report:
        report.write("x")
    (tmp_path / "b" / "model_card.md").unlink()
    with caplog.at_level(logging.WARNING, logger="aoc.inference.bundle_files"):
        bundle = load_bundle(tmp_path / "b")
    assert bundle.cpu_model.read_bytes() == CPU_BYTES
    text = caplog.text
    assert "report.md is corrupt or changed" in text and "model_card.md is missing" in text
    assert "re-copy the bundle folder" in text
    (tmp_path / "b" / "labels.txt").write_text("anime\ncartoon\nother\n")
    refused(tmp_path / "b", "labels.txt is corrupt or changed")


FLOAT_BYTES = b"TFL3 fake float model"


@pytest.fixture
def float_bundle_dir(tmp_path: Path, sources: dict[str, Path]) -> Path:
    (tmp_path / "src" / "m_float.tflite").write_bytes(FLOAT_BYTES)
    out = tmp_path / "float_bundle"
    make(out, sources, float_model=tmp_path / "src" / "m_float.tflite")
    return out


def test_float_model_is_listed_and_verified(float_bundle_dir: Path) -> None:
    bundle = load_bundle(float_bundle_dir)
    assert bundle.float_model == float_bundle_dir.resolve() / "model_float.tflite"
    assert bundle.float_model.read_bytes() == FLOAT_BYTES
    assert bundle.manifest["models"]["float"] == "model_float.tflite"
    assert bundle.manifest["files"]["model_float.tflite"] == sha256_file(bundle.float_model)
    # informational only: the models the device may run are untouched
    assert bundle.cpu_model == float_bundle_dir.resolve() / "model.tflite"
    assert bundle.edgetpu_model is None


def test_float_model_mismatch_is_refused(float_bundle_dir: Path) -> None:
    (float_bundle_dir / "model_float.tflite").write_bytes(b"changed")
    error = refused(float_bundle_dir, "corrupt or changed")
    assert error.path == float_bundle_dir.resolve() / "model_float.tflite"
    (float_bundle_dir / "model_float.tflite").unlink()
    refused(float_bundle_dir, "model_float.tflite is missing", verify=False)


def test_bundle_without_float_key_loads(bundle_dir: Path) -> None:
    # Bundles written before the float model was shipped (models/default as committed)
    # have no models.float key at all.
    edit_manifest(bundle_dir, lambda m: m["models"].pop("float"))
    bundle = load_bundle(bundle_dir)
    assert bundle.float_model is None and "float" not in bundle.manifest["models"]


def test_missing_listed_file(bundle_dir: Path) -> None:
    (bundle_dir / "model_edgetpu.tflite").unlink()
    error = refused(bundle_dir, "model_edgetpu.tflite is missing", verify=False)
    assert "re-copy" in str(error)


def test_labels_file_not_matching_manifest(bundle_dir: Path) -> None:
    (bundle_dir / "labels.txt").write_text("anime\ncartoon\n")
    edit_manifest(bundle_dir, lambda m: m["files"].update(
        {"labels.txt": sha256_file(bundle_dir / "labels.txt")}))
    error = refused(bundle_dir, "does not match the labels in")
    assert error.path == bundle_dir.resolve() / "labels.txt"


def test_labels_file_in_another_order_is_refused(bundle_dir: Path) -> None:
    """Scores are shown by index: a labels.txt with the manifest's labels swapped (a
    hand-edited or mixed-up copy, with its sha256 updated to match) would put "cartoon"
    on the screen for every anime frame, so the labels must match in order, not in number."""
    (bundle_dir / "labels.txt").write_text("cartoon\nanime\nneither\n")
    edit_manifest(bundle_dir, lambda m: m["files"].update(
        {"labels.txt": sha256_file(bundle_dir / "labels.txt")}))
    assert json.loads((bundle_dir / "manifest.json").read_text())["labels"] == list(LABELS)
    error = refused(bundle_dir, "does not match the labels in")
    assert error.path == bundle_dir.resolve() / "labels.txt"


def test_not_a_bundle(tmp_path: Path) -> None:
    error = refused(tmp_path, "holds no manifest.json")
    assert error.path == tmp_path / "manifest.json"
    refused(tmp_path / "absent", "does not exist")
    (tmp_path / "m.tflite").write_bytes(CPU_BYTES)
    refused(tmp_path / "m.tflite", "bare model")


@pytest.mark.parametrize(
    ("version", "match"),
    [(2, "reads version 1: upgrade the device software"), (0, "rebuild the bundle"),
     ("1", "must be int"), (True, "must be int")],
)
def test_schema_version(bundle_dir: Path, version: object, match: str) -> None:
    edit_manifest(bundle_dir, lambda m: m.update(schema_version=version))
    refused(bundle_dir, match)


def test_malformed_json(bundle_dir: Path) -> None:
    (bundle_dir / "manifest.json").write_text('{"schema_version": 1,\n "name": }')
    refused(bundle_dir, r"not valid JSON \(line 2")
    (bundle_dir / "manifest.json").write_text("[1, 2]")
    refused(bundle_dir, "must hold a JSON object")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.pop("files"), "key 'files' is missing"),
        (lambda m: m.update(name=3), "key 'name' must be str, not int"),
        (lambda m: m.update(labels=[]), "'labels' must be a non-empty list"),
        (lambda m: m.update(labels=["a", 1, "c"]), "'labels' must be a non-empty list"),
        (lambda m: m["models"].pop("cpu"), "'models.cpu' is missing"),
        (lambda m: m["models"].update(edgetpu=5), "'models.edgetpu' must be str or NoneType"),
        (lambda m: m["input"].update(width="224"), "input.width"),
        (lambda m: m["input"].pop("resize"), "'input.resize' is missing"),
        (lambda m: m["output"].update(kind="softmax"), "output.kind"),
        (lambda m: m["edgetpu"].update(compiled="yes"), "edgetpu.compiled"),
        (lambda m: m.update(metrics=[]), "'metrics' must be dict"),
        (lambda m: m["files"].update({"labels.txt": "abc"}), "64-digit sha256"),
        (lambda m: m["files"].pop("model.tflite"), "not listed under 'files'"),
        (lambda m: m["edgetpu"].update(compiled=False), "must agree"),
        (lambda m: m["models"].update(float=5), "'models.float' must be str or NoneType"),
        (lambda m: m["models"].update(float="model_float.tflite"), "not listed under 'files'"),
    ],
)
def test_wrong_keys(bundle_dir: Path, change: Any, match: str) -> None:
    edit_manifest(bundle_dir, change)
    error = refused(bundle_dir, match)
    assert error.path == bundle_dir / "manifest.json"
    assert "manifest.json" in str(error)


@pytest.mark.parametrize("rel", ["../outside.bin", "/etc/hostname", "a/../../outside.bin", ""])
def test_paths_escaping_the_bundle(bundle_dir: Path, rel: str) -> None:
    edit_manifest(bundle_dir, lambda m: m["files"].update({rel: "0" * 64}))
    refused(bundle_dir, "escapes the bundle|non-empty relative path")


def test_symlink_out_of_the_bundle(bundle_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.tflite"
    outside.write_bytes(CPU_BYTES)
    (bundle_dir / "model.tflite").unlink()
    os.symlink(outside, bundle_dir / "model.tflite")
    error = refused(bundle_dir, "symlink leading out of the bundle")
    assert error.path == bundle_dir.resolve() / "model.tflite"


def test_symlink_inside_the_bundle_and_linked_bundle_folder(bundle_dir: Path,
                                                            tmp_path: Path) -> None:
    (bundle_dir / "real.tflite").write_bytes(CPU_BYTES)
    (bundle_dir / "model.tflite").unlink()
    os.symlink("real.tflite", bundle_dir / "model.tflite")
    os.symlink(bundle_dir, tmp_path / "current")
    assert load_bundle(tmp_path / "current").labels == LABELS


# ---------------------------------------------------------------- bare models


def labels_file(tmp_path: Path) -> Path:
    path = tmp_path / "labels.txt"
    path.write_text("0 anime\n1 cartoon\n2 neither\n")
    return path


def test_bare_cpu_model(tmp_path: Path) -> None:
    (tmp_path / "net.tflite").write_bytes(CPU_BYTES)
    bundle = bare_bundle(tmp_path / "net.tflite", labels_file(tmp_path))
    assert not bundle.manifest and bundle.name == "net" and bundle.labels == LABELS
    assert bundle.cpu_model == (tmp_path / "net.tflite").resolve()
    assert bundle.edgetpu_model is None and not bundle.edgetpu.compiled
    assert bundle.input is None and bundle.output is None
    assert bundle.require_cpu_model() == bundle.cpu_model


@pytest.mark.parametrize("given", ["net.tflite", "net_edgetpu.tflite"])
def test_bare_pair_is_found_from_either_name(tmp_path: Path, given: str) -> None:
    (tmp_path / "net.tflite").write_bytes(CPU_BYTES)
    (tmp_path / "net_edgetpu.tflite").write_bytes(TPU_BYTES)
    bundle = bare_bundle(tmp_path / given, labels_file(tmp_path))
    assert bundle.cpu_model == (tmp_path / "net.tflite").resolve()
    assert bundle.edgetpu_model == (tmp_path / "net_edgetpu.tflite").resolve()
    assert bundle.edgetpu.compiled and bundle.name == "net"


@pytest.mark.parametrize("name", ["net_edgetpu.tflite", "renamed.tflite"])
def test_bare_edgetpu_only_model(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(TPU_BYTES)
    bundle = bare_bundle(tmp_path / name, labels_file(tmp_path))
    assert bundle.cpu_model is None
    assert bundle.edgetpu_model == (tmp_path / name).resolve()
    with pytest.raises(BundleError, match="cannot run on the CPU: attach a Coral USB"):
        bundle.require_cpu_model()


def test_bare_missing_files(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist") as info:
        bare_bundle(tmp_path / "none.tflite", labels_file(tmp_path))
    assert info.value.path == tmp_path / "none.tflite"
    (tmp_path / "net.tflite").write_bytes(CPU_BYTES)
    with pytest.raises(BundleError, match="labels file"):
        bare_bundle(tmp_path / "net.tflite", tmp_path / "missing.txt")


def test_fifos_and_devices_are_refused_never_read(tmp_path: Path, bundle_dir: Path) -> None:
    import os

    fifo = tmp_path / "pipe.tflite"
    os.mkfifo(fifo)
    with pytest.raises(BundleError, match="FIFO"):
        bare_bundle(fifo, labels_file(tmp_path))
    (tmp_path / "net.tflite").write_bytes(CPU_BYTES)
    with pytest.raises(BundleError, match="character device"):
        bare_bundle(tmp_path / "net.tflite", "/dev/zero")
    manifest = bundle_dir / "manifest.json"
    manifest.unlink()
    os.mkfifo(manifest)
    with pytest.raises(BundleError, match="manifest.*FIFO"):
        load_bundle(bundle_dir)


def test_a_bundle_file_that_is_a_fifo_is_named_so_not_missing(bundle_dir: Path) -> None:
    import os

    model = bundle_dir / "model.tflite"
    model.unlink()
    os.mkfifo(model)
    with pytest.raises(BundleError, match="model.tflite is not a regular file"):
        load_bundle(bundle_dir, verify=False)


# ---------------------------------------------------------------- label count


def test_check_label_count(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    check_label_count(bundle, 3)
    match = "has 3 labels but model .*model.tflite outputs 5"
    with pytest.raises(BundleError, match=match) as info:
        check_label_count(bundle, 5)
    assert info.value.path == bundle.labels_file
    assert "labels.txt" in str(info.value)
    assert isinstance(info.value, AocError) and isinstance(info.value, ValueError)
