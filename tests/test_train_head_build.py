"""aoc_train.head_build: tiny data -> embeddings (Coral's CPU twin) -> head -> bundle, and
the device classifies the training images with the training-time scores; a model that
cannot learn is refused and writes no bundle. Needs ../shared's Coral backbone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakes.labelled_images import blob, blobs_and_stripes, write_tree
from PIL import Image

from aoc_train.cli import main as train_main


def _tree(root: Path, draw: dict[str, callable], per_source: int = 6) -> Path:
    sources = {label: [f"{label}1", f"{label}2"] for label in draw}
    return write_tree(root, sources, lambda label, seed: draw[label](seed),
                      per_source=per_source, ext="png")


def _build(data: Path, out: Path, work: Path, coral: Path) -> int:
    return train_main(["--no-progress", "build", str(data), "--out", str(out), "--work-dir",
                       str(work), "--backbone", "coral-mobilenet-v1-embedding",
                       "--backbone-dir", str(coral), "--classes", "", "--workers", "1"])


def test_tiny_build_runs_on_the_device_with_training_scores(tmp_path, coral, capsys,
                                                           monkeypatch) -> None:
    from aoc.cli import main as aoc_main
    from aoc.inference.bundle import load_bundle
    from aoc_train.embed import Embedder, coral_v1

    data = blobs_and_stripes(tmp_path / "data")
    (data / "blobs" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "bundle"
    assert _build(data, out, tmp_path / "work", coral) == 0
    bundle = load_bundle(out)
    assert bundle.head is not None and bundle.backbone is not None
    assert bundle.edgetpu_model is not None and bundle.edgetpu_model.name == "model_edgetpu.tflite"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["metrics"]["device_same_top1"] == 1.0
    # the bundle may be shipped: no picture made from the training images goes into it
    assert sorted(p.name for p in (out / "report").iterdir()) == ["loso.json", "tv_views.png"]
    grids = {name: (tmp_path / "work" / "report" / f"mistakes_{name}.png").read_bytes()
             for name in ("clean", "tv")}
    report = (out / "report.md").read_text()
    assert "leave one source out" in report and f"{tmp_path / 'work' / 'report'}" in report
    assert "**Skipped files** (1: " in report and "- `blobs/broken.jpg`: " in report
    # a resumed build reuses every cached step, the explanation grids included
    import aoc.explain.png

    def no_redraw(*args, **kwargs):
        raise AssertionError("the grids were drawn again")

    monkeypatch.setattr(aoc.explain.png, "mistakes_grid", no_redraw)
    again = tmp_path / "again"
    assert _build(data, again, tmp_path / "work", coral) == 0
    for name, png in grids.items():
        assert (tmp_path / "work" / "report" / f"mistakes_{name}.png").read_bytes() == png
    capsys.readouterr()
    images = [p for c in ("stripes", "blobs") for p in sorted((data / c).glob("*.png"))[:3]]
    assert aoc_main(["classify", "--json", "--bundle", str(out), *map(str, images)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    backbone = coral_v1(coral)
    with Embedder(backbone) as embed:
        for line, path in zip(lines, images, strict=True):
            pixels = np.asarray(Image.open(path).convert("RGB"))
            expected = bundle.head(backbone.dequantize(embed(pixels)))
            got = {t["label"]: t["score"] for t in line["top"]}
            for k, label in enumerate(bundle.labels):
                assert got[label] == pytest.approx(float(expected[k]), abs=1e-5)
            assert line["top"][0]["label"] == path.parent.name


def test_a_model_that_cannot_learn_writes_no_bundle(tmp_path, coral, capsys) -> None:
    grey = lambda seed: Image.new("RGB", (64, 64), (128, 128, 128))  # noqa: E731
    data = _tree(tmp_path / "data", {"a": grey, "b": grey}, per_source=4)
    out = tmp_path / "bundle"
    code = _build(data, out, tmp_path / "work", coral)
    assert code != 0
    err = capsys.readouterr().err
    assert "leave-one-source-out" in err and ("chance" in err or "constant" in err)
    assert not (out / "manifest.json").exists()


def test_a_class_no_fold_can_leave_out_is_refused_before_embedding(tmp_path, capsys) -> None:
    """An empty class folder, or one image in one source, ended in a traceback ('class 2
    has no training source left') after all the embedding work; no backbone is needed to
    refuse it."""
    data = write_tree(tmp_path / "d", {"a": ["a1", "a2"], "b": ["b1"]},
                      lambda label, seed: blob(seed), per_source=1, ext="png")
    (data / "c").mkdir()
    rc = _build(data, tmp_path / "o", tmp_path / "w", tmp_path / "no-backbone-here")
    err = capsys.readouterr().err
    assert rc == 1 and "class 'b' has 1 image(s) in 1 source(s)" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_too_few_images_left_by_max_images_is_not_blamed_on_the_data(tmp_path,
                                                                    capsys) -> None:
    data = write_tree(tmp_path / "d", {"a": ["a1", "a2"], "b": ["b1", "b2"]},
                      lambda label, seed: blob(seed), per_source=3, ext="png")
    for n, words in (("1", "needs at least two sources (--max-images 1 kept 1 of 12"),
                     ("3", "(--max-images 3 kept 3 of 12 images: raise it, or 0 for all)")):
        rc = train_main(["--no-progress", "build", str(data), "--out", str(tmp_path / "o"),
                         "--work-dir", str(tmp_path / "w"), "--backbone",
                         "coral-mobilenet-v1-embedding", "--backbone-dir",
                         str(tmp_path / "no-backbone-here"), "--classes", "",
                         "--max-images", n])
        assert rc == 1 and words in capsys.readouterr().err


def test_held_out_scores_are_not_reused_after_the_sources_change(tmp_path) -> None:
    """A regrouped manifest (same pixels, so the same embeddings) reused the old
    leave-one-source-out scores on a resumed build: 0.619 reported where 0.905 was true."""
    from aoc_train.head_build import _loso_cached
    from aoc_train.head_fit import HeadConfig

    rng = np.random.default_rng(0)
    emb = rng.random((12, 4, 8)).astype(np.float32)
    labels = np.repeat([0, 1], 6)
    classes = ("a", "b")
    first = ["a1"] * 3 + ["a2"] * 3 + ["b1"] * 3 + ["b2"] * 3
    regrouped = ["a1", "a2"] * 3 + ["b1", "b2"] * 3
    args = dict(config=HeadConfig(), progress=lambda it: it)
    _loso_cached(tmp_path, "k", emb, labels, first, classes, **args)
    _loso_cached(tmp_path, "k", emb, labels, first, classes, **args)  # resumed: the cache
    assert len(list(tmp_path.glob("loso-*.npz"))) == 1
    _loso_cached(tmp_path, "k", emb, labels, regrouped, classes, **args)
    assert len(list(tmp_path.glob("loso-*.npz"))) == 2


def test_unreadable_caches_are_computed_again_not_a_traceback(tmp_path, caplog) -> None:
    """Caches emptied by a full disk or a copy cut short: EOFError tracebacks before."""
    from aoc_train.embed import _load_store, _save_pack
    from aoc_train.head_build import _loso_cached
    from aoc_train.head_fit import HeadConfig

    store = tmp_path / "store"
    store.mkdir()
    _save_pack(store, ["s1", "s2"], np.ones((2, 4, 8), np.float32))
    (store / "pack-0000000000000000.npz").write_bytes(b"")
    with caplog.at_level("WARNING"):
        assert sorted(_load_store(store)) == ["s1", "s2"]
    assert "embedding its images again" in caplog.text
    assert len(list(store.glob("pack-*.npz"))) == 1  # the broken one set aside

    rng = np.random.default_rng(0)
    emb = rng.random((12, 4, 8)).astype(np.float32)
    labels = np.repeat([0, 1], 6)
    sources = ["a1"] * 3 + ["a2"] * 3 + ["b1"] * 3 + ["b2"] * 3
    args = dict(config=HeadConfig(), progress=lambda it: it)
    first = _loso_cached(tmp_path, "k", emb, labels, sources, ("a", "b"), **args)
    (cached,) = tmp_path.glob("loso-*.npz")
    cached.write_bytes(b"")
    again = _loso_cached(tmp_path, "k", emb, labels, sources, ("a", "b"), **args)
    assert np.array_equal(again.clean, first.clean) and "estimating again" in caplog.text


def test_a_stale_embeddings_cache_writes_no_bundle(tmp_path, coral, capsys) -> None:
    """Cached embeddings that no longer match what the device computes (here: another
    picture's rows, as after a changed backbone file) were used for the estimate and the
    head without a word; the device check reported the mismatch and wrote the bundle."""
    data = blobs_and_stripes(tmp_path / "data")
    work = tmp_path / "work"
    assert _build(data, tmp_path / "first", work, coral) == 0
    (pack,) = work.glob("embeddings-store-*/pack-*.npz")
    with np.load(pack) as z:
        shas, emb = z["sha256"], z["emb"]
    np.savez(pack, sha256=shas, emb=emb[::-1])  # every image gets another image's embeddings
    for stale in work.glob("loso-*.npz"):
        stale.unlink()
    capsys.readouterr()
    out = tmp_path / "second"
    assert _build(data, out, work, coral) == 1
    err = capsys.readouterr().err
    assert "differently from their cached embeddings" in err and "Traceback" not in err
    assert not out.exists()


def test_a_class_without_sources_is_reported_as_random_thirds(tmp_path, coral) -> None:
    """The thirds are named by the build that made them (a source of the user's own may
    have '#' in its name)."""
    from fakes.labelled_images import blob, stripes

    def columns(seed: int) -> Image.Image:  # rows of one value all hash alike: turn them
        return stripes(seed).transpose(Image.Transpose.ROTATE_90)

    data = tmp_path / "flat"
    for label, draw in (("blobs", blob), ("stripes", columns)):
        (data / label).mkdir(parents=True)
        for i in range(6):
            draw(10 * i + (label == "blobs")).save(data / label / f"{i}.png")
    out = tmp_path / "bundle"
    assert _build(data, out, tmp_path / "work", coral) == 0
    report = (out / "report.md").read_text()
    assert "**Not all leave-one-source-out:**" in report and "blobs/unlisted#1" in report
    loso = json.loads((out / "report" / "loso.json").read_text())
    assert sorted(loso["random_thirds"]) == [f"{c}/unlisted#{k}" for c in ("blobs", "stripes")
                                              for k in (1, 2, 3)]
