"""inference/bundle_head: backbone/head manifest sections, and every refusal of a bad head bundle
by load_bundle (on the stand-in backbone; Coral's real pair where ../shared exists)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes.bundle_parts import TPU_BYTES
from fakes.head_bundles import (
    CORAL_NAME,
    STANDIN_DIM,
    coral_bundle,
    random_head,
    standin_bundle,
)

from aoc.errors import BundleError
from aoc.inference.bundle import Bundle, load_bundle
from aoc.inference.bundle_files import sha256_file
from aoc.inference.bundle_head import HEAD_FILE, BackboneInfo, HeadInfo, head_sections
from aoc.inference.head import save_head


def edit_manifest(root: Path, change: Any) -> None:
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def replace_file(root: Path, rel: str, data: bytes, *, update_sha: bool = True) -> None:
    (root / rel).write_bytes(data)
    if update_sha:
        edit_manifest(root, lambda m: m["files"].__setitem__(rel, sha256_file(root / rel)))


def replace_head(root: Path, head: Any) -> None:
    """Put another head.npz in, with its sha256 and layers updated (a consistent bundle)."""
    save_head(head, root / HEAD_FILE)
    sha = sha256_file(root / HEAD_FILE)

    def change(m: dict) -> None:
        m["files"][HEAD_FILE] = sha
        m["head"]["layers"] = list(head.layer_sizes)

    edit_manifest(root, change)


def refused(root: Path, match: str) -> BundleError:
    with pytest.raises(BundleError, match=match) as info:
        load_bundle(root)
    assert info.value.path is not None
    return info.value


@pytest.fixture()
def standin(tmp_path: Path) -> Bundle:
    return standin_bundle(tmp_path)


def test_round_trip_carries_backbone_and_head(standin: Bundle) -> None:
    loaded = load_bundle(standin.root)
    assert loaded == standin
    assert loaded.backbone == BackboneInfo(
        "standin-backbone", "tests (stand-in)", STANDIN_DIM, "uint8", 0.011734068393707275, 0
    )
    assert loaded.head is not None and loaded.head.layer_sizes == (STANDIN_DIM, 5, 3)
    for name, array in random_head(STANDIN_DIM, hidden=5).arrays().items():
        np.testing.assert_array_equal(loaded.head.arrays()[name], array)
    manifest = json.loads((standin.root / "manifest.json").read_text())
    assert manifest["head"] == {"file": "head.npz", "format": "dense-v1", "layers": [8, 5, 3]}
    assert manifest["backbone"]["output"] == {
        "dim": 8, "dtype": "uint8", "scale": 0.011734068393707275, "zero_point": 0}
    assert manifest["output"] == {
        "dtype": "float32", "kind": "probabilities", "scale": 1.0, "zero_point": 0}
    assert manifest["models"] == {
        "cpu": "model.tflite", "edgetpu": "model_edgetpu.tflite", "float": None}
    assert set(manifest["files"]) == {"head.npz", "labels.txt", "model.tflite",
                                      "model_edgetpu.tflite"}


def test_single_model_bundles_have_no_backbone_or_head(bundle_dir: Path) -> None:
    loaded = load_bundle(bundle_dir)
    assert loaded.backbone is None and loaded.head is None


def test_sections_parse_and_print_back() -> None:
    head = random_head(4, 2)
    sections = head_sections(
        {"name": "b", "origin": "o",
         "output": {"dim": 4, "dtype": "int8", "scale": 0.5, "zero_point": -3}}, head)
    assert sections["head"] == {"file": "head.npz", "format": "dense-v1", "layers": [4, 2]}
    info = BackboneInfo.from_manifest(sections["backbone"], "m")
    assert (info.dim, info.dtype, info.scale, info.zero_point) == (4, "int8", 0.5, -3)
    assert info.to_dict() == sections["backbone"]
    assert HeadInfo.from_manifest(sections["head"], "m").layers == (4, 2)
    assert head_sections(info, head)["backbone"] == sections["backbone"]
    extra = head_sections({"name": "b", "origin": "o", "url": "https://example.org/m",
                           "output": {"dim": 4, "dtype": "uint8", "scale": 1, "zero_point": 0,
                                      "layer": "avgpool"}}, head)["backbone"]
    assert extra["url"] == "https://example.org/m" and extra["output"]["layer"] == "avgpool"
    assert extra["output"]["scale"] == 1.0 and isinstance(extra["output"]["scale"], float)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m["head"].__setitem__("format", "dense-v9"),
         r"head format 'dense-v9' \(key 'head.format'\) is unknown.*upgrade the device software"),
        (lambda m: m.pop("head"), "key 'backbone' is given without key 'head'"),
        (lambda m: m.pop("backbone"), "key 'head' is given without key 'backbone'"),
        (lambda m: m["head"].__setitem__("layers", [8]), "key 'head.layers' must list"),
        (lambda m: m["head"].__setitem__("file", ""), "key 'head.file' must be"),
        (lambda m: m["backbone"]["output"].__setitem__("dim", 0),
         "key 'backbone.output.dim' must be a positive int"),
        (lambda m: m["backbone"]["output"].__setitem__("dtype", "int4"),
         "key 'backbone.output.dtype' must be one of uint8, int8, float32"),
        (lambda m: m["backbone"]["output"].__setitem__("scale", -1),
         "key 'backbone.output.scale' must be a positive number"),
        (lambda m: m["backbone"].__setitem__("name", ""), "key 'backbone.name' must be"),
        (lambda m: m["backbone"].__setitem__("output", None), "key 'backbone.output' must be"),
        (lambda m: m["files"].pop("head.npz"),
         r"head file 'head.npz' \(key 'head.file'\) is not listed under 'files'"),
        (lambda m: m["head"].__setitem__("layers", [8, 3]),
         r"head.npz has layers \[8, 5, 3\] and format dense-v1 but .*manifest.json says "
         r"head.layers \[8, 3\]"),
        (lambda m: m["backbone"]["output"].__setitem__("dim", 16),
         r"head.npz takes a 8-long embedding but .* gives 16 \(backbone.output.dim\)"),
        (lambda m: m["output"].update(dtype="uint8", scale=1 / 256),
         "'output' describes the head's scores and must be float32 probabilities"),
        (lambda m: m["output"].__setitem__("kind", "logits"),
         "must be float32 probabilities, not float32 logits"),
    ],
)
def test_bad_sections_are_refused(standin: Bundle, change: Any, match: str) -> None:
    edit_manifest(standin.root, change)
    refused(standin.root, match)


def test_head_file_missing_or_changed(standin: Bundle) -> None:
    root = standin.root
    save_head(random_head(STANDIN_DIM, hidden=5, seed=9), root / HEAD_FILE)
    refused(root, r"head.npz is corrupt or changed \(sha256")
    (root / HEAD_FILE).unlink()
    refused(root, r"head.npz is missing \(listed in .*manifest.json\): re-copy the whole bundle")


def test_unreadable_head_file(standin: Bundle) -> None:
    replace_file(standin.root, HEAD_FILE, b"not a zip")
    refused(standin.root, r"head file .*head.npz cannot be read")


def test_head_for_other_labels(standin: Bundle) -> None:
    replace_head(standin.root, random_head(STANDIN_DIM, 2))
    err = refused(standin.root, r"head.npz gives 2 scores but .* has 3 labels")
    assert err.path == standin.root / HEAD_FILE


def test_cpu_twin_changed_or_missing(standin: Bundle) -> None:
    root = standin.root
    replace_file(root, "model.tflite", b"TFL3 other", update_sha=False)
    refused(root, r"model.tflite is corrupt or changed")
    (root / "model.tflite").unlink()
    refused(root, r"model.tflite is missing")


def test_compiled_model_in_place_of_the_cpu_twin(standin: Bundle) -> None:
    replace_file(standin.root, "model.tflite", TPU_BYTES)
    err = refused(standin.root, "models.cpu .* is compiled for the Edge TPU; a backbone \\+ head "
                  "bundle needs the backbone's CPU twin")
    assert err.path == standin.root / "model.tflite"


def test_coral_pair_loads_and_refuses_the_compiled_twin_as_cpu(
    shared_dir: Path, tmp_path: Path
) -> None:
    coral = shared_dir / "reference" / "coral"
    if not (coral / f"{CORAL_NAME}.tflite").is_file():
        pytest.skip("Coral embedding extractor absent from ../shared")
    bundle = coral_bundle(coral, tmp_path)
    assert bundle.backbone is not None and bundle.backbone.dim == 1024
    assert sha256_file(bundle.edgetpu_model) == sha256_file(coral / f"{CORAL_NAME}_edgetpu.tflite")
    edit_manifest(bundle.root, lambda m: m["models"].__setitem__("cpu", "model_edgetpu.tflite"))
    refused(bundle.root, "compiled for the Edge TPU; a backbone \\+ head bundle needs")


def test_head_format_must_match_the_file(standin: Bundle) -> None:
    """A head with an input power is format dense-v2; a manifest saying dense-v1 (which an
    older build would run without the power) is refused, and so is the reverse."""
    from aoc.inference.head import make_head

    old = random_head(STANDIN_DIM, hidden=5, seed=3)
    powered = make_head(old.shift, old.scale, old.weights, old.biases, power=0.5)
    replace_head(standin.root, powered)
    refused(standin.root, r"format dense-v2 but .* and head.format 'dense-v1'")
    edit_manifest(standin.root, lambda m: m["head"].update(format="dense-v2"))
    assert load_bundle(standin.root).head.power == 0.5
