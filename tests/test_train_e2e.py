"""End to end: a tiny model through build (fit -> export -> check -> compile -> evaluate ->
bundle), then the device's own loader and classifier run it."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from aoc_train.cli import main

CLASSES = ("anime", "cartoon", "neither")


def _draw(label: str, seed: int, side: int = 64) -> Image.Image:
    """Three visibly different toy styles, drawn here (no third-party pixels)."""
    rng = np.random.default_rng(seed)
    if label == "neither":  # photo-like: smooth noise
        small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        return Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC)
    # A smooth random background so that no two drawings are near-duplicates: the split
    # drops evaluation images within a few difference-hash bits of a training image.
    light = rng.integers(150, 256, (4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(light).resize((side, side), Image.Resampling.BICUBIC)
    d = ImageDraw.Draw(img)
    for _ in range(3):
        x, y = rng.integers(0, side - 16, 2)
        box = [int(x), int(y), int(x) + 16, int(y) + 16]
        if label == "anime":
            d.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        else:
            d.rectangle(box, outline=(0, 0, 0), width=3)
    return img


def _data(root: Path, per_class: int = 16) -> Path:
    rows = []
    for label in CLASSES:
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            name = f"{label}/{i}.jpg"
            # A fixed seed per image: hash() of a str is salted per process, which made the
            # data (and so the split) differ from run to run.
            _draw(label, CLASSES.index(label) * 1000 + i).save(root / name, quality=90)
            rows.append({"file": name, "label": label, "source": f"{label}_src{i % 2}"})
    with (root / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "label", "source"])
        w.writeheader()
        w.writerows(rows)
    return root


def _skip_quality_gate(monkeypatch) -> None:
    """These builds test the plumbing, not the model. Without --weights (no download, no
    ../shared here) MobileNetV2 starts from random initialisation, whose activations vanish
    (pooled features about 1e-11): the toy model's outputs are one tie for every picture,
    which the quality gate refuses. test_build_refuses_a_model_that_learned_nothing covers
    the gate on such a build."""
    from aoc_train.pipeline import Pipeline

    monkeypatch.setattr(Pipeline, "require_quality", lambda self: None)


# model.save_weights() (fit.py, train_stages.py) makes Keras turn each of the ~262
# tf.Variables into numpy with np.array(x) in keras.src.backend.tensorflow.core
# .convert_to_numpy; TensorFlow's ResourceVariable.__array__ lacks numpy 2's `copy` keyword,
# so numpy warns once per variable per save (786 warnings a build). Not our call to fix:
# save_weights is not deprecated. Only that message, from only that Keras module, is hidden.
@pytest.mark.filterwarnings(
    r"ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning:"
    r"keras\.src\.backend\.tensorflow\.core"
)
@pytest.mark.slow
@pytest.mark.training
def test_build_then_device_classifies(tmp_path: Path, capsys, monkeypatch) -> None:
    pytest.importorskip("tensorflow")
    from aoc.inference.bundle import load_bundle
    from aoc.inference.classifier import open_classifier

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no edgetpu_compiler: CPU-only bundle
    _skip_quality_gate(monkeypatch)
    if shutil.which("edgetpu_compiler"):
        pytest.skip("edgetpu_compiler is installed here; this test covers the CPU-only path")
    data = _data(tmp_path / "data")
    out, work = tmp_path / "models" / "tiny", tmp_path / "work"
    args = ["--json", "build", str(data), "--out", str(out), "--work-dir", str(work),
            "--size", "96", "--views", "1", "--head-epochs", "2",
            "--top-tune-from", "Conv_1", "--top-tune-epochs", "1",
            "--calibration", "8", "--holdout-sources", "anime_src1,cartoon_src1",
            "--class-test-fraction", "0.3", "--val-fraction", "0.25", "--workers", "1"]
    assert main(args) == 0, capsys.readouterr().err
    stages = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    names = [s["stage"] for s in stages]
    assert names == ["scan", "split", "fit", "export", "check", "compile", "evaluate", "report"]
    by = {s["stage"]: s for s in stages}
    assert by["export"]["input_scale"] == pytest.approx(1.0, abs=0.01)
    assert by["export"]["input_zero_point"] == 0
    assert by["compile"]["compiled"] is False
    assert by["fit"]["top_tune_epochs"] == 1

    bundle = load_bundle(out)
    assert bundle.labels == CLASSES
    assert bundle.input.resize == "center_crop" and bundle.output.kind == "probabilities"
    assert bundle.edgetpu.compiled is False and bundle.edgetpu.reason
    # the reason is shown on the device: it names the bundle's file, not the build host's path
    assert "model.tflite was not compiled" in bundle.edgetpu.reason
    assert str(tmp_path) not in bundle.edgetpu.reason
    assert bundle.metrics["test_images"] > 0
    for rel in ("report.md", "model_card.md", "report/confusion.png", "report/curves.png",
                "report/augmentation.png"):
        assert (out / rel).is_file(), rel
    assert "source-held-out" in bundle.metrics["test_split"]
    # the float model ships as an informational reference, byte-identical to the export's
    assert bundle.float_model is not None and bundle.float_model.name == "model_float.tflite"
    assert bundle.float_model.read_bytes() == (work / "export" / "model_float.tflite").read_bytes()
    assert "model_float.tflite" in bundle.manifest["files"]
    assert "model_float.tflite" in (out / "report.md").read_text()

    frame = np.asarray(_draw("anime", 4242, side=120).resize((160, 120)))
    with open_classifier(bundle, prefer="cpu") as clf:
        scores = clf.classify(frame)
    assert scores.shape == (3,) and abs(float(scores.sum()) - 1.0) < 0.05

    # resumable: a second build reuses every stage's outputs
    assert main(args) == 0
    again = {json.loads(s)["stage"]: json.loads(s) for s in capsys.readouterr().out.splitlines()}
    assert all(again[s]["skipped"] for s in ("fit", "export", "compile", "evaluate"))
    if again["check"].get("ok") is not None:  # the Edge TPU check ran, so it is cached too
        assert again["check"]["skipped"]


@pytest.mark.filterwarnings(
    r"ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning:"
    r"keras\.src\.backend\.tensorflow\.core"
)
@pytest.mark.slow  # about 40 s here, half of it the int8 conversion
@pytest.mark.training
def test_build_refuses_a_model_that_learned_nothing(tmp_path: Path, capsys,
                                                    monkeypatch) -> None:
    """Noise pictures with arbitrary labels, random initialisation, one head epoch: the model
    cannot learn (here its int8 outputs are one tie for every picture, which argmax used to
    score as class "a"), so build exits 65 naming the problems and --out keeps its old
    bundle."""
    pytest.importorskip("tensorflow")
    from fakes.labelled_images import make_tree

    from aoc_train.cli import EX_DEGENERATE

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    data = make_tree(tmp_path / "data", per_source=6)
    out, work = tmp_path / "models" / "noise", tmp_path / "work"
    out.mkdir(parents=True)
    (out / "manifest.json").write_text("the old bundle")
    args = ["--no-progress", "build", str(data), "--out", str(out), "--work-dir", str(work),
            "--classes", "a,b,c", "--holdout-sources", "", "--class-test-fraction", "0.34",
            "--val-fraction", "0.2", "--size", "32", "--views", "1", "--head-epochs", "1",
            "--top-tune-from", "", "--calibration", "4", "--workers", "1"]
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == EX_DEGENERATE == 65, err
    assert "the model is degenerate and must not be shipped" in err
    assert f"no bundle written to {out}" in err and "What to do:" in err
    assert "at or below chance" in err or "constant" in err
    assert "started from random initialisation (no --weights)" in err
    # the old bundle is untouched and nothing was added next to it
    assert [p.name for p in out.iterdir()] == ["manifest.json"]
    assert (out / "manifest.json").read_text() == "the old bundle"
    # the evaluation ran (staged in the work folder) and a re-run refuses again, from cache
    assert (work / "eval.json").is_file()
    assert main(args) == EX_DEGENERATE
    assert "degenerate" in capsys.readouterr().err


@pytest.mark.filterwarnings(
    r"ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning:"
    r"keras\.src\.backend\.tensorflow\.core"
)
@pytest.mark.slow
@pytest.mark.training
def test_build_from_imagenet_weights_passes_the_quality_gate(tmp_path: Path,
                                                             shared_dir: Path) -> None:
    """The toy build above, started from the ImageNet weights in ../shared: the gate lets a
    model that learned through, and the bundle is written."""
    pytest.importorskip("tensorflow")
    from aoc.inference.bundle import load_bundle

    weights = shared_dir / "weights" / "mobilenet_v2_035_224_imagenet_no_top.weights.h5"
    if not weights.is_file():
        pytest.skip(f"{weights} is absent")
    data = _data(tmp_path / "data")
    out, work = tmp_path / "models" / "tiny", tmp_path / "work"
    args = ["--no-progress", "build", str(data), "--out", str(out), "--work-dir", str(work),
            "--weights", str(weights), "--size", "96", "--views", "1", "--head-epochs", "2",
            "--top-tune-from", "Conv_1", "--top-tune-epochs", "1", "--calibration", "8",
            "--holdout-sources", "anime_src1,cartoon_src1", "--class-test-fraction", "0.3",
            "--val-fraction", "0.25", "--workers", "1"]
    assert main(args) == 0
    bundle = load_bundle(out)
    assert min(bundle.metrics["int8_per_class"].values()) > 1 / 3
    assert "ImageNet weights from `" in (out / "report.md").read_text()
