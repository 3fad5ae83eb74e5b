"""Bundles of kind "compiled backbone + head": the ``backbone`` and ``head`` manifest sections.

Such a bundle runs a backbone that outputs an embedding (Coral's MobileNet V1 embedding
extractor: its CPU twin as ``models.cpu`` and Coral's Edge-TPU-compiled twin as
``models.edgetpu``, copied byte for byte) and then a small numpy
:class:`~aoc.inference.head.DenseHead`
(``head.npz``) on the CPU. Both sections are optional: a bundle without them is a
single-model bundle as before. Manifest form::

    "backbone": {"name": "...", "origin": "...",
                 "output": {"dim": 1024, "dtype": "uint8", "scale": 0.0235294, "zero_point": 0}},
    "head": {"file": "head.npz", "format": "dense-v1", "layers": [1024, 3]}

``output`` then describes the final scores, after the head: float32 probabilities.
numpy is imported only when a head is actually loaded.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aoc.errors import BundleError
from aoc.inference.bundle_files import is_edgetpu_compiled
from aoc.inference.bundle_spec import OutputSpec, manifest_key

if TYPE_CHECKING:
    from aoc.inference.head import DenseHead

log = logging.getLogger(__name__)

#: The head's file name inside a bundle folder.
HEAD_FILE = "head.npz"
#: Head formats this build can run (see :mod:`aoc.inference.head`).
HEAD_FORMATS = ("dense-v1", "dense-v2")
_EMBEDDING_DTYPES = ("uint8", "int8", "float32")
_FIX = "rebuild the bundle with aoc-train"


def _bad(where: object, what: str, fix: str = _FIX) -> BundleError:
    return BundleError(f"{where}: {what}; {fix}", path=where)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class BackboneInfo:
    """The backbone of a backbone + head bundle (manifest key ``backbone``).

    ``dim`` / ``dtype`` / ``scale`` / ``zero_point`` describe its output tensor, the
    embedding (``backbone.output``); ``origin`` is free text (where it came from, licence).
    """

    name: str
    origin: str
    dim: int
    dtype: str
    scale: float
    zero_point: int

    @classmethod
    def from_manifest(cls, section: Mapping[str, Any], where: object) -> BackboneInfo:
        """Parse and check the ``backbone`` section; BundleError naming the key."""
        if not isinstance(section, Mapping):
            raise _bad(where, f"key 'backbone' must be an object, not {type(section).__name__}")
        for key in ("name", "origin"):
            if not isinstance(section.get(key), str) or not section.get(key):
                raise _bad(where, f"key 'backbone.{key}' must be a non-empty string, not "
                           f"{section.get(key)!r}")
        out = section.get("output")
        if not isinstance(out, Mapping):
            raise _bad(where, f"key 'backbone.output' must be an object, not {out!r}")
        dim, dtype = out.get("dim"), out.get("dtype")
        scale, zero_point = out.get("scale"), out.get("zero_point")
        if not _is_int(dim) or dim <= 0:
            raise _bad(where, f"key 'backbone.output.dim' must be a positive int, not {dim!r}")
        if dtype not in _EMBEDDING_DTYPES:
            raise _bad(where, f"key 'backbone.output.dtype' must be one of "
                       f"{', '.join(_EMBEDDING_DTYPES)}, not {dtype!r}")
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not (
            math.isfinite(scale) and scale > 0
        ):
            raise _bad(where, f"key 'backbone.output.scale' must be a positive number, not "
                       f"{scale!r}")
        if not _is_int(zero_point):
            raise _bad(where, f"key 'backbone.output.zero_point' must be an int, not "
                       f"{zero_point!r}")
        return cls(section["name"], section["origin"], dim, dtype, float(scale), zero_point)

    def to_dict(self) -> dict[str, Any]:
        """The manifest form (JSON types)."""
        return {
            "name": self.name,
            "origin": self.origin,
            "output": {"dim": self.dim, "dtype": self.dtype, "scale": self.scale,
                       "zero_point": self.zero_point},
        }


@dataclass(frozen=True)
class HeadInfo:
    """The ``head`` section: file (relative to the bundle), format, layer sizes."""

    file: str
    format: str
    layers: tuple[int, ...]

    @classmethod
    def from_manifest(cls, section: Mapping[str, Any], where: object) -> HeadInfo:
        """Parse and check the ``head`` section; BundleError naming the key."""
        if not isinstance(section, Mapping):
            raise _bad(where, f"key 'head' must be an object, not {type(section).__name__}")
        file, fmt, layers = section.get("file"), section.get("format"), section.get("layers")
        if not isinstance(file, str) or not file:
            raise _bad(where, f"key 'head.file' must be a bundle file name, not {file!r}")
        if fmt not in HEAD_FORMATS:
            raise _bad(
                where,
                f"head format {fmt!r} (key 'head.format') is unknown to this build, which runs "
                f"{', '.join(HEAD_FORMATS)}",
                "upgrade the device software (aoc), or rebuild the bundle with this "
                "version's aoc-train",
            )
        if (not isinstance(layers, list) or len(layers) < 2
                or not all(_is_int(n) and n > 0 for n in layers)):
            raise _bad(where, f"key 'head.layers' must list the layer sizes [D, hidden..., "
                       f"classes] as positive ints, not {layers!r}")
        return cls(file, fmt, tuple(layers))

    def to_dict(self) -> dict[str, Any]:
        """The manifest form (JSON types)."""
        return {"file": self.file, "format": self.format, "layers": list(self.layers)}


def check_head_fits(
    head: DenseHead,
    backbone: BackboneInfo,
    labels: tuple[str, ...] | list[str],
    output: OutputSpec,
    *,
    where: object,
    head_path: object,
    head_desc: str | None = None,
) -> None:
    """Refuse a head that does not take the backbone's embedding or give one score per label.

    ``head_desc`` names the head in messages (default: ``head file <head_path>``).
    """
    head_desc = head_desc or f"head file {head_path}"
    if head.input_dim != backbone.dim:
        raise BundleError(
            f"{head_desc} takes a {head.input_dim}-long embedding but {where} says "
            f"the backbone {backbone.name} gives {backbone.dim} (backbone.output.dim): the "
            f"head belongs to another backbone; {_FIX}",
            path=head_path,
        )
    if head.num_classes != len(labels):
        raise BundleError(
            f"{head_desc} gives {head.num_classes} scores but {where} has "
            f"{len(labels)} labels ({list(labels)[:5]}): use the head trained with these "
            f"labels; {_FIX}",
            path=head_path,
        )
    if (output.dtype, output.kind) != ("float32", "probabilities"):
        raise _bad(
            where,
            f"a backbone + head bundle's 'output' describes the head's scores and must be "
            f"float32 probabilities, not {output.dtype} {output.kind}",
        )


def load_backbone_head(
    manifest: Mapping[str, Any],
    where: Path,
    *,
    checked: Mapping[str, Path],
    labels: tuple[str, ...],
    output: OutputSpec,
    cpu_model: Path,
) -> tuple[BackboneInfo | None, DenseHead | None]:
    """The backbone info and the loaded head, or ``(None, None)`` for a single-model bundle.

    ``checked`` maps the files listed (and already verified) in the manifest to their paths.
    """
    has_backbone, has_head = "backbone" in manifest, "head" in manifest
    if not (has_backbone or has_head):
        return None, None
    if has_backbone != has_head:
        given, absent = ("backbone", "head") if has_backbone else ("head", "backbone")
        raise _bad(where, f"key '{given}' is given without key '{absent}'; a backbone + head "
                   "bundle needs both")
    backbone = BackboneInfo.from_manifest(manifest_key(manifest, "backbone", dict, where), where)
    info = HeadInfo.from_manifest(manifest_key(manifest, "head", dict, where), where)
    if info.file not in checked:
        raise _bad(where, f"head file '{info.file}' (key 'head.file') is not listed under "
                   "'files' so it cannot be verified")
    if is_edgetpu_compiled(cpu_model):
        raise BundleError(
            f"{where}: models.cpu ({cpu_model.name}) is compiled for the Edge TPU; a backbone + "
            f"head bundle needs the backbone's CPU twin there (for {backbone.name}: Coral's "
            f"non-_edgetpu .tflite); {_FIX}",
            path=cpu_model,
        )
    from aoc.inference.head import load_head  # numpy: only for bundles that have a head

    head_path = checked[info.file]
    head = load_head(head_path)
    if (head.layer_sizes, head.format) != (info.layers, info.format):
        raise BundleError(
            f"head file {head_path} has layers {list(head.layer_sizes)} and format "
            f"{head.format} but {where} says head.layers {list(info.layers)} and head.format "
            f"{info.format!r}: the file and the manifest disagree; re-copy the bundle or {_FIX}",
            path=head_path,
        )
    check_head_fits(head, backbone, labels, output, where=where, head_path=head_path)
    log.debug("bundle %s: backbone %s + head %s", where.parent, backbone.name, info.layers)
    return backbone, head


def head_sections(backbone: Mapping[str, Any] | BackboneInfo, head: DenseHead) -> dict[str, Any]:
    """The manifest's ``backbone`` and ``head`` sections for
    :func:`aoc.inference.bundle.write_bundle`."""
    if isinstance(backbone, BackboneInfo):
        section = backbone.to_dict()
    else:  # checked; keys beyond the contract (a URL, a sha256...) are kept as given
        info = BackboneInfo.from_manifest(backbone, "write_bundle(backbone=...)")
        section = {**dict(backbone), **info.to_dict()}
        section["output"] = {**dict(backbone["output"]), **section["output"]}
    return {
        "backbone": section,
        "head": HeadInfo(HEAD_FILE, head.format, head.layer_sizes).to_dict(),
    }
