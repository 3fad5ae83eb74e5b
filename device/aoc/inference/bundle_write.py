"""Writing a model bundle (what ``aoc_train`` calls): models, labels, extra files and the
manifest into a staging folder beside the bundle, verified, then swapped into place, so a
rewrite cut short (Ctrl-C, a crash, a full disk) leaves the previous bundle as it was.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aoc.errors import BundleError
from aoc.inference.bundle import Bundle, load_bundle
from aoc.inference.bundle_files import (
    atomic_copy,
    atomic_write_bytes,
    dump_json,
    safe_path,
    sha256_file,
)
from aoc.inference.bundle_head import HEAD_FILE, BackboneInfo, check_head_fits, head_sections
from aoc.inference.bundle_spec import (
    CPU_MODEL,
    EDGETPU_MODEL,
    FLOAT_MODEL,
    LABELS,
    MANIFEST,
    SCHEMA_VERSION,
    EdgeTpuInfo,
    InputSpec,
    OutputSpec,
)
from aoc.inference.labels import write_labels

if TYPE_CHECKING:
    from aoc.inference.head import DenseHead

log = logging.getLogger(__name__)

_RESERVED = {MANIFEST, CPU_MODEL, EDGETPU_MODEL, FLOAT_MODEL, LABELS, HEAD_FILE}


def write_bundle(
    out_dir: str | os.PathLike[str],
    *,
    cpu_model: str | os.PathLike[str],
    labels: Sequence[str],
    input_spec: InputSpec,
    output_spec: OutputSpec,
    edgetpu_model: str | os.PathLike[str] | None = None,
    edgetpu_info: EdgeTpuInfo | None = None,
    float_model: str | os.PathLike[str] | None = None,
    provenance: Mapping[str, Any],
    metrics: Mapping[str, Any],
    extra_files: Mapping[str, str | bytes | os.PathLike[str]] | None = None,
    name: str | None = None,
    created: datetime | None = None,
    backbone: Mapping[str, Any] | BackboneInfo | None = None,
    head: DenseHead | None = None,
) -> Bundle:
    """Write a bundle into ``out_dir`` and return it re-loaded and verified.

    Models are copied to ``model.tflite`` / ``model_edgetpu.tflite``, labels written to
    ``labels.txt``. ``float_model``, if given, is copied to ``model_float.tflite`` and named
    by ``models.float``: a reference for checking int8 against float that the device never
    runs. ``extra_files`` maps a relative name in the bundle (``report.md``,
    ``report/confusion.png``) to a source file (a ``Path``), ``bytes`` or ``str`` (text)
    content. A "compiled backbone + head" bundle passes ``backbone`` (the manifest section:
    ``name``, ``origin``, ``output`` = ``dim``/``dtype``/``scale``/``zero_point`` of the
    embedding) and ``head`` (a :class:`~aoc.inference.head.DenseHead`, saved as
    ``head.npz``), both or neither; the models are then the backbone's twins and
    ``output_spec`` the head's float32 probabilities (see :mod:`aoc.inference.bundle_head`).
    Everything is written into ``.NAME.writing`` beside ``out_dir``, verified, and then
    swapped in for the old folder (whose other files go with it): a reader sees the old
    bundle or the new one, and a write cut short leaves the old one in place.
    """
    final = check_bundle_target(out_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    name = name or final.name
    out = final.parent / f".{final.name}.writing"
    if out.exists():  # left by a write cut short
        shutil.rmtree(out)
    out.mkdir()
    try:
        _write_into(out, final, name=name, cpu_model=cpu_model, labels=labels,
                    input_spec=input_spec, output_spec=output_spec,
                    edgetpu_model=edgetpu_model, edgetpu_info=edgetpu_info,
                    float_model=float_model, provenance=provenance, metrics=metrics,
                    extra_files=extra_files, created=created, backbone=backbone, head=head)
        load_bundle(out, verify=True)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    _swap_into_place(out, final)
    log.info("wrote bundle %s", final)
    return load_bundle(final, verify=True)


def check_bundle_target(out_dir: str | os.PathLike[str]) -> Path:
    """The folder a bundle may be written to (resolved), or a BundleError: the folder is
    replaced whole, so it must be new, empty, or a bundle already (it has a manifest).
    Call it before the work that makes the bundle, too."""
    final = Path(out_dir).expanduser().resolve()
    if final.exists() and not final.is_dir():
        raise BundleError(f"bundle folder {final} is a file; give a folder for the bundle",
                          path=final)
    # a file where a parent folder must go failed only at the end of a whole build
    blocking = next((p for p in final.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise BundleError(f"bundle folder {final} cannot be made: {blocking} is a file; give "
                          "a folder path for the bundle", path=blocking)
    if final.is_dir() and not (final / MANIFEST).is_file() and any(final.iterdir()):
        raise BundleError(
            f"bundle folder {final} holds files and is not a model bundle (no {MANIFEST}); "
            "writing a bundle replaces the whole folder: give a new or empty folder",
            path=final)
    if final == Path.cwd() or final in Path.cwd().parents:
        raise BundleError(f"bundle folder {final} is the working folder or holds it; give "
                          "a folder of its own", path=final)
    return final


def _swap_into_place(staged: Path, final: Path) -> None:
    """Put the ``staged`` folder where ``final`` is; the old folder is removed after."""
    previous = final.parent / f".{final.name}.previous"
    if previous.exists():
        shutil.rmtree(previous)
    if final.exists():
        os.rename(final, previous)
    os.rename(staged, final)
    if previous.exists():
        shutil.rmtree(previous)


def _write_into(out: Path, final: Path, *, name: str, cpu_model: str | os.PathLike[str],
                labels: Sequence[str], input_spec: InputSpec, output_spec: OutputSpec,
                edgetpu_model: str | os.PathLike[str] | None,
                edgetpu_info: EdgeTpuInfo | None, float_model: str | os.PathLike[str] | None,
                provenance: Mapping[str, Any], metrics: Mapping[str, Any],
                extra_files: Mapping[str, str | bytes | os.PathLike[str]] | None,
                created: datetime | None, backbone: Mapping[str, Any] | BackboneInfo | None,
                head: DenseHead | None) -> None:
    """Every file of the bundle into the empty folder ``out``; the manifest last."""
    info, sections = _checked_sections(final, labels, output_spec, edgetpu_model,
                                       edgetpu_info, backbone, head)
    written = _write_models(out, cpu_model, edgetpu_model, float_model, head)
    write_labels(out / LABELS, labels)
    written.append(LABELS)
    written += _write_extra_files(out, extra_files or {})

    when = (created or datetime.now(UTC)).astimezone(UTC)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "created": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "labels": list(labels),
        "labels_file": LABELS,
        "models": {
            "cpu": CPU_MODEL,
            "edgetpu": EDGETPU_MODEL if edgetpu_model else None,
            "float": FLOAT_MODEL if float_model is not None else None,
        },
        "edgetpu": info.to_dict(),
        "input": input_spec.to_dict(),
        "output": output_spec.to_dict(),
        **sections,
        "files": {rel: sha256_file(out / rel) for rel in sorted(written)},
        "provenance": dict(provenance),
        "metrics": dict(metrics),
    }
    atomic_write_bytes(out / MANIFEST, dump_json(manifest, out / MANIFEST))


def _checked_sections(
    out: Path, labels: Sequence[str], output_spec: OutputSpec,
    edgetpu_model: str | os.PathLike[str] | None, edgetpu_info: EdgeTpuInfo | None,
    backbone: Mapping[str, Any] | BackboneInfo | None, head: DenseHead | None,
) -> tuple[EdgeTpuInfo, dict[str, Any]]:
    """The ``edgetpu`` info and the backbone/head sections, refused when inconsistent."""
    if isinstance(labels, str | os.PathLike):
        raise BundleError(
            f"write_bundle({out}): labels must be a sequence of class names, not a path; "
            "read it with aoc.inference.labels.read_labels first",
            path=out,
        )
    info = edgetpu_info or EdgeTpuInfo(
        compiled=edgetpu_model is not None,
        reason=None if edgetpu_model is not None else "no Edge TPU model was given",
    )
    if info.compiled != (edgetpu_model is not None):
        raise BundleError(
            f"write_bundle({out}): edgetpu_info.compiled={info.compiled} but edgetpu_model is "
            f"{edgetpu_model!r}; pass the compiled model exactly when compiled is True",
            path=out,
        )
    sections: dict[str, Any] = {}
    if (backbone is None) != (head is None):
        raise BundleError(
            f"write_bundle({out}): backbone and head go together (a compiled backbone + head "
            f"bundle); got backbone={backbone is not None}, head={head is not None}",
            path=out,
        )
    if head is not None and backbone is not None:
        sections = head_sections(backbone, head)
        check_head_fits(
            head, BackboneInfo.from_manifest(sections["backbone"], out), tuple(labels),
            output_spec, where=f"write_bundle({out})", head_path=out,
            head_desc="the head passed to write_bundle",
        )
    return info, sections


def _write_models(
    out: Path, cpu_model: str | os.PathLike[str], edgetpu_model: str | os.PathLike[str] | None,
    float_model: str | os.PathLike[str] | None, head: DenseHead | None,
) -> list[str]:
    """Copy the models (and save the head) into the staging folder ``out``."""
    written: list[str] = []
    atomic_copy(Path(cpu_model), out / CPU_MODEL)
    written.append(CPU_MODEL)
    for model_file, source in ((EDGETPU_MODEL, edgetpu_model), (FLOAT_MODEL, float_model)):
        if source is not None:  # a model left out is absent: the folder starts empty
            atomic_copy(Path(source), out / model_file)
            written.append(model_file)
    if head is not None:
        from aoc.inference.head import save_head  # numpy: only for bundles that have a head

        tmp = save_head(head, out / f".{HEAD_FILE}.tmp")
        os.replace(tmp, out / HEAD_FILE)
        written.append(HEAD_FILE)
    return written


def _write_extra_files(out: Path, extra_files: Mapping[str, str | bytes | os.PathLike[str]]
                       ) -> list[str]:
    """Write ``extra_files`` (reports, figures) under ``out``; reserved names are refused."""
    written: list[str] = []
    for rel, source in extra_files.items():
        target = safe_path(out.resolve(), rel, out)
        if rel in _RESERVED or target.name == MANIFEST:
            raise BundleError(
                f"write_bundle({out}): extra file name {rel!r} is reserved; choose another name",
                path=out,
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, bytes):
            atomic_write_bytes(target, source)
        elif isinstance(source, str):
            # a file or folder name that is not UTF-8 (an old zip's Latin-1) reaches a report
            # as surrogates: written as \udcxx escapes, not a crash at the end of a build
            atomic_write_bytes(target, source.encode("utf-8", "backslashreplace"))
        else:
            atomic_copy(Path(source), target)
        written.append(Path(rel).as_posix())
    return written
