"""Run Coral's ``edgetpu_compiler`` on a .tflite and read its log.

The compiler is an x86-64 Linux binary from Coral's apt repository (there is no ARM or
macOS build); :class:`CompilerNotFound` says how to install it or run it in Docker
(``training/Dockerfile.edgetpu-compiler``). :func:`parse_compiler_log` reads the report it
prints with ``-s`` (format documented at coral.ai/docs/edgetpu/compiler and seen in
google-coral/edgetpu issue logs), e.g.::

    Edge TPU Compiler version 16.0.384591198
    Started a compilation timeout timer of 180 seconds.

    Model compiled successfully in 2270 ms.

    Input model: model.tflite
    ...
    On-chip memory used for caching model parameters: 6.02MiB
    On-chip memory remaining for caching model parameters: 1.02MiB
    Off-chip memory used for streaming uncached model parameters: 0.00B
    Number of Edge TPU subgraphs: 1
    Total number of operations: 84
    Operation log: model_edgetpu.log

    Model successfully compiled but not all operations are supported by the Edge TPU. ...
    Number of operations that will run on Edge TPU: 261
    Number of operations that will run on CPU: 6

    Operator                       Count      Status

    CONV_2D                        35         Mapped to Edge TPU
    LOGISTIC                       1          More than one subgraph is not supported

When every operator maps, the compiler omits the two "Number of operations that will run"
lines; the counts are then taken from the operator table or the total.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aoc.errors import AocError

__all__ = [
    "CompileError",
    "CompileResult",
    "CompilerLog",
    "CompilerNotFound",
    "OpStatus",
    "compile_model",
    "find_compiler",
    "parse_compiler_log",
]

log = logging.getLogger(__name__)

COMPILER = "edgetpu_compiler"
MAPPED = "Mapped to Edge TPU"

INSTALL_HELP = """\
On x86-64 Debian or Ubuntu, install it from Coral's apt repository:
  sudo install -d -m 0755 /etc/apt/keyrings
  curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg \\
    | sudo gpg --dearmor -o /etc/apt/keyrings/coral-edgetpu.gpg
  echo "deb [signed-by=/etc/apt/keyrings/coral-edgetpu.gpg] \\
https://packages.cloud.google.com/apt coral-edgetpu-stable main" \\
    | sudo tee /etc/apt/sources.list.d/coral-edgetpu.list
  sudo apt-get update && sudo apt-get install edgetpu-compiler
On any other host (ARM, macOS, Windows) run it in Docker, x86-64 emulated if need be:
  docker build --platform linux/amd64 -t edgetpu-compiler \\
    -f training/Dockerfile.edgetpu-compiler training
  docker run --rm --platform linux/amd64 -v "EXPORT_DIR:/models" \\
    edgetpu-compiler model.tflite
then put the resulting model_edgetpu.tflite next to model.tflite (or rebuild the bundle)."""


def install_help(tflite: Path) -> str:
    """:data:`INSTALL_HELP` with the Docker command's folder filled in."""
    return INSTALL_HELP.replace("EXPORT_DIR", str(tflite.resolve().parent))


class CompilerNotFound(AocError, FileNotFoundError):
    """``edgetpu_compiler`` is not installed (or cannot run on this machine)."""


class CompileError(AocError, RuntimeError):
    """The compiler ran but produced no Edge TPU model; ``log`` holds what it printed."""

    def __init__(self, message: str, *, log: CompilerLog | None = None) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class OpStatus:
    """One row of the compiler's "Operator / Count / Status" table."""

    operator: str
    count: int
    status: str

    @property
    def mapped(self) -> bool:
        """The op runs on the Edge TPU."""
        return self.status == MAPPED


@dataclass(frozen=True)
class CompilerLog:
    """What ``edgetpu_compiler -s`` reported. Sizes are bytes; None = not in the log."""

    version: str | None = None
    compiled: bool = False
    compile_ms: int | None = None
    input_model: str | None = None
    output_model: str | None = None
    on_chip_used_bytes: int | None = None
    on_chip_remaining_bytes: int | None = None
    off_chip_used_bytes: int | None = None
    edgetpu_subgraphs: int | None = None
    total_ops: int | None = None
    ops_on_edgetpu: int | None = None
    ops_on_cpu: int | None = None
    operations: tuple[OpStatus, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def fully_mapped(self) -> bool:
        """Compiled with every operator on the Edge TPU."""
        return self.compiled and self.ops_on_cpu == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the bundle manifest's ``edgetpu.summary``)."""
        data = asdict(self)
        data["operations"] = [asdict(op) for op in self.operations]
        data["errors"] = list(self.errors)
        data["fully_mapped"] = self.fully_mapped
        return data


@dataclass(frozen=True)
class CompileResult:
    """A successful compile: the ``*_edgetpu.tflite`` and the parsed log."""

    model: Path
    log: CompilerLog
    command: tuple[str, ...]
    output: str  # what the compiler printed (stdout + stderr)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str | None:
        """The compiler's version from its log, if it said one."""
        return self.log.version


_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_SIZE = r"([\d.]+)\s*(B|KiB|MiB|GiB)"
_FIELDS: dict[str, tuple[str, str]] = {
    # attribute: (regex on one line, kind)
    "version": (r"Edge TPU Compiler version (\S+)", "str"),
    "compile_ms": (r"Model compiled successfully in (\d+) ms", "int"),
    "input_model": (r"Input model: (.+)", "str"),
    "output_model": (r"Output model: (.+)", "str"),
    "on_chip_used_bytes": (r"On-chip memory used for caching model parameters: " + _SIZE, "size"),
    "on_chip_remaining_bytes": (
        r"On-chip memory remaining for caching model parameters: " + _SIZE, "size"),
    "off_chip_used_bytes": (
        r"Off-chip memory used for streaming uncached model parameters: " + _SIZE, "size"),
    "edgetpu_subgraphs": (r"Number of Edge TPU subgraphs: (\d+)", "int"),
    "total_ops": (r"Total number of operations: (\d+)", "int"),
    "ops_on_edgetpu": (r"Number of operations that will run on Edge TPU: (\d+)", "int"),
    "ops_on_cpu": (r"Number of operations that will run on CPU: (\d+)", "int"),
}
_OP_ROW = re.compile(r"^([A-Z][A-Z0-9_]*|[a-z][\w-]*-op)\s+(\d+)\s+(\S.*)$")
_ERRORS = re.compile(
    r"^(ERROR:.*|Internal compiler error.*|Compilation failed.*|Invalid model.*"
    r"|Model could not be parsed.*|.*terminating with uncaught exception.*)$"
)


def parse_compiler_log(text: str) -> CompilerLog:
    """Parse what ``edgetpu_compiler -s`` printed; missing items stay None."""
    values: dict[str, Any] = {}
    operations: list[OpStatus] = []
    errors: list[str] = []
    in_table = False
    compiled = False  # the last outcome wins: with -d, failed segments precede a success
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if re.match(r"^Operator\s+Count\s+Status$", line):
            in_table = True
            continue
        for key, (pattern, kind) in _FIELDS.items():
            match = re.match(pattern, line)
            if match:
                # With -d (segment search) several reports follow one another: keep the last.
                values[key] = _convert(match, kind)
                compiled = compiled or key == "compile_ms"
                in_table = False
                break
        else:
            row = _OP_ROW.match(line) if in_table else None
            if row:
                operations.append(OpStatus(row[1], int(row[2]), row[3].strip()))
            elif _ERRORS.match(line):
                errors.append(line)
                compiled = False
    if compiled and values.get("ops_on_edgetpu") is None:
        if operations:
            values["ops_on_edgetpu"] = sum(op.count for op in operations if op.mapped)
            values["ops_on_cpu"] = sum(op.count for op in operations if not op.mapped)
        elif values.get("total_ops") is not None and "not all operations" not in text:
            values["ops_on_edgetpu"], values["ops_on_cpu"] = values["total_ops"], 0
    return CompilerLog(compiled=compiled, operations=tuple(operations), errors=tuple(errors),
                       **values)


def _convert(match: re.Match[str], kind: str) -> Any:
    if kind == "int":
        return int(match[1])
    if kind == "size":
        return round(float(match[1]) * _UNITS[match[2]])
    return match[1].strip()


def find_compiler(*, path: str | None = None) -> Path | None:
    """``edgetpu_compiler`` on ``path`` (default: $PATH), or None."""
    found = shutil.which(COMPILER, path=path)
    return Path(found) if found else None


def compile_model(
    tflite: str | Path,
    out_dir: str | Path,
    *,
    compiler: str | Path | None = None,
    timeout: float = 900.0,
) -> CompileResult:
    """Run ``edgetpu_compiler -s -o out_dir tflite``; return the ``*_edgetpu.tflite``.

    Raises :class:`CompilerNotFound` (with install instructions) when there is no
    compiler, and :class:`CompileError` when it fails or times out. A model that compiles
    with some operators left on the CPU is a success; check ``result.log.fully_mapped``.
    """
    tflite, out_dir = Path(tflite), Path(out_dir)
    if not tflite.is_file():
        raise CompileError(f"cannot compile {tflite}: no such file; export the model first")
    exe = Path(compiler) if compiler is not None else find_compiler()
    if exe is None:
        raise CompilerNotFound(
            f"{COMPILER} not found on PATH; {tflite} was not compiled for the Edge TPU\n"
            + install_help(tflite)
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    command = (str(exe), "-s", "-o", str(out_dir), str(tflite))
    log.info("running %s", " ".join(command))
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise CompilerNotFound(
            f"{exe} does not exist; {tflite} was not compiled for the Edge TPU\n"
            + install_help(tflite)
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise CompileError(
            f"{exe} did not finish compiling {tflite} within {timeout:.0f} s: try a smaller "
            "model or a longer timeout"
        ) from exc
    except OSError as exc:  # e.g. "Exec format error": the x86-64 binary on an ARM host
        raise CompilerNotFound(
            f"{exe} cannot run on this machine ({exc.strerror or exc}); it is x86-64 Linux "
            f"only, so {tflite} was not compiled\n" + install_help(tflite)
        ) from exc
    output = (done.stdout or "") + (done.stderr or "")
    parsed = parse_compiler_log(output)
    model = out_dir / f"{tflite.stem}_edgetpu.tflite"
    if done.returncode != 0 or not parsed.compiled or not model.is_file():
        detail = "; ".join(parsed.errors) or (output.strip().splitlines() or ["no output"])[-1]
        raise CompileError(
            f"{exe} failed to compile {tflite} (exit {done.returncode}): {detail}. Run "
            "'aoc-train check' on the model to see which operators the Edge TPU cannot take",
            log=parsed,
        )
    (out_dir / f"{tflite.stem}_edgetpu.compiler.txt").write_text(output, encoding="utf-8")
    if not parsed.fully_mapped:
        log.warning("%s: %s of %s operations run on the CPU", model, parsed.ops_on_cpu,
                    parsed.total_ops)
    return CompileResult(model=model, log=parsed, command=command, output=output,
                         summary=parsed.to_dict())
