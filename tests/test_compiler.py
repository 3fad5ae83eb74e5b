"""Tests for aoc_train.compiler: log parsing on documented formats, and compile_model end to
end against a fake ``edgetpu_compiler`` put on PATH (the real one is x86-64 apt-only)."""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from aoc.errors import AocError
from aoc_train.compiler import (
    CompileError,
    CompilerNotFound,
    compile_model,
    find_compiler,
    parse_compiler_log,
)

DATA = Path(__file__).parent / "data" / "edgetpu"
MIB, KIB = 1024**2, 1024

FAKE = f"""#!{sys.executable}
# A stand-in for edgetpu_compiler: parses -s -o OUT MODEL, writes OUT/<stem>_edgetpu.tflite
# and prints a report in the real compiler's format. FAKE_MODE picks the outcome.
import os, pathlib, sys, time
args = sys.argv[1:]
pathlib.Path(os.environ["FAKE_ARGV"]).write_text("\\n".join(args))
mode = os.environ.get("FAKE_MODE", "full")
model = pathlib.Path(args[-1]); out = pathlib.Path(args[args.index("-o") + 1])
if mode == "hang":
    time.sleep(30)
log = pathlib.Path(os.environ["FAKE_LOGS"]) / ("log_" + mode + "_v16.txt")
print(log.read_text(), end="")
if mode in ("full", "partial"):
    (out / (model.stem + "_edgetpu.tflite")).write_bytes(model.read_bytes() + b"edgetpu-custom-op")
    sys.exit(0)
sys.exit(1)
"""


def test_parse_fully_mapped_with_table() -> None:
    log = parse_compiler_log((DATA / "log_full_v16.txt").read_text())
    assert log.version == "16.0.384591198"
    assert log.compiled and log.compile_ms == 412
    assert log.input_model == "work/export/model.tflite"
    assert log.output_model == "work/edgetpu/model_edgetpu.tflite"
    assert log.on_chip_used_bytes == round(2.71 * MIB)
    assert log.on_chip_remaining_bytes == round(4.97 * MIB)
    assert log.off_chip_used_bytes == 0
    assert log.edgetpu_subgraphs == 1 and log.total_ops == 72
    # The compiler prints no per-device counts when everything maps: taken from the table.
    assert (log.ops_on_edgetpu, log.ops_on_cpu) == (72, 0)
    assert log.fully_mapped
    assert len(log.operations) == 9 and all(op.mapped for op in log.operations)
    assert (log.operations[1].operator, log.operations[1].count) == ("CONV_2D", 35)
    assert log.errors == ()


def test_parse_fully_mapped_without_table() -> None:
    log = parse_compiler_log((DATA / "log_full_no_table_v15.txt").read_text())
    assert log.version == "15.0.340273435" and log.compiled
    assert log.on_chip_remaining_bytes == round(3.75 * KIB)
    assert (log.ops_on_edgetpu, log.ops_on_cpu) == (65, 0) and log.fully_mapped
    assert log.operations == ()


def test_parse_partly_mapped() -> None:
    log = parse_compiler_log((DATA / "log_partial_v16.txt").read_text())
    assert log.compiled and not log.fully_mapped
    assert (log.ops_on_edgetpu, log.ops_on_cpu, log.total_ops) == (4, 6, 10)
    assert log.on_chip_used_bytes == round(20.5 * KIB)
    unmapped = {(op.operator, op.status) for op in log.operations if not op.mapped}
    assert ("LEAKY_RELU", "Operation not supported") in unmapped
    assert ("QUANTIZE", "More than one subgraph is not supported") in unmapped
    assert ("SOFTMAX", "Operation is otherwise supported, but not mapped due to some "
            "unspecified limitation") in unmapped
    assert len(log.operations) == 10


def test_parse_unparseable_model() -> None:
    log = parse_compiler_log((DATA / "log_parse_error_v16.txt").read_text())
    assert log.version == "16.0.384591198"
    assert not log.compiled and log.ops_on_edgetpu is None
    assert log.errors[0].startswith("ERROR: Didn't find op for builtin opcode 'CONV_2D' "
                                    "version '6'")
    assert "Model could not be parsed" in log.errors


def test_parse_failed_compile() -> None:
    log = parse_compiler_log((DATA / "log_dynamic_v16.txt").read_text())
    assert not log.compiled
    assert any("dynamic-sized tensors" in e for e in log.errors)
    assert log.errors[-1] == "Compilation failed!"


def test_parse_segment_search_ends_in_success_and_crlf() -> None:
    text = (
        "Edge TPU Compiler version 16.0.384591198\r\nSearching for valid delegate with step 1"
        "\r\nTry to compile segment with 12 ops\r\nCompilation failed! \r\n"
        "Try to compile segment with 11 ops\r\n"
        + (DATA / "log_full_v16.txt").read_text().replace("\n", "\r\n")
    )
    log = parse_compiler_log(text)
    assert log.compiled and log.total_ops == 72 and log.errors == ("Compilation failed!",)


def test_to_dict_is_json() -> None:
    data = parse_compiler_log((DATA / "log_partial_v16.txt").read_text()).to_dict()
    again = json.loads(json.dumps(data))
    assert again["ops_on_cpu"] == 6 and again["fully_mapped"] is False
    assert again["operations"][0] == {"operator": "QUANTIZE", "count": 1,
                                      "status": "Mapped to Edge TPU"}


def test_parse_empty_text() -> None:
    log = parse_compiler_log("")
    assert not log.compiled and log.version is None and not log.fully_mapped


# ---------------------------------------------------------------- compile_model


@pytest.fixture
def fake_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "edgetpu_compiler"
    exe.write_text(FAKE)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_ARGV", str(tmp_path / "argv.txt"))
    monkeypatch.setenv("FAKE_LOGS", str(DATA))
    return exe


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "export" / "model.tflite"
    path.parent.mkdir()
    path.write_bytes((DATA / "ok_int8.tflite").read_bytes())
    return path


def test_find_compiler(fake_compiler: Path, tmp_path: Path) -> None:
    assert find_compiler() == fake_compiler
    assert find_compiler(path=str(tmp_path / "nowhere")) is None


def test_compile_end_to_end(fake_compiler: Path, model: Path, tmp_path: Path) -> None:
    out = tmp_path / "edgetpu"
    result = compile_model(model, out)
    assert result.model == out / "model_edgetpu.tflite"
    assert result.model.read_bytes().endswith(b"edgetpu-custom-op")
    assert result.version == "16.0.384591198"
    assert result.log.fully_mapped and result.summary["ops_on_edgetpu"] == 72
    assert result.command == (str(fake_compiler), "-s", "-o", str(out), str(model))
    assert (tmp_path / "argv.txt").read_text().split("\n") == ["-s", "-o", str(out), str(model)]
    assert (out / "model_edgetpu.compiler.txt").read_text().startswith("Edge TPU Compiler")
    json.dumps(result.summary)


def test_compile_partly_mapped_is_success_with_warning(
    fake_compiler: Path, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("FAKE_MODE", "partial")
    with caplog.at_level(logging.WARNING, logger="aoc_train.compiler"):
        result = compile_model(model, tmp_path / "out")
    assert not result.log.fully_mapped and result.log.ops_on_cpu == 6
    assert "6 of 10 operations run on the CPU" in caplog.text


@pytest.mark.parametrize(("mode", "needle"), [
    ("parse_error", "Didn't find op for builtin opcode 'CONV_2D' version '6'"),
    ("dynamic", "dynamic-sized tensors"),
])
def test_compile_failure(fake_compiler: Path, model: Path, tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch, mode: str, needle: str) -> None:
    monkeypatch.setenv("FAKE_MODE", mode)
    with pytest.raises(CompileError, match="failed to compile") as info:
        compile_model(model, tmp_path / "out")
    assert needle in str(info.value) and "(exit 1)" in str(info.value)
    assert str(model) in str(info.value)
    assert info.value.log is not None and not info.value.log.compiled
    assert isinstance(info.value, AocError) and isinstance(info.value, RuntimeError)


def test_compile_timeout(fake_compiler: Path, model: Path, tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "hang")
    with pytest.raises(CompileError, match="did not finish"):
        compile_model(model, tmp_path / "out", timeout=0.5)


def test_compiler_not_found(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(CompilerNotFound) as info:
        compile_model(model, tmp_path / "out")
    message = str(info.value)
    first, *rest = message.splitlines()
    assert first == f"edgetpu_compiler not found on PATH; {model} was not compiled for the Edge TPU"
    help_text = "\n".join(rest)
    assert "/etc/apt/keyrings/coral-edgetpu.gpg" in help_text
    assert "signed-by=/etc/apt/keyrings/coral-edgetpu.gpg" in help_text
    assert "apt-get install edgetpu-compiler" in help_text
    assert "apt-key" not in help_text.replace("apt-key.gpg", "")
    assert "training/Dockerfile.edgetpu-compiler" in help_text
    # the Docker command mounts the model's own folder (it named work/export, which the
    # build does not use)
    assert f'-v "{model.resolve().parent}:/models"' in help_text
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, AocError)
    assert not (tmp_path / "out").exists()


def test_explicit_compiler_missing_or_not_runnable(model: Path, tmp_path: Path) -> None:
    with pytest.raises(CompilerNotFound, match="does not exist"):
        compile_model(model, tmp_path / "out", compiler=tmp_path / "no_such_compiler")
    foreign = tmp_path / "edgetpu_compiler"
    foreign.write_bytes(b"\x7fELF\x02\x01\x01 not for this machine")
    foreign.chmod(0o755)
    with pytest.raises(CompilerNotFound, match="cannot run on this machine"):
        compile_model(model, tmp_path / "out", compiler=foreign)


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(CompileError, match="no such file"):
        compile_model(tmp_path / "absent.tflite", tmp_path / "out")
