"""aoc_train.cli: fast help without TensorFlow, option defaults, errors, JSON summaries."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aoc_train.cli import main
from aoc_train.stamps import StageResult

ROOT = Path(__file__).resolve().parents[1]


def _tree(root: Path, classes=("x", "y"), per_class: int = 3) -> Path:
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            rng = np.random.default_rng(10 * k + i)
            Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(
                root / c / f"{i}.png")
    return root


def test_help_is_fast_and_imports_no_tensorflow() -> None:
    code = ("import sys\nfrom aoc_train.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
            "assert 'keras' not in sys.modules, 'keras imported'\n")
    env = {"PYTHONPATH": f"{ROOT / 'device'}:{ROOT / 'training'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "build" in done.stdout and "evaluate" in done.stdout


def test_build_help_fits_a_screen(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    assert len(capsys.readouterr().out.splitlines()) <= 60


def test_top_level_flags_work_after_the_command_too(tmp_path: Path, capsys) -> None:
    argv = ["fit", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--no-progress",
            "--work-dir", str(tmp_path / "w"), "--json"]
    assert main(argv) == 1  # parsed (was exit 2, 'unrecognized arguments'): the data is missing
    assert "does not exist" in capsys.readouterr().err


def test_top_level_flags_are_moved_in_front_but_not_past_a_double_dash() -> None:
    from aoc_train.cli_args import build_parser, globals_first

    a = build_parser().parse_args(globals_first(["build", "D", "--out", "O", "--json", "-v"]))
    assert a.json and a.verbose and not a.no_progress and a.command == "build"
    argv = globals_first(["build", "--out", "O", "--no-progress", "--", "-v"])
    assert argv == ["--no-progress", "build", "--out", "O", "--", "-v"]
    a = build_parser().parse_args(argv)
    assert a.no_progress and not a.verbose and str(a.data_dir) == "-v"  # a folder named -v


def test_help_gives_the_exit_codes(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "2 usage, 65 the trained model is degenerate" in out and "130 interrupted" in out


def test_missing_data_folder_is_a_clean_error(tmp_path: Path, capsys) -> None:
    rc = main(["--no-progress", "fit", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
               "--work-dir", str(tmp_path / "w")])
    assert rc == 1
    assert "does not exist" in capsys.readouterr().err


def test_evaluate_before_export_says_which_stage_first(tmp_path: Path, capsys) -> None:
    """A FileNotFoundError traceback for export/export.json before."""
    rc = main(["--no-progress", "evaluate", str(_tree(tmp_path / "d", per_class=12)), "--out",
               str(tmp_path / "o"), "--work-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert rc == 1 and "run 'aoc-train export' first" in err and "Traceback" not in err


def test_json_summaries_one_per_stage(tmp_path: Path, capsys) -> None:
    data = _tree(tmp_path / "d")
    (data / "x" / "broken.jpg").write_bytes(b"no image")
    rc = main(["--json", "fit", str(data), "--out", str(tmp_path / "o"), "--work-dir",
               str(tmp_path / "w"), "--val-fraction", "0", "--class-test-fraction", "0"])
    out, err = capsys.readouterr()
    lines = [json.loads(s) for s in out.splitlines()]
    assert [r["stage"] for r in lines] == ["scan", "split"]
    assert lines[0]["images"] == 6 and lines[0]["skipped"] == 1
    assert rc == 1 and "validation" in err  # no val images: fit refuses with advice
    skipped = json.loads((tmp_path / "w" / "skipped.json").read_text())
    assert skipped[0]["file"] == "x/broken.jpg"


@pytest.mark.training
def test_crossval_command_prints_a_line_per_fold_and_a_summary(tmp_path: Path, capsys) -> None:
    pytest.importorskip("keras")
    from fakes.labelled_images import make_tree

    data = make_tree(tmp_path / "data", per_source=8)
    common = ["crossval", str(data), "--out", str(tmp_path / "m" / "toy"), "--work-dir",
              str(tmp_path / "work"), "--classes", "a,b,c", "--size", "64", "--views", "1",
              "--head-epochs", "2", "--top-tune-from", "", "--workers", "1"]
    assert main(["--json", *common, "--folds", "a2;b2"]) == 0, capsys.readouterr().err
    lines = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    folds = [x for x in lines if x["stage"] == "crossval-fold"]
    assert [f["sources"] for f in folds] == [["a2"], ["b2"]]
    assert all(f["images"] == 8 and 0.0 <= f["accuracy"] <= 1.0 for f in folds)
    summary = lines[-1]
    assert summary["stage"] == "crossval"
    assert summary["mean_accuracy"] == pytest.approx(sum(f["accuracy"] for f in folds) / 2)
    # a source that is not in the data is named, and nothing is trained
    assert main([*common, "--folds", "a2;zz"]) == 1
    assert "['zz']" in capsys.readouterr().err


def _degenerate_build(tmp_path: Path, monkeypatch) -> tuple[Path, list[str]]:
    """Training stages stubbed, the evaluate stage "cached" with held-out outputs of 1/3
    each; returns ``--out`` and the build's arguments."""
    from aoc_train.pipeline import EVAL_PROBS, Pipeline

    data = _tree(tmp_path / "d", classes=("x", "y", "z"), per_class=4)
    out, work = tmp_path / "m" / "toy", tmp_path / "w"
    for stage in ("fit", "export", "check", "compile"):
        monkeypatch.setattr(Pipeline, stage, lambda self: None)

    def cached(self, stage, key, outputs, fn):
        n = len(self.split.test)
        np.savez(self.work / EVAL_PROBS, true=self.labels("test"),
                 int8=np.full((n, 3), 1 / 3, np.float32))
        return StageResult(stage, True, 0.0, {})

    monkeypatch.setattr(Pipeline, "run", cached)
    return out, ["--no-progress", "build", str(data), "--out", str(out), "--work-dir",
                 str(work), "--class-test-fraction", "0.5"]


def test_build_of_a_degenerate_model_exits_65_and_writes_no_bundle(tmp_path: Path, capsys,
                                                                   monkeypatch) -> None:
    """The quality gate without TensorFlow: the training stages are stubbed, the evaluate
    stage is "cached" with held-out outputs of 1/3 each, and the gate refuses them."""
    from aoc_train.cli import EX_DEGENERATE

    out, argv = _degenerate_build(tmp_path, monkeypatch)
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == EX_DEGENERATE == 65, err
    note, err = err.split("\n", 1)
    assert note.startswith("aoc-train: note: no --weights") and "coral-mobilenet" in note
    assert err.startswith("aoc-train: int8 model on the ")
    assert f"(no bundle written to {out})" in err and "constant" in err
    assert not out.exists()


def test_the_evaluate_stage_gates_a_degenerate_model_itself(tmp_path: Path, capsys,
                                                             monkeypatch) -> None:
    """The evaluate stage (also when cached) stops a degenerate model on its own: without
    its gate, only the report stage's stood between a constant model and a bundle, and
    anything run between the two stages ran on a model already known to be useless."""
    from aoc_train.cli import EX_DEGENERATE
    from aoc_train.pipeline import Pipeline

    out, argv = _degenerate_build(tmp_path, monkeypatch)
    reported: list[bool] = []
    monkeypatch.setattr(Pipeline, "report", lambda self, **kw: reported.append(True))
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == EX_DEGENERATE, err
    assert "constant" in err and not reported and not out.exists()


def test_the_report_stage_gates_a_degenerate_model_itself(tmp_path: Path, capsys,
                                                          monkeypatch) -> None:
    """The report stage writes the bundle, so it checks the saved held-out outputs itself:
    an evaluate stage that did not gate (an older work folder, a stage run on its own)
    must not let a constant model into --out."""
    from aoc_train.cli import EX_DEGENERATE
    from aoc_train.pipeline import Pipeline

    out, argv = _degenerate_build(tmp_path, monkeypatch)
    # the evaluate stage's work (held-out outputs saved) without its gate
    monkeypatch.setattr(Pipeline, "evaluate",
                        lambda self: self.run("evaluate", "", [], lambda: {}))
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == EX_DEGENERATE, err
    assert f"(no bundle written to {out})" in err and "constant" in err
    assert not out.exists()


@pytest.mark.parametrize("command", ["build", "crossval"])
def test_the_keras_recipe_without_the_train_extra_is_a_clear_refusal(
        tmp_path: Path, capsys, monkeypatch, command) -> None:
    """A plain ./install.sh gives aoc-train without TensorFlow: the Keras recipe ended in a
    ModuleNotFoundError traceback."""
    # None in sys.modules: `import keras` raises ModuleNotFoundError, as when not installed
    for name in ("tensorflow", "keras"):
        monkeypatch.setitem(sys.modules, name, None)
    data = _tree(tmp_path / "d", classes=("x", "y", "z"), per_class=4)
    argv = ["--no-progress", command, str(data), "--out", str(tmp_path / "o"),
            "--work-dir", str(tmp_path / "w"), "--class-test-fraction", "0.5"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "aoc-train: --backbone mobilenet-v2 (the Keras recipe) needs the train extra" in err
    assert "./install.sh --with-train" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_crossval_refuses_the_compiled_backbone_it_would_ignore(tmp_path: Path, capsys) -> None:
    """It ran the Keras recipe from random weights and said nothing."""
    argv = ["--no-progress", "crossval", str(_tree(tmp_path / "d")), "--out",
            str(tmp_path / "o"), "--work-dir", str(tmp_path / "w"),
            "--backbone", "coral-mobilenet-v1-embedding"]
    with pytest.raises(SystemExit) as stop:  # a usage error, like every wrong-backbone flag
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "crossval runs the Keras recipe (--backbone mobilenet-v2) only" in err
    assert "aoc-train build already holds out every source" in err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("flag", ["--source-power", "--views", "--head-l2=5"])
def test_fine_tuning_flags_are_refused_for_the_compiled_backbone(tmp_path: Path, flag,
                                                                 capsys) -> None:
    """They changed nothing and the report did not say so (a byte-identical head.npz). A
    usage error: exit 2, as argparse's."""
    argv = ["--no-progress", "build", str(_tree(tmp_path / "d")), "--out", str(tmp_path / "o"),
            "--backbone", "coral-mobilenet-v1-embedding", "--backbone-dir", str(tmp_path)]
    argv += [flag] if "=" in flag else [flag, "2"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"{flag.split('=')[0]} only applies to --backbone mobilenet-v2" in err
    assert err.rstrip().endswith("drop it")
    assert not (tmp_path / "o").exists()


def test_an_abbreviated_fine_tuning_flag_is_not_taken_for_the_full_one(tmp_path: Path,
                                                                        capsys) -> None:
    """'--view 2' was read as --views, passed the refusal (which compares spelled names)
    and was ignored without a word."""
    argv = ["--no-progress", "build", str(_tree(tmp_path / "d")), "--out", str(tmp_path / "o"),
            "--backbone", "coral-mobilenet-v1-embedding", "--backbone-dir", str(tmp_path),
            "--view", "2"]
    with pytest.raises(SystemExit):
        main(argv)
    assert "unrecognized arguments: --view 2" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_build_refuses_an_out_folder_it_would_destroy_before_any_work(tmp_path: Path,
                                                                       capsys) -> None:
    data = _tree(tmp_path / "d")
    for out in (data, tmp_path / "d" / "x" / "0.png"):
        rc = main(["--no-progress", "build", str(data), "--out", str(out), "--work-dir",
                   str(tmp_path / "w"), "--backbone", "coral-mobilenet-v1-embedding",
                   "--backbone-dir", str(tmp_path / "no-backbone")])
        assert rc == 1 and "is inside the data folder" in capsys.readouterr().err
    assert sorted(p.name for p in (data / "x").iterdir()) == ["0.png", "1.png", "2.png"]
    assert not (tmp_path / "w").exists()  # refused before the scan


@pytest.mark.parametrize("out,work,says", [
    # the second build trained on the first bundle's report picture as an 'anime' image
    ("d/x/bundle", "w", "--out .* is inside the data folder"),
    ("o", "d/cache", "--work-dir .* is inside the data folder"),
    # the cache made inside --out, then the whole build refused at its end, every rerun too
    ("o", "o/cache", "--work-dir .* is inside --out"),
    ("o", "o", "--work-dir .* is inside --out"),
    ("o", "wfile", "--work-dir .* is a file"),
])
def test_build_refuses_folders_that_cannot_go_together_before_any_work(
        tmp_path: Path, capsys, out: str, work: str, says: str) -> None:
    data = _tree(tmp_path / "d")
    (tmp_path / "wfile").write_text("")
    rc = main(["--no-progress", "build", str(data), "--out", str(tmp_path / out), "--work-dir",
               str(tmp_path / work), "--backbone", "coral-mobilenet-v1-embedding",
               "--backbone-dir", str(tmp_path / "no-backbone")])
    err = capsys.readouterr().err
    assert rc == 1 and re.search(says, err), err
    assert not (tmp_path / "o").exists() and not (tmp_path / "d" / "cache").exists()


def test_a_build_run_from_inside_the_data_folder_keeps_its_default_hidden_cache(
        tmp_path: Path, capsys, monkeypatch) -> None:
    """`cd data && aoc-train build . --out ../bundle`: the default work folder
    .cache/aoc-train/NAME lands in the data folder, hidden, where the scan never looks."""
    data = _tree(tmp_path / "d")
    monkeypatch.chdir(data)
    rc = main(["--no-progress", "build", ".", "--out", str(tmp_path / "o"), "--backbone",
               "coral-mobilenet-v1-embedding", "--backbone-dir", str(tmp_path / "no-backbone")])
    err = capsys.readouterr().err
    assert rc == 1 and "inside the data folder" not in err and "backbone" in err, err


def test_build_refuses_an_out_folder_of_other_files_before_any_work(tmp_path: Path,
                                                                    capsys) -> None:
    data = _tree(tmp_path / "d")
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"x")
    rc = main(["--no-progress", "build", str(data), "--out", str(out), "--work-dir",
               str(tmp_path / "w"), "--backbone", "coral-mobilenet-v1-embedding",
               "--backbone-dir", str(tmp_path / "no-backbone")])
    assert rc == 1 and "is not a model bundle" in capsys.readouterr().err
    assert not (tmp_path / "w").exists() and (out / "holiday.jpg").read_bytes() == b"x"


def test_a_data_folder_that_is_a_file_and_notes_not_in_utf8_are_named(tmp_path: Path,
                                                                      capsys) -> None:
    notes = tmp_path / "notes.md"
    notes.write_bytes(b"# notes\n\xe9t\xe9\n")
    rc = main(["--no-progress", "build", str(notes), "--out", str(tmp_path / "o")])
    assert rc == 1 and "is a file; give a folder" in capsys.readouterr().err
    rc = main(["--no-progress", "build", str(_tree(tmp_path / "d")), "--out",
               str(tmp_path / "o"), "--work-dir", str(tmp_path / "w"), "--notes", str(notes)])
    assert rc == 1 and "is not UTF-8 text" in capsys.readouterr().err


def test_one_class_or_a_class_named_twice_is_a_usage_error(tmp_path: Path, capsys) -> None:
    for classes, says in (("anime", "is one class"), ("anime,anime", "names a class twice")):
        with pytest.raises(SystemExit):
            main(["build", str(tmp_path), "--out", str(tmp_path / "o"), "--classes", classes])
        assert says in capsys.readouterr().err


def test_bad_notes_and_counts_are_usage_errors(tmp_path: Path, capsys) -> None:
    data = _tree(tmp_path / "d")
    base = ["--no-progress", "build", str(data), "--out", str(tmp_path / "o"),
            "--work-dir", str(tmp_path / "w")]
    with pytest.raises(SystemExit, match="--notes .* is not a file"):
        main([*base, "--notes", str(tmp_path / "nope.md")])
    with pytest.raises(SystemExit):
        main([*base, "--max-images", "-5"])
    assert "is not a count" in capsys.readouterr().err


def test_ctrl_c_is_one_line_and_130(tmp_path: Path, capsys, monkeypatch) -> None:
    import aoc_train.cli as cli

    def interrupted(a, argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run_pipeline", interrupted)
    rc = main(["--no-progress", "build", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 130 and "interrupted" in err and "resumes" in err and "Traceback" not in err
