"""aoc_train.embed: where Coral's compiled extractor is found (the shipped default bundle
carries it byte for byte, so a clone without ../shared can build)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aoc_train import embed
from aoc_train.embed import BUNDLED_BACKBONE_DIR, coral_v1, default_backbone_dir
from aoc_train.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def test_the_default_bundle_carries_corals_extractor() -> None:
    """A user's clone has no ../shared: --backbone-dir models/default was refused for its
    file names although they are Coral's files byte for byte."""
    backbone = coral_v1(ROOT / "models" / "default")
    assert backbone.cpu_model.name == "model.tflite"
    assert backbone.edgetpu_model.name == "model_edgetpu.tflite"
    assert BUNDLED_BACKBONE_DIR == ROOT / "models" / "default"


def test_a_bundle_with_other_models_is_not_taken_for_the_extractor(tmp_path: Path) -> None:
    for name in ("model.tflite", "model_edgetpu.tflite"):
        shutil.copyfile(ROOT / "tests" / "data" / "models" / "uint8" / "model.tflite",
                        tmp_path / name)
    with pytest.raises(DataError, match="not Coral's embedding extractor"):
        coral_v1(tmp_path)
    with pytest.raises(DataError, match=r"is missing: pass --backbone-dir.*models/default"):
        coral_v1(tmp_path / "nothing-here")


def test_without_the_research_references_the_default_bundle_is_used(tmp_path: Path,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(embed, "SHARED_BACKBONE_DIR", tmp_path / "no-shared")
    assert default_backbone_dir() == BUNDLED_BACKBONE_DIR
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite").write_bytes(b"x")
    monkeypatch.setattr(embed, "SHARED_BACKBONE_DIR", shared)
    assert default_backbone_dir() == shared


def _records(tmp_path: Path, n: int) -> list:
    from fakes.labelled_images import picture

    from aoc_train.data import scan_dataset

    for i in range(n):
        folder = tmp_path / "data" / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        picture(i).save(folder / f"{i:03d}.jpg")
    return list(scan_dataset(tmp_path / "data").records)


def test_a_picture_added_costs_one_embedding_and_the_old_layout_is_taken_over(
        tmp_path: Path, monkeypatch) -> None:
    """The cache was keyed on every record and chunked by position: one picture added to a
    data folder of 15,000 embedded them all again (15 minutes)."""
    import numpy as np

    from aoc_train.embed import CHUNK, cache_key, embed_records

    backbone = coral_v1(ROOT / "models" / "default")
    embedded: list[int] = []

    def fake_chunk(args):
        _, _, records, _ = args
        embedded.extend(int(r.file[-7:-4]) for r in records)
        return np.stack([np.full((4, backbone.dim), int(r.file[-7:-4]), np.uint8)
                         for r in records])

    monkeypatch.setattr(embed, "_embed_chunk", fake_chunk)
    monkeypatch.setattr(embed, "ProcessPoolExecutor", _InlinePool)
    records = _records(tmp_path, 6)
    work = tmp_path / "work"
    first = embed_records(backbone, tmp_path / "data", records, cache_dir=work)
    assert sorted(embedded) == list(range(6))
    more = _records(tmp_path, 7)  # one picture more (the last of the order)
    embedded.clear()
    again = embed_records(backbone, tmp_path / "data", more, cache_dir=work)
    assert embedded == [6]
    by_file = {r.file: row for r, row in zip(more, again, strict=True)}
    for r, row in zip(records, first, strict=True):
        assert np.array_equal(by_file[r.file], row)
    # a cache of the earlier, positional layout for exactly these records is taken over
    old = tmp_path / "old"
    (old / f"embeddings-{cache_key(backbone, more, 1234)}").mkdir(parents=True)
    np.save(old / f"embeddings-{cache_key(backbone, more, 1234)}" / "00000.npy", again)
    embedded.clear()
    assert CHUNK >= 7
    taken = embed_records(backbone, tmp_path / "data", more, cache_dir=old)
    assert embedded == [] and np.array_equal(taken, again)


class _InlinePool:
    """ProcessPoolExecutor's map, in this process (the fake chunk cannot be pickled)."""

    def __init__(self, max_workers: int) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def map(self, fn, jobs):
        return [fn(job) for job in jobs]


def test_pictures_the_earlier_decoding_read_otherwise_are_not_taken_over(tmp_path: Path) -> None:
    """The earlier layout's embeddings of a rotated photo or a 16-bit image were made from
    other pixels (no EXIF turn, clipped to white) than training reads now."""
    import numpy as np
    from fakes.hostile_images import rotated_jpeg
    from fakes.labelled_images import picture
    from PIL import Image

    from aoc_train.embed import _read_differently_now

    plain = tmp_path / "plain.jpg"
    picture(1).save(plain)
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((16, 16), 40000, np.uint16)).save(deep)
    assert not _read_differently_now(plain)
    assert _read_differently_now(rotated_jpeg(tmp_path / "phone.jpg"))
    assert _read_differently_now(deep)


def test_each_picture_gets_its_own_views_and_always_the_same_ones() -> None:
    """The augmentation and camera-at-TV parameters come from the build seed and the
    picture's hash: with the seed alone, every picture would be shot with the same TV, room
    and angle (the head learns one screen, not screens), and with a random seed the cached
    embeddings would not match a rebuild."""
    import numpy as np
    from fakes.labelled_images import picture

    from aoc_train.data import ImageRecord
    from aoc_train.embed import image_seed, make_views

    image = np.asarray(picture(1, size=64))
    one = ImageRecord("a/one.jpg", "a", "s", "1" * 64, "0" * 64, 64, 64)
    two = ImageRecord("a/two.jpg", "a", "s", "2" * 64, "0" * 64, 64, 64)

    def views(record: ImageRecord) -> list[np.ndarray]:
        return make_views(image, np.random.default_rng(image_seed(7, record)), side=64)

    first, again, other = views(one), views(one), views(two)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    # the same pixels under another hash: other augmentation and other TV shots
    for v in (1, 2, 3):
        assert first[v].shape != other[v].shape or not np.array_equal(first[v], other[v])
