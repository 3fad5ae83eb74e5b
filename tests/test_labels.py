"""Tests for inference/labels: both file formats, every refusal, and the write/read round trip."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from aoc.errors import AocError, BundleError
from aoc.inference.labels import parse_labels, read_labels, write_labels

DATA = Path(__file__).parent / "data" / "bundle"


def write(tmp_path: Path, text: str | bytes, name: str = "labels.txt") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def test_one_label_per_line() -> None:
    assert read_labels(DATA / "one_per_line.txt") == ("anime", "cartoon", "neither")


def test_coral_pairs_with_both_separators() -> None:
    assert read_labels(DATA / "coral_pairs.txt") == ("background", "anime", "cartoon")


def test_pairs_in_any_order(tmp_path: Path) -> None:
    path = write(tmp_path, "2 neither\n0 anime\n1 cartoon\n")
    assert read_labels(path) == ("anime", "cartoon", "neither")


def test_crlf_bom_trailing_blank_lines_and_spaces(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffanime \r\n cartoon\r\nneither\r\n\r\n  \n".encode())
    assert read_labels(path) == ("anime", "cartoon", "neither")


def test_label_with_inner_spaces_is_kept() -> None:
    assert parse_labels("golden retriever\ntabby cat\n") == ("golden retriever", "tabby cat")


def test_pair_label_with_spaces() -> None:
    assert parse_labels("0 golden retriever\n1 tabby cat") == ("golden retriever", "tabby cat")


@pytest.mark.parametrize("text", ["", "\n\n", "   \n"])
def test_empty_file_is_refused_naming_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BundleError, match="is empty") as info:
        read_labels(path)
    assert info.value.path == path
    assert str(path) in str(info.value)


def test_mixed_formats_are_refused_with_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "0 anime\ncartoon\n")
    with pytest.raises(BundleError, match=r"mixes formats: line 1 .* line 2 \('cartoon'\)"):
        read_labels(path)


def test_duplicate_id_is_refused_with_line_number(tmp_path: Path) -> None:
    path = write(tmp_path, "0 anime\n1 cartoon\n1 neither\n")
    with pytest.raises(BundleError, match=r"line 3 repeats class id 1 \(first on line 2\)"):
        read_labels(path)


def test_gap_in_ids_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "0 anime\n2 neither\n")
    with pytest.raises(BundleError, match=r"gaps .* \[1\] missing while id 2 is on line 2"):
        read_labels(path)


def test_ids_not_starting_at_zero_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "1 anime\n2 cartoon\n")
    with pytest.raises(BundleError, match=r"\[0\] missing"):
        read_labels(path)


def test_blank_line_between_labels_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "anime\n\ncartoon\n")
    with pytest.raises(BundleError, match="line 2 is blank"):
        read_labels(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.txt"
    with pytest.raises(BundleError, match="does not exist") as info:
        read_labels(path)
    assert info.value.path == path
    assert isinstance(info.value, AocError) and isinstance(info.value, ValueError)


def test_unreadable_file_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="is a folder, not a regular file"):
        read_labels(tmp_path)  # a directory: refused before any read


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, b"anime\n\xff\xfecartoon\n")
    with pytest.raises(BundleError, match="not UTF-8"):
        read_labels(path)


def test_repeated_names_only_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="aoc.inference.labels"):
        assert parse_labels("crane\nbird\ncrane\n") == ("crane", "bird", "crane")
    assert "repeats class names ['crane']" in caplog.text


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    labels = ("anime", "cartoon", "neither", "golden retriever", "日本語")
    path = write_labels(tmp_path / "labels.txt", labels)
    assert path.read_bytes() == "anime\ncartoon\nneither\ngolden retriever\n日本語\n".encode()
    assert read_labels(path) == labels
    assert not list(tmp_path.glob(".labels-*")), "temp file left behind"


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ((), "no labels"),
        (("anime", ""), "is empty"),
        (("anime", "car\ntoon"), "line break"),
        ((" anime",), "surrounding spaces"),
        (("3 stooges",), "id label"),
        (("anime", 3), "not a str"),
    ],
)
def test_write_refuses_names_that_would_not_read_back(
    tmp_path: Path, labels: tuple[object, ...], problem: str
) -> None:
    with pytest.raises(BundleError, match=problem):
        write_labels(tmp_path / "labels.txt", labels)  # type: ignore[arg-type]
    assert not (tmp_path / "labels.txt").exists()


def test_a_fifo_as_labels_file_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "labels.txt"
    os.mkfifo(fifo)
    with pytest.raises(BundleError, match="labels file .*FIFO"):
        read_labels(fifo)
