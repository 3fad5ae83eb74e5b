"""aoc_train.cli_args: the parser's defaults and the build settings it stands for."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from aoc_train.cli_args import build_parser, config_from_args
from aoc_train.config import DEFAULT_CLASSES, DEFAULT_HOLDOUT


def test_defaults_describe_the_default_model(tmp_path: Path) -> None:
    for c in DEFAULT_CLASSES:
        (tmp_path / c).mkdir()
    a = build_parser().parse_args(["build", str(tmp_path), "--out", "models/default"])
    assert config_from_args(a).classes == DEFAULT_CLASSES
    assert a.holdout_sources == DEFAULT_HOLDOUT
    assert (a.size, a.alpha, a.views) == (224, 0.35, 6)
    assert (a.dropout, a.head_l2) == (0.5, 1e-3)  # the regularised head
    # the shipped recipe: the last 1x1 convolution tuned with the head
    assert (a.top_tune_from, a.top_tune_epochs, a.top_tune_lr) == ("Conv_1", 5, 3e-4)


def test_config_adapts_to_other_data_sets(tmp_path: Path) -> None:
    data = tmp_path / "d"
    for c in ("x", "y"):  # two classes of another data set, no manifest
        (data / c).mkdir(parents=True)
        Image.new("RGB", (24, 24), (40, 80, 120)).save(data / c / "0.png")
    a = build_parser().parse_args(["build", str(data), "--out", str(tmp_path / "m" / "toy"),
                                   "--size", "96", "--seed", "7"])
    cfg = config_from_args(a)
    assert cfg.classes == () and cfg.holdout_sources == ()  # no manifest, other folders
    assert cfg.work_dir == Path(".cache") / "aoc-train" / "toy"
    assert cfg.side == 96
    assert cfg.seed == cfg.fit.seed == 7


def test_a_missing_class_folder_is_said_and_refused_when_named(tmp_path: Path, caplog) -> None:
    """A missing neither/ was dropped without a word, even with --classes naming it: a
    two-class bundle was written."""
    import pytest

    from aoc_train.data import DataError, scan_dataset

    data = tmp_path / "d"
    for c in ("anime", "cartoon"):
        (data / c).mkdir(parents=True)
        Image.new("RGB", (24, 24), (40, 80, 120)).save(data / c / "0.png")
    out = ["--out", str(tmp_path / "m")]
    cfg = config_from_args(build_parser().parse_args(["build", str(data), *out]))
    assert cfg.classes == () and "has no 'neither' folder" in caplog.text
    named = config_from_args(build_parser().parse_args(
        ["build", str(data), *out, "--classes", "anime,cartoon,neither"]))
    assert named.classes == DEFAULT_CLASSES
    with pytest.raises(DataError, match=r"class folders \['neither'\] missing"):
        scan_dataset(data, classes=named.classes)


def test_counts_are_checked_by_the_parser(capsys) -> None:
    import pytest

    for flag, value in (("--seed", "-1"), ("--workers", "0"), ("--max-images", "-3")):
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args(["build", "d", "--out", "o", flag, value])
        assert info.value.code == 2 and flag in capsys.readouterr().err
