"""Model bundles: manifest schema v1, loading with verification, writing, bare models.

A bundle is a folder holding ``model.tflite`` (CPU, full-int8), optionally
``model_edgetpu.tflite``, ``labels.txt`` and ``manifest.json`` (plus optional reports);
see ``device/ARCHITECTURE.md`` and :mod:`aoc.bundle_spec` for the keys. This is
the one contract between ``aoc_train`` (which calls :func:`write_bundle`) and the device
(which calls :func:`load_bundle` or :func:`bare_bundle`). numpy-free, stdlib only.

Bare Coral-style models (``--model X.tflite --labels Y.txt``):

* given ``X_edgetpu.tflite`` with a CPU twin ``X.tflite`` beside it, or given ``X.tflite``
  with ``X_edgetpu.tflite`` beside it, both are used (the classifier picks the backend);
* given an Edge-TPU-compiled model (by name or by its ``edgetpu-custom-op``) with no CPU
  twin, it is accepted as the only model: ``cpu_model`` is ``None``, and
  :meth:`Bundle.require_cpu_model` explains that the CPU cannot run it;
* ``input`` / ``output`` are ``None``: the classifier takes them from the model tensors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aoc.bundle_files import (
    atomic_copy,
    atomic_write_bytes,
    dump_json,
    is_edgetpu_compiled,
    safe_path,
    sha256_file,
)
from aoc.bundle_spec import (
    SCHEMA_VERSION,
    SUPPORTED_SCHEMA_VERSIONS,
    EdgeTpuInfo,
    InputSpec,
    OutputSpec,
    manifest_key,
    parse_specs,
    read_manifest,
)
from aoc.errors import BundleError
from aoc.labels import read_labels, write_labels

__all__ = [
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "Bundle",
    "EdgeTpuInfo",
    "InputSpec",
    "OutputSpec",
    "bare_bundle",
    "check_label_count",
    "is_edgetpu_compiled",
    "load_bundle",
    "sha256_file",
    "write_bundle",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CPU_MODEL = "model.tflite"
EDGETPU_MODEL = "model_edgetpu.tflite"
LABELS = "labels.txt"
_RESERVED = {MANIFEST, CPU_MODEL, EDGETPU_MODEL, LABELS}
_EDGETPU_SUFFIX = "_edgetpu.tflite"


@dataclass(frozen=True)
class Bundle:
    """A verified model bundle (or a bare model + labels pair).

    ``cpu_model`` is ``None`` only for a bare Edge-TPU-compiled model without a CPU
    twin; ``input`` / ``output`` are ``None`` only for bare models.
    """

    root: Path
    name: str
    labels: tuple[str, ...]
    cpu_model: Path | None
    edgetpu_model: Path | None
    input: InputSpec | None
    output: OutputSpec | None
    edgetpu: EdgeTpuInfo
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    labels_file: Path | None = None

    @property
    def is_bare(self) -> bool:
        """True for a bare model + labels pair (no manifest)."""
        return not self.manifest

    def require_cpu_model(self) -> Path:
        """The CPU model, or :class:`BundleError` saying why there is none and what to do."""
        if self.cpu_model is None:
            raise BundleError(
                f"{self.edgetpu_model} is compiled for the Edge TPU and cannot run on the CPU: "
                f"attach a Coral USB Accelerator, or put its CPU twin "
                f"({_cpu_twin_name(self.edgetpu_model)}) next to it",
                path=self.edgetpu_model,
            )
        return self.cpu_model


def _cpu_twin_name(model: Path | None) -> str:
    if model is None:
        return "model.tflite"
    name = model.name
    return name[: -len(_EDGETPU_SUFFIX)] + ".tflite" if name.endswith(_EDGETPU_SUFFIX) else name


def _manifest_path(path: Path) -> Path:
    if path.is_dir():
        return path / MANIFEST
    if path.suffix == ".tflite":
        raise BundleError(
            f"{path} is a bare model, not a bundle: pass it with its labels file "
            "(--model X.tflite --labels labels.txt) or give the bundle folder",
            path=path,
        )
    if path.exists() or path.name == MANIFEST:
        return path
    raise BundleError(
        f"model bundle {path} does not exist: give a folder holding manifest.json "
        "(build one with aoc-train) or a bare --model with --labels",
        path=path,
    )


def load_bundle(path: str | os.PathLike[str], *, verify: bool = True) -> Bundle:
    """Load the bundle at ``path`` (its folder or its ``manifest.json``) and verify it.

    With ``verify`` the sha256 of every listed file is checked (``verify=False`` still
    checks that the files exist, stay inside the bundle and the labels agree).
    """
    manifest_file = _manifest_path(Path(path))
    root = manifest_file.parent.resolve()
    manifest = read_manifest(manifest_file)
    where = manifest_file

    name = manifest_key(manifest, "name", str, where)
    manifest_key(manifest, "created", str, where)
    labels_rel = manifest_key(manifest, "labels_file", str, where)
    labels_list = manifest_key(manifest, "labels", list, where)
    if not labels_list or not all(isinstance(item, str) for item in labels_list):
        raise BundleError(
            f"{where}: key 'labels' must be a non-empty list of strings; rebuild the bundle "
            "with aoc-train",
            path=where,
        )
    models = manifest_key(manifest, "models", dict, where)
    cpu_rel = manifest_key(models, "cpu", str, where, parent="models")
    edgetpu_rel = manifest_key(models, "edgetpu", (str, type(None)), where, parent="models")
    files = manifest_key(manifest, "files", dict, where)
    provenance = manifest_key(manifest, "provenance", dict, where)
    metrics = manifest_key(manifest, "metrics", dict, where)
    input_spec, output_spec, edgetpu = parse_specs(manifest, where)

    for rel, digest in files.items():
        if not isinstance(digest, str) or len(digest) != 64:
            raise BundleError(
                f"{where}: files[{rel!r}] must be a 64-digit sha256 hex string; "
                "rebuild the bundle with aoc-train",
                path=where,
            )
    needed = [rel for rel in (cpu_rel, edgetpu_rel, labels_rel) if rel is not None]
    for rel in needed:
        if rel not in files:
            raise BundleError(
                f"{where}: '{rel}' is not listed under 'files' so it cannot be verified; "
                "rebuild the bundle with aoc-train",
                path=where,
            )
    checked = {rel: safe_path(root, rel, where) for rel in files}
    for rel, file in checked.items():
        if not file.is_file():
            raise BundleError(
                f"bundle file {file} is missing (listed in {where}): re-copy the whole bundle "
                "folder or rebuild it with aoc-train",
                path=file,
            )
        if verify:
            actual = sha256_file(file)
            if actual != files[rel].lower():
                raise BundleError(
                    f"bundle file {file} is corrupt or changed (sha256 {actual[:12]}... but "
                    f"{where.name} says {files[rel][:12]}...): re-copy the bundle or rebuild it "
                    "with aoc-train",
                    path=file,
                )

    labels_file = checked[labels_rel]
    labels = read_labels(labels_file)
    if list(labels) != labels_list:
        raise BundleError(
            f"labels file {labels_file} ({len(labels)} labels: {list(labels)[:5]}) does not "
            f"match the labels in {where} ({len(labels_list)}: {labels_list[:5]}): re-copy the "
            "bundle or rebuild it with aoc-train",
            path=labels_file,
        )
    edgetpu_model = checked[edgetpu_rel] if edgetpu_rel is not None else None
    if edgetpu.compiled != (edgetpu_model is not None):
        raise BundleError(
            f"{where}: edgetpu.compiled is {edgetpu.compiled} but models.edgetpu is "
            f"{edgetpu_rel!r}; they must agree: rebuild the bundle with aoc-train",
            path=where,
        )
    return Bundle(
        root=root,
        name=name,
        labels=labels,
        cpu_model=checked[cpu_rel],
        edgetpu_model=edgetpu_model,
        input=input_spec,
        output=output_spec,
        edgetpu=edgetpu,
        provenance=provenance,
        metrics=metrics,
        manifest=manifest,
        labels_file=labels_file,
    )


def bare_bundle(model: str | os.PathLike[str], labels: str | os.PathLike[str]) -> Bundle:
    """A Bundle for a bare Coral-style model and labels file (see the module docstring)."""
    model = Path(model)
    if not model.is_file():
        raise BundleError(
            f"model file {model} does not exist: pass an existing .tflite file with --model",
            path=model,
        )
    labels_path = Path(labels)
    label_names = read_labels(labels_path)
    model = model.resolve()
    cpu_model: Path | None
    if model.name.endswith(_EDGETPU_SUFFIX) or is_edgetpu_compiled(model):
        edgetpu_model: Path | None = model
        twin = model.with_name(_cpu_twin_name(model))
        cpu_model = twin if twin != model and twin.is_file() else None
    else:
        cpu_model = model
        twin = model.with_name(model.stem + _EDGETPU_SUFFIX)
        edgetpu_model = twin if twin.is_file() else None
    reason = None if edgetpu_model else f"bare model: no {model.stem}{_EDGETPU_SUFFIX} beside it"
    return Bundle(
        root=model.parent,
        name=_cpu_twin_name(model).removesuffix(".tflite"),
        labels=label_names,
        cpu_model=cpu_model,
        edgetpu_model=edgetpu_model,
        input=None,
        output=None,
        edgetpu=EdgeTpuInfo(compiled=edgetpu_model is not None, reason=reason),
        provenance={"source": "bare", "model": str(model), "labels": str(labels_path)},
        labels_file=labels_path.resolve(),
    )


def check_label_count(bundle: Bundle, num_outputs: int) -> None:
    """Refuse a model whose output size differs from the number of labels."""
    if len(bundle.labels) != num_outputs:
        model = bundle.cpu_model or bundle.edgetpu_model
        raise BundleError(
            f"labels file {bundle.labels_file} has {len(bundle.labels)} labels but model "
            f"{model} outputs {num_outputs} scores: use the labels file that belongs to this "
            "model (or rebuild the bundle with aoc-train)",
            path=bundle.labels_file,
        )


def write_bundle(
    out_dir: str | os.PathLike[str],
    *,
    cpu_model: str | os.PathLike[str],
    labels: Sequence[str],
    input_spec: InputSpec,
    output_spec: OutputSpec,
    edgetpu_model: str | os.PathLike[str] | None = None,
    edgetpu_info: EdgeTpuInfo | None = None,
    provenance: Mapping[str, Any],
    metrics: Mapping[str, Any],
    extra_files: Mapping[str, str | bytes | os.PathLike[str]] | None = None,
    name: str | None = None,
    created: datetime | None = None,
) -> Bundle:
    """Write a bundle into ``out_dir`` and return it re-loaded and verified.

    Models are copied to ``model.tflite`` / ``model_edgetpu.tflite``, labels written to
    ``labels.txt``. ``extra_files`` maps a relative name in the bundle (``report.md``,
    ``report/confusion.png``) to a source file (a ``Path``), ``bytes`` or ``str`` (text)
    content. The manifest is written last, atomically (temp file + ``os.replace``), so a
    reader never sees a manifest whose files are not in place yet.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(labels, str | os.PathLike):
        raise BundleError(
            f"write_bundle({out}): labels must be a sequence of class names, not a path; "
            "read it with aoc.labels.read_labels first",
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
    written: list[str] = []
    atomic_copy(Path(cpu_model), out / CPU_MODEL)
    written.append(CPU_MODEL)
    if edgetpu_model is not None:
        atomic_copy(Path(edgetpu_model), out / EDGETPU_MODEL)
        written.append(EDGETPU_MODEL)
    elif (out / EDGETPU_MODEL).exists():
        log.info("removing stale %s from %s", EDGETPU_MODEL, out)
        (out / EDGETPU_MODEL).unlink()
    write_labels(out / LABELS, labels)
    written.append(LABELS)
    for rel, source in (extra_files or {}).items():
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
            atomic_write_bytes(target, source.encode("utf-8"))
        else:
            atomic_copy(Path(source), target)
        written.append(Path(rel).as_posix())

    when = (created or datetime.now(UTC)).astimezone(UTC)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": name or out.resolve().name,
        "created": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "labels": list(labels),
        "labels_file": LABELS,
        "models": {"cpu": CPU_MODEL, "edgetpu": EDGETPU_MODEL if edgetpu_model else None},
        "edgetpu": info.to_dict(),
        "input": input_spec.to_dict(),
        "output": output_spec.to_dict(),
        "files": {rel: sha256_file(out / rel) for rel in sorted(written)},
        "provenance": dict(provenance),
        "metrics": dict(metrics),
    }
    atomic_write_bytes(out / MANIFEST, dump_json(manifest, out / MANIFEST))
    log.info("wrote bundle %s (%d files)", out, len(written))
    return load_bundle(out, verify=True)
