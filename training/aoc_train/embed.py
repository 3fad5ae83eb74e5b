"""Embeddings from a compiled backbone's CPU twin, through the device's own preprocessing.

A "compiled backbone + head" bundle runs a backbone that Coral compiled for the Edge TPU,
then a small head on the CPU. Both twins compute the same int8 graph, so the CPU twin run
here gives exactly the embeddings the TPU will produce. Each training image is seen in
:data:`VIEWS` ways (clean, augmented, two camera-at-TV shots, see :mod:`.tvsim`); the
embeddings of every view are cached in a ``.npz`` per chunk of images, so an interrupted
run resumes where it stopped. No TensorFlow: this runs with the device's TFLite runtime.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from aoc.inference.interpreter import build_interpreter
from aoc.inference.preprocess import Preprocessor, PreprocessSpec
from aoc.inference.resize import DEVICE_RESAMPLE
from aoc.inference.runtime import find_runtime

from . import augment as aug
from . import tvsim
from .data import ImageRecord, read_rgb
from .errors import DataError

log = logging.getLogger(__name__)

VIEWS = ("clean", "augmented", "tv1", "tv2")
CLEAN, TV = (0,), (2, 3)  # the views a held-out image is scored on
CHUNK = 256
_VERSION = "embed-v1"


@dataclass(frozen=True)
class Backbone:
    """A compiled backbone: its two twins, input spec and quantized output."""

    name: str
    cpu_model: Path
    edgetpu_model: Path
    origin: str
    width: int = 224
    height: int = 224
    input_scale: float = 0.0078125
    input_zero_point: int = 128
    resize: str = "center_crop"
    # the resize filter of the embeddings: the device's own, so that training sees exactly
    # the tensor the device will feed the backbone
    resample: str = DEVICE_RESAMPLE
    dim: int = 1024
    output_scale: float = 0.023528477177023888
    output_zero_point: int = 0

    @property
    def value_range(self) -> tuple[float, float]:
        """The real values of pixels 0 and 255 under the input quantization: with Coral's
        (1/128, 128) the uint8 pixels go into the tensor unchanged."""
        lo = (0 - self.input_zero_point) * self.input_scale
        return lo, (255 - self.input_zero_point) * self.input_scale

    def preprocess_spec(self) -> PreprocessSpec:
        """What the device does to a frame for this backbone (the manifest's input spec)."""
        return PreprocessSpec(self.width, self.height, dtype="uint8", scale=self.input_scale,
                              zero_point=self.input_zero_point, value_range=self.value_range,
                              resize=self.resize, resample=self.resample)

    def manifest(self) -> dict:
        """The bundle manifest's ``backbone`` section."""
        return {
            "name": self.name,
            "origin": self.origin,
            "output": {"dim": self.dim, "dtype": "uint8", "scale": self.output_scale,
                       "zero_point": self.output_zero_point},
        }

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """uint8 embeddings to float32."""
        return (q.astype(np.float32) - self.output_zero_point) * np.float32(self.output_scale)


CORAL_V1 = "coral-mobilenet-v1-embedding"
_CORAL_STEM = "mobilenet_v1_1.0_224_quant_embedding_extractor"


# Coral's two files (google-coral/test_data), by sha256: a compiled-backbone bundle such as
# models/default ships them byte for byte as model.tflite and model_edgetpu.tflite
CORAL_V1_SHA256 = (
    "f409ef4f73fcbb9667841965623c5c8524aac33d41b9bf5f3667161fb4a76319",
    "33a249155302975d7e28f72a5250903cdf7f7afb7bd1ceec3d2cd8ca9ce6a609",
)
BUNDLED_BACKBONE_DIR = Path(__file__).resolve().parents[2] / "models" / "default"
SHARED_BACKBONE_DIR = Path("../shared/reference/coral")


def default_backbone_dir() -> Path:
    """Where Coral's extractor is looked for without ``--backbone-dir``: the research
    references when they are there, else the default bundle, which carries it."""
    for folder in (SHARED_BACKBONE_DIR, BUNDLED_BACKBONE_DIR):
        if (folder / f"{_CORAL_STEM}.tflite").is_file() or (folder / "model.tflite").is_file():
            return folder
    return BUNDLED_BACKBONE_DIR


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def coral_v1(folder: Path) -> Backbone:
    """Coral's MobileNet V1 1.0 224 embedding extractor (Apache-2.0) from ``folder``: under
    Coral's own file names, or as a bundle's ``model.tflite`` and ``model_edgetpu.tflite``
    when they are Coral's files byte for byte (as in ``models/default``)."""
    cpu, tpu = folder / f"{_CORAL_STEM}.tflite", folder / f"{_CORAL_STEM}_edgetpu.tflite"
    bundled = folder / "model.tflite", folder / "model_edgetpu.tflite"
    if not (cpu.is_file() and tpu.is_file()) and all(f.is_file() for f in bundled):
        if tuple(_sha256(f) for f in bundled) != CORAL_V1_SHA256:
            raise DataError(
                f"{folder} is a bundle whose models are not Coral's embedding extractor: pass "
                f"--backbone-dir pointing at Coral's {_CORAL_STEM}.tflite and its _edgetpu "
                f"twin, or at a bundle that carries them (models/default)")
        cpu, tpu = bundled
    for f in (cpu, tpu):
        if not f.is_file():
            raise DataError(
                f"backbone file {f} is missing: pass --backbone-dir pointing at the folder with "
                f"Coral's {_CORAL_STEM}.tflite and its _edgetpu twin (google-coral/test_data), "
                "or at a bundle that carries them (models/default)"
            )
    return Backbone(
        name="coral-mobilenet-v1-1.0-224-embedding",
        cpu_model=cpu,
        edgetpu_model=tpu,
        origin="Coral test_data mobilenet_v1_1.0_224_quant_embedding_extractor(_edgetpu).tflite, "
        "compiled by Coral for the Edge TPU; Apache-2.0",
    )


class Embedder:
    """The backbone's CPU twin on the device's runtime: frame -> uint8 embedding."""

    def __init__(self, backbone: Backbone, *, num_threads: int = 1) -> None:
        self.backbone = backbone
        runtime = find_runtime()
        self._it = build_interpreter(runtime, backbone.cpu_model, num_threads=num_threads)
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]
        self._view = self._it.tensor(self._in)
        self._pre = Preprocessor(backbone.preprocess_spec())

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The (dim,) uint8 embedding of one RGB frame."""
        self._pre(frame, self._view())
        self._it.invoke()
        return self._it.get_tensor(self._out).reshape(-1).copy()

    def close(self) -> None:
        """Drop the interpreter; safe twice."""
        self._it = None
        self._view = None

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def image_seed(seed: int, record: ImageRecord) -> list[int]:
    """Per-image seed from the build seed and the file's content hash (order-independent)."""
    return [seed, int(record.sha256[:12], 16)]


def make_views(image: np.ndarray, rng: np.random.Generator, side: int = 224) -> list[np.ndarray]:
    """The :data:`VIEWS` of one image: as is, augmented, and two camera-at-TV shots."""
    augmented = aug.training_view(image, rng, side, screen_strength=0.5)
    return [image, augmented, tvsim.tv_view(image, rng).frame, tvsim.tv_view(image, rng).frame]


def _embed_chunk(args: tuple[Backbone, Path, list[ImageRecord], int]) -> np.ndarray:
    backbone, root, records, seed = args
    out = np.zeros((len(records), len(VIEWS), backbone.dim), np.uint8)
    with Embedder(backbone) as embed:
        for i, r in enumerate(records):
            image = np.asarray(read_rgb(root / r.file))
            rng = np.random.default_rng(image_seed(seed, r))
            for v, view in enumerate(make_views(image, rng, backbone.width)):
                out[i, v] = embed(np.ascontiguousarray(view))
    return out


def cache_key(backbone: Backbone, records: Sequence[ImageRecord], seed: int) -> str:
    """Names what the cached embeddings depend on: backbone, images, seed, view recipe."""
    h = hashlib.sha256(f"{_VERSION}|{backbone.name}|{seed}|{VIEWS}|{backbone.resample}".encode())
    for r in records:
        h.update(r.sha256.encode())
    return h.hexdigest()[:16]


def recipe_key(backbone: Backbone, seed: int) -> str:
    """Names what one image's embeddings depend on besides its bytes: backbone, seed, view
    recipe and resize filter (the views' random stream comes from the file's hash)."""
    text = f"{_VERSION}|{backbone.name}|{seed}|{VIEWS}|{backbone.resample}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _load_store(folder: Path) -> dict[str, np.ndarray]:
    """sha256 -> (views, dim) embeddings of every pack in ``folder``."""
    store: dict[str, np.ndarray] = {}
    for pack in sorted(folder.glob("pack-*.npz")):
        try:
            with np.load(pack, allow_pickle=False) as z:
                store.update(zip(z["sha256"].tolist(), z["emb"], strict=True))
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            # only a cache (a disk that filled, a copy cut short): its images are embedded
            # again, and the pack is set aside rather than read again at every build
            log.warning("embedding cache %s is unreadable (%s); embedding its images again",
                        pack, exc)
            pack.replace(pack.with_name(f".{pack.stem}.unreadable"))
    return store


def _save_pack(folder: Path, shas: Sequence[str], emb: np.ndarray) -> None:
    name = hashlib.sha256("".join(shas).encode()).hexdigest()[:16]
    tmp = folder / f".pack-{name}.partial.npz"
    np.savez(tmp, sha256=np.array(shas), emb=emb)
    os.replace(tmp, folder / f"pack-{name}.npz")


def _read_differently_now(path: Path) -> bool:
    """Whether the earlier layout's decoding (``convert("RGB")``, no EXIF turn) gave other
    pixels than :func:`aoc_train.data.read_rgb` gives now: a rotated photo, a 16-bit or
    float image."""
    try:
        with Image.open(path) as image:
            return image.mode in ("I", "F") or image.mode.startswith("I;16") or (
                image.getexif().get(0x0112, 1) != 1)
    except (OSError, ValueError, SyntaxError):
        return True


def _import_positional(cache_dir: Path, key: str, root: Path,
                       records: Sequence[ImageRecord], folder: Path) -> None:
    """Take over a complete cache of the earlier layout (``embeddings-KEY/00000.npy``...,
    chunks in record order for exactly these records) as one pack: 15 minutes of
    embedding are not thrown away. Pictures its decoding read differently are left out
    (they are embedded again)."""
    old = cache_dir / f"embeddings-{key}"
    n_chunks = -(-len(records) // CHUNK)
    files = [old / f"{k:05d}.npy" for k in range(n_chunks)]
    if not records or not all(f.is_file() for f in files):
        return
    emb = np.concatenate([np.load(f) for f in files])
    if emb.shape[0] != len(records):
        return
    keep = [i for i, r in enumerate(records) if not _read_differently_now(root / r.file)]
    _save_pack(folder, [records[i].sha256 for i in keep], emb[keep])
    log.info("embeddings: took over %d of %d images from %s", len(keep), len(records), old)


def embed_records(
    backbone: Backbone,
    root: Path,
    records: Sequence[ImageRecord],
    *,
    cache_dir: Path,
    seed: int = 1234,
    workers: int = 2,
    progress: Callable[[Iterable], Iterable] = lambda it: it,
) -> np.ndarray:
    """(N, len(VIEWS), dim) uint8 embeddings of every view of every record.

    Cached by content: packs of embeddings keyed by each file's sha256 in
    ``cache_dir/embeddings-store-RECIPE``, so a data folder that gains, loses or renames
    pictures costs only the new pictures; each chunk of new ones is saved as it finishes
    (an interrupted run resumes).
    """
    cache_dir = Path(cache_dir)
    folder = cache_dir / f"embeddings-store-{recipe_key(backbone, seed)}"
    folder.mkdir(parents=True, exist_ok=True)
    store = _load_store(folder)
    if any(r.sha256 not in store for r in records):
        _import_positional(cache_dir, cache_key(backbone, records, seed), Path(root), records,
                           folder)
        store = _load_store(folder)
    todo = list({r.sha256: r for r in records if r.sha256 not in store}.values())
    log.info("embeddings: %d of %d images cached, %d to compute in %s",
             len(records) - len(todo), len(records), len(todo), folder)
    if todo:
        chunks = [todo[i:i + CHUNK] for i in range(0, len(todo), CHUNK)]
        jobs = [(backbone, Path(root), chunk, seed) for chunk in chunks]
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            for chunk, arr in progress(zip(chunks, pool.map(_embed_chunk, jobs), strict=True)):
                shas = [r.sha256 for r in chunk]
                _save_pack(folder, shas, arr)
                store.update(zip(shas, arr, strict=True))
    return np.stack([store[r.sha256] for r in records]) if records else np.zeros(
        (0, len(VIEWS), backbone.dim), np.uint8)
