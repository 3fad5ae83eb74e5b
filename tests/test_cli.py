"""Tests for aoc.cli: run end to end in a subprocess, classify, config errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fakes.head_bundles import CORAL_NAME, coral_bundle, reference_scores, standin_bundle

from aoc.cli import EX_CONFIG, main

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "data" / "models"
DEMO = sorted((ROOT / "device" / "aoc" / "assets" / "demo").glob("*.png"))
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'device'}:{ROOT / 'training'}"}
ENV["STATE_DIRECTORY"] = "/nonexistent/aoc-test-state"  # never record a "last good" in HOME
for var in ("INVOCATION_ID", "JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
    ENV.pop(var, None)



def aoc(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aoc", *args], capture_output=True,
                          text=True, env=ENV, cwd=cwd, timeout=120)


def test_run_end_to_end_subprocess(tmp_path):
    out = tmp_path / "stats.json"
    empty = tmp_path / "config.toml"
    empty.write_text("")  # an empty file = every default, whatever /etc holds
    proc = aoc("run", "--config", str(empty), "--max-frames", "20", "--display", "null",
               "--source", "demo", "--stats-json", str(out))
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(out.read_text())
    assert stats["frames"] == 20 and stats["backend"] in ("cpu", "edgetpu")
    assert stats["reason"] and stats["fps"] > 0
    for stage in ("capture", "preprocess", "invoke", "postprocess", "display"):
        assert stats["stages_ms"][stage]["p95"] >= stats["stages_ms"][stage]["median"] >= 0
    assert 0 < stats["startup_s"] < 60 and stats["peak_rss_mb"] > 10
    assert "frames: 20" in proc.stdout and "peak RSS" in proc.stdout


def test_run_bad_config_exits_78_naming_the_key(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[display]\nkind = "hdmi"\n')
    proc = aoc("run", "--config", str(config), "--max-frames", "1")
    assert proc.returncode == EX_CONFIG
    assert "display.kind" in proc.stderr and "'hdmi'" in proc.stderr and "'oled'" in proc.stderr


def test_set_override_is_validated(capsys):
    assert main(["run", "--set", "smoothing.tau_s=-3", "--max-frames", "1"]) == EX_CONFIG
    assert "smoothing.tau_s" in capsys.readouterr().err


def test_classify_json_lines_and_unreadable_image(tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    images = [str(DEMO[0]), str(broken), str(DEMO[1])]
    code = main(["classify", "--json", "--top", "2", "--bundle", str(MODELS / "uint8"),
                 *images])
    captured = capsys.readouterr()
    assert code == 1  # one image failed
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["image"] for r in lines] == images  # one object per image, in order
    failed = lines.pop(1)
    assert set(failed) == {"image", "error"} and "broken.jpg" in failed["error"]
    for r in lines:
        assert r["backend"] == "cpu" and len(r["top"]) == 2
        scores = [t["score"] for t in r["top"]]
        assert scores == sorted(scores, reverse=True)
        assert {t["label"] for t in r["top"]} <= {"anime", "cartoon", "neither"}
    assert "broken.jpg" in captured.err


def test_classify_red_image_is_anime_on_tiny_model(tmp_path, capsys):
    from PIL import Image

    red = tmp_path / "red.png"
    Image.new("RGB", (50, 40), (255, 0, 0)).save(red)
    code = main(["classify", "--json", "--model", str(MODELS / "uint8" / "model.tflite"),
                 "--labels", str(MODELS / "uint8" / "labels.txt"), str(red)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["top"][0]["label"] == "anime" and result["top"][0]["score"] > 0.5


def test_classify_default_bundle_text_output(capsys):
    assert main(["classify", str(DEMO[0])]) == 0
    out = capsys.readouterr().out
    assert out.startswith(str(DEMO[0])) and "[cpu]" in out


def test_classify_missing_bundle_is_clear(tmp_path, capsys):
    code = main(["classify", "--bundle", str(tmp_path / "nope"), str(DEMO[0])])
    assert code == 69
    assert "nope" in capsys.readouterr().err


def test_classify_goes_on_after_every_kind_of_bad_image(tmp_path, capsys):
    import numpy as np
    from fakes.hostile_images import png_header_only
    from PIL import Image

    bomb = png_header_only(tmp_path / "bomb.png", 20000, 20000)  # Pillow's bomb error
    big = png_header_only(tmp_path / "big.png", 12000, 12000)  # over the device limit
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)  # would block open() forever
    deep = tmp_path / "deep.png"  # 16-bit grey: mid-grey, not all white
    Image.fromarray(np.full((40, 40), 32768, dtype=np.uint16)).save(deep)
    images = [str(bomb), str(big), str(fifo), str(tmp_path / "gone.png"), str(deep),
              str(DEMO[0])]
    code = main(["classify", "--json", "--bundle", str(MODELS / "uint8"), *images])
    captured = capsys.readouterr()
    assert code == 1  # some failed
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["image"] for r in records] == images
    assert ["error" in r for r in records] == [True] * 4 + [False] * 2
    for name, why in (("bomb.png", "too large"), ("big.png", "limit"),
                      ("fifo.png", "FIFO"), ("gone.png", "does not exist")):
        assert name in captured.err and why in captured.err
    assert "4 of 6 image(s) failed" in captured.err and "Traceback" not in captured.err


def test_failed_shutdown_command_keeps_the_appliance_running(monkeypatch, capsys):
    import aoc.app.wiring

    runs = []

    class Result:
        def __init__(self, failed):
            self.shutdown_failed = failed
            self.restart_because = None

        def to_dict(self):
            return {"runs": len(runs)}

    def fake_run(config, host, **kwargs):
        runs.append(1)
        return Result(failed=len(runs) == 1)  # the first button press: command fails

    monkeypatch.setattr(aoc.app.wiring, "run", fake_run)
    monkeypatch.setattr("aoc.cli.format_summary", lambda s: f"runs {s['runs']}")
    assert main(["run", "--source", "demo", "--display", "null"]) == 0
    assert len(runs) == 2 and "runs 2" in capsys.readouterr().out


def test_a_run_that_leaks_file_descriptors_exits_75_to_be_restarted(monkeypatch, capsys):
    """Out of descriptors every open fails (camera, OLED) and nothing recovers: the run ends
    itself and exits non-zero, so that systemd starts it afresh."""
    import functools

    import aoc.app.wiring
    from aoc.app.fd_guard import FdGuard

    monkeypatch.setattr(aoc.app.wiring, "FdGuard",
                        functools.partial(FdGuard, count=lambda: 950, limit=lambda: 1000))
    assert main(["run", "--source", "demo", "--display", "null", "--max-frames", "500"]) == 75
    err = capsys.readouterr().err
    assert "stopped to be restarted: 950 file descriptors open of a limit of 1000" in err


def test_a_configured_bundle_that_appears_after_start_up_exits_75_to_be_loaded(
        tmp_path, monkeypatch, capsys):
    """A bundle on a drive that mounts a little late was replaced by the packaged default
    for the whole uptime: months on the wrong model after one slow boot."""
    import aoc.app.bundle_watch as bundle_watch

    answers = iter([False] + [True] * 10_000)  # missing at start-up, then there
    monkeypatch.setattr(bundle_watch, "is_there", lambda path: next(answers))
    monkeypatch.setattr(bundle_watch, "CHECK_EVERY_S", 0.0)
    late = tmp_path / "late-bundle"
    assert main(["run", "--source", "demo", "--display", "null", "--max-frames", "500",
                 "--bundle", str(late)]) == 75
    err = capsys.readouterr().err
    assert f"stopped to be restarted: the configured model appeared ({late}" in err


def test_config_that_is_not_utf8_exits_78_naming_file_and_offset(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_bytes(b'[camera]\nsource = "demo" # caf\xe9\n')
    assert main(["run", "--config", str(config), "--max-frames", "1"]) == EX_CONFIG
    err = capsys.readouterr().err
    assert str(config) in err and "byte offset 30" in err and "line 2" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("args", [
    ["run", "--max-frames", "-1"], ["run", "--max-frames", "0"], ["run", "--duration", "nan"],
    ["run", "--duration", "-5"], ["run", "--duration", "inf"], ["bench", "--frames", "0"],
    ["classify", "--top", "0", "x.png"],
])
def test_nonsense_counts_are_usage_errors(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert "must be" in capsys.readouterr().err


@pytest.mark.parametrize("args,key", [
    (["--source", "dmeo"], "camera.source"),
    (["--set", 'camera.source=""'], "camera.source"),
    (["--set", "inference.edgetpu_device=usb0"], "inference.edgetpu_device"),
    (["--bundle", "x", "--model", "m.tflite", "--labels", "l.txt"], "--bundle"),
    (["--display", "emulated", "--set", "display.path=/nonexistent/dir/x.png"],
     "display.path"),
])
def test_run_refuses_at_start_up_with_78(tmp_path, args, key, capsys):
    empty = tmp_path / "config.toml"
    empty.write_text("")
    code = main(["run", "--config", str(empty), "--display", "null", "--max-frames", "1",
                 *args])
    err = capsys.readouterr().err
    assert code == EX_CONFIG and key in err
    if key == "camera.source":
        assert "auto, demo, picamera2" in err  # the list of valid sources


@pytest.mark.parametrize(("failure", "temporary", "where"), [
    ("EIO", True, "open"), ("EACCES", False, "open"),
    ("EIO", True, "stat"), ("ESTALE", True, "second stat"), ("EACCES", False, "stat")])
def test_a_config_that_cannot_be_read_for_now_exits_75_which_the_unit_restarts(
        tmp_path, capsys, monkeypatch, failure, temporary, where):
    """An I/O error reading the config (a failing card, a share not answering) exited 78,
    which the unit never restarts, or with a traceback when the stat failed: the exhibit
    stayed dark for a fault that may pass. A config this user may not read is still 78 (a
    restart cannot fix it)."""
    import errno

    from aoc.cli import EX_TEMPFAIL

    config = tmp_path / "config.toml"
    config.write_text("")
    code, stats = getattr(errno, failure), []
    real_open, real_stat = open, os.stat

    def failing_open(path, *args, **kwargs):
        if where == "open" and str(path) == str(config):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, *args, **kwargs)

    def failing_stat(path, *args, **kwargs):
        if str(path) == str(config):
            stats.append(path)
            if where == "stat" or (where == "second stat" and len(stats) > 1):
                raise OSError(code, os.strerror(code), str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    monkeypatch.setattr(os, "stat", failing_stat)
    assert main(["run", "--config", str(config), "--display", "null",
                 "--max-frames", "1"]) == (EX_TEMPFAIL if temporary else EX_CONFIG)
    err = capsys.readouterr().err
    assert f"cannot read config file {config}" in err and "Traceback" not in err
    assert ("tries again" in err) == temporary


def test_output_file_in_a_missing_folder_is_refused_before_the_run(tmp_path, capsys):
    missing = tmp_path / "no" / "stats.json"
    code = main(["run", "--source", "demo", "--display", "null", "--max-frames", "1",
                 "--stats-json", str(missing)])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    code = main(["bench", "--frames", "1", "--out", str(tmp_path)])
    assert code == 2 and "is a folder" in capsys.readouterr().err


def test_a_stats_file_that_cannot_be_written_loses_neither_summary_nor_old_file(
        tmp_path, monkeypatch, capsys):
    import aoc.filecheck

    stats = tmp_path / "stats.json"
    stats.write_text("{}\n")

    def full(target, text, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(aoc.filecheck, "atomic_write_text", full)
    code = main(["run", "--source", "demo", "--display", "null", "--max-frames", "2",
                 "--stats-json", str(stats)])
    out, err = capsys.readouterr()
    assert code == 1 and "frames: 2" in out  # the summary is still printed
    assert f"--stats-json: cannot write {stats}: No space left on device" in err
    assert stats.read_text() == "{}\n" and "Traceback" not in err


def test_stats_json_to_standard_output_on_a_pipe():
    """`aoc run --stats-json /dev/stdout | jq`: its own output pipe is no FIFO to refuse."""
    proc = aoc("run", "--source", "demo", "--display", "null", "--max-frames", "2",
               "--stats-json", "/dev/stdout")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.split("\nframes: ")[0])["frames"] == 2


def test_stats_json_to_standard_output_in_a_file_and_to_a_process_substitution(tmp_path):
    """`--stats-json /dev/stdout > out.txt` replaced out.txt (the summary then lost), and
    bash's `--stats-json >(jq ...)` (a pipe at /dev/fd/63) was refused as a FIFO."""
    run = f"{sys.executable} -m aoc run --source demo --display null --max-frames 2"
    out = tmp_path / "out.txt"
    got = tmp_path / "got.json"
    for line in (f"{run} --stats-json /dev/stdout > {out}",
                 f"{run} --stats-json >(cat > {got}); wait"):
        proc = subprocess.run(["bash", "-c", line], env=ENV, cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, (line, proc.stderr)
    text = out.read_text()
    assert json.loads(text.split("\nframes: ")[0])["frames"] == 2 and "\nframes: 2 " in text
    assert json.loads(got.read_text())["frames"] == 2


def test_ctrl_c_during_start_up_is_quiet_130(monkeypatch, capsys):
    import aoc.config

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(aoc.config, "load_config", interrupted)
    assert main(["run", "--max-frames", "1"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_closed_output_pipe_is_quiet(tmp_path):
    """`aoc classify ... | head -1` and `aoc run --display terminal | head -1`."""
    for args in (["classify", *map(str, DEMO)],
                 ["run", "--source", "demo", "--display", "terminal", "--set",
                  "display.kind=terminal"]):
        proc = subprocess.Popen([sys.executable, "-m", "aoc", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
        first = proc.stdout.readline()
        proc.stdout.close()  # the reader goes away, as `head -1` does
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 141, err
        assert first and "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_output_that_cannot_be_written_is_one_line_not_a_traceback():
    """`> /dev/full` (a full disk) and `>&-` (closed) for the three commands that print."""
    python = f"{sys.executable} -m aoc"
    # buffered, as on a machine without PYTHONUNBUFFERED: the error then comes in the last
    # flush, which the interpreter reported as "Exception ignored" with exit 120; and
    # unbuffered, as the unit runs it: argparse's --help swallowed the error, exit 0
    buffered = {k: v for k, v in ENV.items() if k != "PYTHONUNBUFFERED"}
    cases = [(buffered, args) for args in (
        f"classify {DEMO[0]}", "run --source demo --display null --max-frames 2", "doctor",
        "--help", "--version")]
    cases += [({**buffered, "PYTHONUNBUFFERED": "1"}, args) for args in ("--help", "--version")]
    for env, args in cases:
        full = subprocess.run(["bash", "-c", f"{python} {args} > /dev/full"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert full.returncode == 1, (args, full.stderr)
        assert "aoc: cannot write to standard output: No space left on device" in full.stderr
        assert "Traceback" not in full.stderr and "Exception ignored" not in full.stderr, args
        closed = subprocess.run(["bash", "-c", f"{python} {args} >&-"], env=env, cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert "Traceback" not in closed.stderr, (args, closed.stderr)
        assert closed.returncode in (0, 1) if args == "doctor" else closed.returncode == 0


def test_run_as_root_under_systemd_is_refused(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "config.toml"
    empty.write_text("")
    monkeypatch.setenv("INVOCATION_ID", "test")
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    args = ["run", "--config", str(empty), "--display", "null", "--source", "demo",
            "--max-frames", "2"]
    assert main(args) == EX_CONFIG
    err = capsys.readouterr().err
    assert "refusing to run as root" in err and "<3>aoc.app.host: running as root" in err
    assert main([*args, "--set", "service.allow_root=true"]) == 0
    assert "<3>aoc.app.host: running as root" in capsys.readouterr().err


def test_version_and_usage():
    proc = aoc("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("aoc ")
    assert aoc("frobnicate").returncode == 2


def classify_json(capsys, bundle_dir: Path, images: list[Path]) -> list[dict]:
    code = main(["classify", "--bundle", str(bundle_dir), "--json", "--top", "3",
                 *map(str, images)])
    assert code == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def as_scores(result: dict, labels: tuple[str, ...]) -> np.ndarray:
    by_label = {t["label"]: t["score"] for t in result["top"]}
    return np.array([by_label[label] for label in labels])


def test_classify_head_bundle_equals_embedding_plus_head(tmp_path, capsys):
    from PIL import Image

    bundle = standin_bundle(tmp_path)
    rng = np.random.default_rng(5)
    images = []
    for i, colour in enumerate(((200, 30, 90), (10, 120, 240))):
        pixels = np.full((32, 32, 3), colour, np.uint8)
        pixels[8:20] = rng.integers(0, 256, (12, 32, 3))
        images.append(tmp_path / f"frame{i}.png")
        Image.fromarray(pixels).save(images[-1])
    results = classify_json(capsys, bundle.root, images)
    assert [r["image"] for r in results] == list(map(str, images))
    for result, image in zip(results, images, strict=True):
        assert result["backend"] in ("cpu", "edgetpu")
        want = reference_scores(bundle.cpu_model, np.asarray(Image.open(image)), bundle.head)
        np.testing.assert_allclose(as_scores(result, bundle.labels), want, atol=2e-6)
    assert not np.allclose(as_scores(results[0], bundle.labels),
                           as_scores(results[1], bundle.labels), atol=1e-3)


def test_classify_coral_head_bundle_equals_embedding_plus_head(shared_dir, tmp_path, capsys):
    from PIL import Image

    coral = shared_dir / "reference" / "coral"
    if not (coral / f"{CORAL_NAME}.tflite").is_file():
        pytest.skip("Coral embedding extractor absent from ../shared")
    bundle = coral_bundle(coral, tmp_path)
    image = tmp_path / "hopper.png"
    Image.open(coral / "grace_hopper.bmp").convert("RGB").resize((224, 224)).save(image)
    (result,) = classify_json(capsys, bundle.root, [image])
    want = reference_scores(bundle.cpu_model, np.asarray(Image.open(image)), bundle.head)
    np.testing.assert_allclose(as_scores(result, bundle.labels), want, atol=2e-6)


def test_run_with_no_usable_model_exits_69_and_says_so_on_the_panel(tmp_path, monkeypatch,
                                                                    capsys):
    """The unit restarts a 69 every 10 s; meanwhile the panel says why instead of going dark."""
    import aoc.app.screen
    import aoc.inference.model_select
    from aoc.cli import NO_MODEL_TEXT

    monkeypatch.setattr(aoc.inference.model_select, "default_bundle_dirs",
                        lambda: [tmp_path / "no default either"])
    shown = []
    monkeypatch.setattr(aoc.app.screen, "show_startup_error",
                        lambda text, host, *, config=None: shown.append((text, config)))
    code = main(["run", "--set", f"model.bundle={tmp_path / 'gone'}", "--source", "demo",
                 "--display", "null", "--max-frames", "1"])
    assert code == 69 and "gone" in capsys.readouterr().err
    assert [text for text, _ in shown] == [NO_MODEL_TEXT] and shown[0][1] is not None
