"""Seeded fuzzing of every file an unattended box reads: images, the config, bundle manifests.

Hundreds of byte-flipped, truncated, spliced and oversize inputs go through the same entry
points the appliance uses -- :func:`aoc.images.load_frame` (``aoc classify`` and the image
folder source), :class:`~aoc.sources.ImageFolderSource`, :func:`aoc.config.load_config`
and :func:`aoc.inference.bundle.load_bundle`. Each must give a correct answer or a clear refusal
(the project's own error, an :class:`~aoc.errors.AocError`) and nothing else: no other
exception type, no hang, no huge allocation. The mutations are seeded (``random.Random``),
so a failure names the case and repeats. The results are tabulated in
``device/docs/hardening.md``.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import struct
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aoc.config import EXAMPLE_CONFIG_PATH, load_config
from aoc.config_sections import Config
from aoc.errors import AocError, BundleError, CameraError, ConfigError, ImageReadError
from aoc.images import load_frame
from aoc.inference.bundle import load_bundle
from aoc.inference.labels import read_labels
from aoc.sources import ImageFolderSource

MODELS = Path(__file__).parent / "data" / "models"
SEED = 13


def flip_bytes(rng: random.Random, data: bytes, *, most: int = 12) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, most)):
        i = rng.randrange(len(out))
        out[i] = rng.randrange(256)
    return bytes(out)


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One of: flip bytes, truncate, splice in random bytes, duplicate a slice, zero a run."""
    kind = rng.randrange(5)
    if kind == 0 or len(data) < 8:
        return flip_bytes(rng, data)
    if kind == 1:
        return data[: rng.randrange(len(data))]
    if kind == 2:
        i = rng.randrange(len(data))
        return data[:i] + rng.randbytes(rng.randint(1, 64)) + data[i:]
    if kind == 3:
        i, j = sorted(rng.sample(range(len(data)), 2))
        return data[:j] + data[i:j] + data[j:]
    i = rng.randrange(len(data))
    return data[:i] + b"\0" * rng.randint(1, 32) + data[i + 32:]


# ---------------------------------------------------------------------------- images


def seed_images() -> dict[str, bytes]:
    """Small valid images in every format and several modes."""
    rng = np.random.default_rng(SEED)
    rgb = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    out: dict[str, bytes] = {}
    for name, image, fmt in (
        ("rgb.png", rgb, "PNG"), ("rgb.jpg", rgb, "JPEG"), ("rgb.gif", rgb, "GIF"),
        ("rgb.bmp", rgb, "BMP"), ("rgb.webp", rgb, "WEBP"), ("rgb.tiff", rgb, "TIFF"),
        ("grey16.png", Image.fromarray(rng.integers(0, 65536, (20, 20), dtype=np.uint16)),
         "PNG"),
        ("rgba.png", rgb.convert("RGBA"), "PNG"), ("p.png", rgb.convert("P"), "PNG"),
        ("cmyk.jpg", rgb.convert("CMYK"), "JPEG"), ("la.png", rgb.convert("LA"), "PNG"),
        ("float.tiff", Image.fromarray(rng.random((16, 16), dtype=np.float32)), "TIFF"),
    ):
        buf = io.BytesIO()
        image.save(buf, fmt)
        out[name] = buf.getvalue()
    return out


def png_with_size(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` x ``height``, valid CRCs, one empty IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                                0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def image_cases() -> list[tuple[str, bytes]]:
    rng = random.Random(SEED)
    seeds = seed_images()
    cases = [(f"{name}#seed", data) for name, data in seeds.items()]
    for i in range(600):
        name = rng.choice(sorted(seeds))
        cases.append((f"{name}#mut{i}", mutate(rng, seeds[name])))
    for width, height in ((20000, 20000), (12000, 12000), (100000, 1), (1, 100000),
                          (65535, 65535), (0, 10), (2**31 - 1, 2), (6001, 4000)):
        cases.append((f"oversize-{width}x{height}.png", png_with_size(width, height)))
    for i in range(20):  # random sizes in a valid header, then flipped
        data = png_with_size(rng.randint(1, 50000), rng.randint(1, 50000))
        cases.append((f"header{i}.png", flip_bytes(rng, data, most=3)))
    return cases


pytestmark = [
    pytest.mark.filterwarnings("error::RuntimeWarning"),
    # Pillow's notes on corrupt TIFF metadata ("Tag data larger than file"): expected here
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin"),
]


def test_fuzzed_images_decode_or_are_refused(tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()
    for i, (name, data) in enumerate(image_cases()):
        path = tmp_path / f"{i:03d}-{name.replace('#', '_')}"
        path.write_bytes(data)
        try:
            frame = load_frame(path, size=(224, 224))
        except ImageReadError as exc:
            assert str(path) in str(exc), exc  # names the file
            outcomes["refused"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the point: no other exception type
            pytest.fail(f"{name}: {type(exc).__name__}: {exc}")
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3, name
        assert frame.shape[0] * frame.shape[1] <= 24_000_000, name
        outcomes["decoded"] += 1
    assert outcomes["refused"] >= 200 and outcomes["decoded"] >= 12, outcomes
    print(f"images: {dict(outcomes)}")


def test_fuzzed_image_folder_shows_the_good_and_skips_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, (name, data) in enumerate(image_cases()[::3]):
        suffix = Path(name.split("#")[0]).suffix or ".png"
        (folder / f"{i:03d}{suffix}").write_bytes(data)
    with ImageFolderSource(folder, size=(32, 32), cache_bytes=32 * 32 * 3 * 8) as source:
        assert source.paths and source.skipped
        for _ in range(2 * len(source.paths)):
            try:
                frame = source.read()
            except CameraError as exc:  # only when every file turned out unreadable
                assert "no readable image" in str(exc)
                break
            assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8


# ---------------------------------------------------------------------------- configs


BAD_SNIPPETS = (
    '[camera]\nsource = ""\n', '[inference]\nedgetpu_device = "pci:x"\n',
    '[service]\nshutdown_command = "\'unclosed"\n', "[display]\nwidth = 1e999\n",
    "[camera]\nbackoff = []\n", "[smoothing]\ntau_s = nan\n", "[controls]\nled_pin = 17\n",
    "[camera]\nwidth = 99999999999999999999999\n", "[[camera]]\n", "[camera.x]\ny = 1\n",
    '[model]\nbundle = "a"\nmodel = "b"\nlabels = "c"\n', "\ufeff[camera]\n",
)


def config_cases() -> list[tuple[str, bytes]]:
    rng = random.Random(SEED + 1)
    base = EXAMPLE_CONFIG_PATH.read_bytes()
    cases = [("example", base), ("latin1", base.replace(b"# Anime", b"# Anim\xe9", 1)),
             ("bom", b"\xef\xbb\xbf" + base), ("empty", b""), ("nul", b"\0" * 100),
             ("huge", b"# x\n" * 300_000)]
    for i in range(400):
        cases.append((f"mut{i}", mutate(rng, base)))
    for i, snippet in enumerate(BAD_SNIPPETS):
        cases.append((f"snippet{i}", base + b"\n" + snippet.encode()))
    return cases


def test_fuzzed_configs_load_or_are_refused(tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()
    for i, (name, data) in enumerate(config_cases()):
        path = tmp_path / f"config-{i}.toml"
        path.write_bytes(data)
        try:
            config = load_config(path)
        except ConfigError as exc:
            assert str(exc), name
            outcomes["refused"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the point: no other exception type
            pytest.fail(f"config {name}: {type(exc).__name__}: {exc}")
        assert isinstance(config, Config)
        outcomes["loaded"] += 1
    assert outcomes["refused"] >= 100 and outcomes["loaded"] >= 3, outcomes
    print(f"configs: {dict(outcomes)}")


# ---------------------------------------------------------------------------- manifests


JSON_VALUES: tuple[Any, ...] = (None, True, 0, -1, 1e308, "", "x" * 5000, [], {}, [None],
                                {"a": 1}, "../../etc/passwd", "/etc/passwd", "model.tflite")


def structural(rng: random.Random, node: Any) -> Any:
    """A copy of the JSON ``node`` with one random key dropped or value replaced."""
    if isinstance(node, dict) and node:
        key = rng.choice(sorted(node))
        out = dict(node)
        roll = rng.random()
        if roll < 0.3:
            del out[key]
        elif roll < 0.6:
            out[key] = rng.choice(JSON_VALUES)
        else:
            out[key] = structural(rng, node[key])
        return out
    if isinstance(node, list) and node:
        out = list(node)
        i = rng.randrange(len(out))
        out[i] = structural(rng, out[i]) if rng.random() < 0.5 else rng.choice(JSON_VALUES)
        return out
    return rng.choice(JSON_VALUES)


def test_fuzzed_manifests_load_or_are_refused(tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)
    bundle = tmp_path / "bundle"
    shutil.copytree(MODELS / "uint8", bundle)
    manifest = bundle / "manifest.json"
    base_text = manifest.read_bytes()
    base = json.loads(base_text)
    cases: list[tuple[str, bytes]] = []
    for i in range(300):
        cases.append((f"json{i}", json.dumps(structural(rng, base)).encode()))
    for i in range(200):
        cases.append((f"bytes{i}", mutate(rng, base_text)))
    cases += [("empty", b""), ("array", b"[]"), ("deep", b"[" * 100_000 + b"]" * 100_000),
              ("latin1", base_text.replace(b"tiny", b"t\xefny"))]
    outcomes: Counter[str] = Counter()
    for name, data in cases:
        manifest.write_bytes(data)
        try:
            load_bundle(bundle)
        except BundleError as exc:
            assert str(exc), name
            outcomes["refused"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the point: no other exception type
            pytest.fail(f"manifest {name}: {type(exc).__name__}: {exc}")
        outcomes["loaded"] += 1
    assert outcomes["refused"] >= 300, outcomes
    assert isinstance(BundleError("x"), AocError)
    print(f"manifests: {dict(outcomes)}")


def test_fuzzed_labels_files_parse_or_are_refused(tmp_path: Path) -> None:
    rng = random.Random(SEED + 3)
    base = (MODELS / "uint8" / "labels.txt").read_bytes()
    pairs = b"0 anime\n1 cartoon\n2 neither\n"
    path = tmp_path / "labels.txt"
    outcomes: Counter[str] = Counter()
    for i in range(300):
        path.write_bytes(mutate(rng, base if i % 2 else pairs))
        try:
            labels = read_labels(path)
        except BundleError:
            outcomes["refused"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the point: no other exception type
            pytest.fail(f"labels case {i}: {type(exc).__name__}: {exc}")
        assert labels and all(isinstance(x, str) and x for x in labels)
        outcomes["parsed"] += 1
    assert outcomes["refused"] >= 10 and outcomes["parsed"] >= 10, outcomes
    print(f"labels: {dict(outcomes)}")
