"""The documents' references to tests stay true: every ``test_x.py::test_name`` that a
document names (``::test_other`` after it on the same line means the same file) is a test
that exists, so a table such as ``device/docs/hardening.md`` cannot cite a test that was
renamed or merged away."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted(p for pattern in ("*.md", "device/**/*.md", "training/**/*.md", "models/**/*.md")
              for p in ROOT.glob(pattern))
REFERENCE = re.compile(r"(test_[a-z0-9_]+\.py)?::(test_[A-Za-z0-9_]+)")


def cited_tests(text: str) -> list[tuple[str, str]]:
    """(file, test) pairs a document cites, line by line."""
    out = []
    for line in text.splitlines():
        current = None
        for m in REFERENCE.finditer(line):
            current = m.group(1) or current
            if current is not None:
                out.append((current, m.group(2)))
    return out


def test_the_reference_pattern_reads_shorthand():
    line = "`test_a.py::test_one`, `::test_two[SIGHUP]`; `test_b.py::test_three`"
    assert cited_tests(line) == [("test_a.py", "test_one"), ("test_a.py", "test_two"),
                                 ("test_b.py", "test_three")]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_test_exists(doc):
    missing = []
    for file, name in cited_tests(doc.read_text()):
        path = ROOT / "tests" / file
        if not path.is_file() or not re.search(rf"def {name}\b", path.read_text()):
            missing.append(f"{file}::{name}")
    assert not missing, f"{doc.name} cites tests that do not exist: {missing}"
