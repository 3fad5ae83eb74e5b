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
