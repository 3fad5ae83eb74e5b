"""aoc_train.manifest_csv: reading manifest.csv (the checks against a scan are exercised
through scan_dataset in test_train_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aoc_train.errors import DataError
from aoc_train.manifest_csv import read_manifest


def test_rows_are_keyed_by_their_path_as_a_scan_names_it(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.csv"
    # a spreadsheet's CSV UTF-8 (byte-order mark), Windows separators, ./ prefixes
    manifest.write_bytes("\ufefffile,source,extra\n./anime\\a1.png,s1,x\nanime/b.png,s2,y\n"
                         .encode())
    rows = read_manifest(manifest)
    assert set(rows) == {"anime/a1.png", "anime/b.png"}
    assert rows["anime/a1.png"]["source"] == "s1"


def test_a_manifest_without_its_columns_or_not_utf8_is_refused_naming_the_fix(
        tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,show\nanime/a.png,s1\n")
    with pytest.raises(DataError, match="needs the columns 'file' and 'source'.*fix its header"):
        read_manifest(manifest)
    manifest.write_bytes(b"file,source\nanime/caf\xe9.png,s1\n")
    with pytest.raises(DataError, match="is not UTF-8 text.*save it as UTF-8"):
        read_manifest(manifest)


def test_an_unbalanced_quote_is_refused_naming_the_line(tmp_path: Path) -> None:
    """One stray quote swallowed the rest of the file: csv's "field larger than field
    limit" traceback, naming neither the manifest nor the line."""
    manifest = tmp_path / "manifest.csv"
    for n in (30, 12000):  # the rest taken into one field, or past csv's field limit
        rows = "".join(f"anime/{i}.png,s{i % 3}\n" for i in range(n))
        manifest.write_text(f'file,source\nanime/a.png,s1\nanime/b.png,"s2\n{rows}')
        with pytest.raises(DataError, match=r"not valid CSV from about line 3 .*unbalanced double"):
            read_manifest(manifest)


def test_one_image_given_two_sources_is_refused_and_a_repeat_is_not(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,source\nanime/a.png,s1\nanime/b.png,s2\n./anime/a.png,s1\n")
    assert read_manifest(manifest)["anime/a.png"]["source"] == "s1"  # the same row twice
    manifest.write_text("file,source\nanime/a.png,s1\nanime/b.png,s2\nanime/a.png,other\n")
    with pytest.raises(DataError, match=r"gives anime/a.png twice.*'s1' and 'other' \(line 4\)"):
        read_manifest(manifest)
