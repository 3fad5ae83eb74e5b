"""aoc_train.crossval_arrays: features of every image, computed once and cached by settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fakes.labelled_images import make_tree

CLASSES = ("a", "b", "c")


def _pipeline(tree: Path, work: Path, **settings):
    from aoc_train.config import BuildConfig
    from aoc_train.fit import FitConfig
    from aoc_train.pipeline import Pipeline

    settings = {"side": 96, "views": 1, "workers": 1} | settings
    cfg = BuildConfig(data_dir=tree, out=work / "bundle", work_dir=work, classes=CLASSES,
                      fit=replace(FitConfig(), top_tune_from=""), **settings)
    p = Pipeline(cfg, progress=False)
    p.scan()
    return p


@pytest.mark.training
def test_all_features_are_cached_and_keyed_by_settings(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("keras")
    from aoc_train import crossval_arrays, fit

    tree = make_tree(tmp_path / "data", per_source=3)
    work = tmp_path / "work"
    aug, clean = crossval_arrays.all_features(_pipeline(tree, work))
    n = 5 * 3  # make_tree: five sources of three images
    assert aug.shape == (n, 1, 1280) and clean.shape == (n, 1280)
    assert np.isfinite(aug).all() and aug.std() > 0

    def refuse(*_a, **_k):
        raise AssertionError("features were recomputed although cached")

    with monkeypatch.context() as m:
        m.setattr(fit, "compute_features", refuse)
        again, _ = crossval_arrays.all_features(_pipeline(tree, work))
    np.testing.assert_array_equal(again, aug)
    # another number of views is another cache file, not a stale hit
    two, _ = crossval_arrays.all_features(_pipeline(tree, work, views=2))
    assert two.shape == (n, 2, 1280)
    assert len(list(work.glob("crossval-features-*.npz"))) == 2
    assert not list(work.glob("*.partial"))
