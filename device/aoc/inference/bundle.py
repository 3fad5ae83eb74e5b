"""Model bundles: manifest schema v1, loading with verification, writing, bare models.

A bundle is a folder holding ``model.tflite`` (CPU, full-int8), optionally
``model_edgetpu.tflite``, ``labels.txt`` and ``manifest.json`` (plus optional reports and
``model_float.tflite``, the float reference the device never runs; for the kind
"compiled backbone + head" also ``head.npz``, see :mod:`aoc.inference.bundle_head`);
see ``device/ARCHITECTURE.md`` and :mod:`aoc.inference.bundle_spec` for the keys. This is
the one contract between ``aoc_train`` (which calls
:func:`~aoc.inference.bundle_write.write_bundle`) and the device (which calls
:func:`load_bundle` or :func:`bare_bundle`). numpy-free, stdlib only.

Bare Coral-style models (``--model X.tflite --labels Y.txt``):

* given ``X_edgetpu.tflite`` with a CPU twin ``X.tflite`` beside it, or given ``X.tflite``
  with ``X_edgetpu.tflite`` beside it, both are used (the classifier picks the backend);
* given an Edge-TPU-compiled model (by name or by its ``edgetpu-custom-op``) with no CPU
  twin, it is accepted as the only model: ``cpu_model`` is ``None``, and
  :meth:`Bundle.require_cpu_model` explains that the CPU cannot run it;
* ``input`` / ``output`` are ``None``: the classifier takes them from the model tensors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aoc.errors import BundleError
from aoc.filecheck import require_regular_file
from aoc.inference.bundle_files import checked_files, is_edgetpu_compiled
from aoc.inference.bundle_head import BackboneInfo, load_backbone_head
from aoc.inference.bundle_spec import (
    MANIFEST,
    EdgeTpuInfo,
    InputSpec,
    OutputSpec,
    manifest_key,
    parse_specs,
    read_manifest,
)
from aoc.inference.labels import read_labels

if TYPE_CHECKING:
    from aoc.inference.head import DenseHead

__all__ = [
    "Bundle",
    "bare_bundle",
    "check_label_count",
    "load_bundle",
]


_EDGETPU_SUFFIX = "_edgetpu.tflite"


@dataclass(frozen=True)
class Bundle:
    """A verified model bundle (or a bare model + labels pair).

    ``cpu_model`` is ``None`` only for a bare Edge-TPU-compiled model without a CPU
    twin; ``input`` / ``output`` are ``None`` only for bare models. ``float_model`` is the
    optional float reference (manifest ``models.float``): informational, never run.

    A "compiled backbone + head" bundle has ``backbone`` (what the models output: an
    embedding) and ``head`` (the :class:`~aoc.inference.head.DenseHead` run on it on the CPU; the
    classifier runs the models, then the head); both are ``None`` for any other bundle.
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
    float_model: Path | None = None
    backbone: BackboneInfo | None = None
    head: DenseHead | None = field(default=None, compare=False, repr=False)

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
    checks that the files exist, stay inside the bundle and the labels agree): a model, the
    labels or the head that fails refuses the bundle; the report, model card or report
    pictures only warn.
    """
    manifest_file = _manifest_path(Path(path))
    if manifest_file.exists() and not manifest_file.is_file():  # FIFO/device: never read
        require_regular_file(manifest_file, what="bundle manifest", error=BundleError,
                             fix="rebuild the bundle with aoc-train", path=manifest_file)
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
    # Optional: bundles written before the float model was shipped have no such key.
    float_rel = (
        manifest_key(models, "float", (str, type(None)), where, parent="models")
        if "float" in models
        else None
    )
    files = manifest_key(manifest, "files", dict, where)
    provenance = manifest_key(manifest, "provenance", dict, where)
    metrics = manifest_key(manifest, "metrics", dict, where)
    input_spec, output_spec, edgetpu = parse_specs(manifest, where)

    needed = [rel for rel in (cpu_rel, edgetpu_rel, float_rel, labels_rel) if rel is not None]
    head_section = manifest.get("head")  # its own checks are load_backbone_head's
    head_rel = head_section.get("file") if isinstance(head_section, dict) else None
    checked = checked_files(files, needed, root, where, verify=verify,
                             runtime=[*needed, head_rel] if isinstance(head_rel, str) else needed)
    labels_file = checked[labels_rel]
    labels = _checked_labels(labels_file, labels_list, where)
    edgetpu_model = checked[edgetpu_rel] if edgetpu_rel is not None else None
    if edgetpu.compiled != (edgetpu_model is not None):
        raise BundleError(
            f"{where}: edgetpu.compiled is {edgetpu.compiled} but models.edgetpu is "
            f"{edgetpu_rel!r}; they must agree: rebuild the bundle with aoc-train",
            path=where,
        )
    backbone, head = load_backbone_head(
        manifest, where, checked=checked, labels=labels, output=output_spec,
        cpu_model=checked[cpu_rel],
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
        float_model=checked[float_rel] if float_rel is not None else None,
        backbone=backbone,
        head=head,
    )


def _checked_labels(labels_file: Path, labels_list: list[str], where: Path) -> tuple[str, ...]:
    """The labels file's labels, which must be the manifest's."""
    labels = read_labels(labels_file)
    if list(labels) != labels_list:
        raise BundleError(
            f"labels file {labels_file} ({len(labels)} labels: {list(labels)[:5]}) does not "
            f"match the labels in {where} ({len(labels_list)}: {labels_list[:5]}): re-copy the "
            "bundle or rebuild it with aoc-train",
            path=labels_file,
        )
    return labels


def bare_bundle(model: str | os.PathLike[str], labels: str | os.PathLike[str]) -> Bundle:
    """A Bundle for a bare Coral-style model and labels file (see the module docstring)."""
    model = Path(model)
    if model.exists() and not model.is_file():  # a FIFO or device node: never opened
        require_regular_file(model, what="model file", error=BundleError,
                             fix="pass a .tflite file with --model", path=model)
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
