"""The project's code runs on numpy 1.24 as well as numpy 2.

Raspberry Pi OS Bookworm ships numpy 1.24, and ``install.sh`` keeps it in the Pi's venv
(apt's picamera2 is built against it), while this suite runs under numpy 2. A name that
only numpy 2 has would pass here and fail on the Pi (``np.bitwise_count`` once did, in
the build's duplicate finder). The names below are the public ones numpy 2.3 has and
numpy 1.24.2 has not (``dir(numpy)`` of both, compared on 2026-12-07).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMPY2_ONLY = frozenset({
    "acos", "acosh", "asin", "asinh", "astype", "atan", "atan2", "atanh", "bitwise_count",
    "bitwise_invert", "bitwise_left_shift", "bitwise_right_shift", "bool", "concat",
    "cumulative_prod", "cumulative_sum", "dtypes", "exceptions", "isdtype", "long",
    "matrix_transpose", "matvec", "permute_dims", "pow", "strings", "trapezoid", "ulong",
    "unique_all", "unique_counts", "unique_inverse", "unique_values", "unstack", "vecdot",
    "vecmat",
})


def numpy2_only_uses(source: str) -> list[tuple[int, str]]:
    """``(line, name)`` of every ``np.<name>`` / ``numpy.<name>`` that numpy 1.24 lacks,
    (``getattr(np, name, None)``, a guarded use, is not one)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in ("np", "numpy") and node.attr in NUMPY2_ONLY):
            found.append((node.lineno, node.attr))
    return sorted(found)


def test_the_check_finds_a_numpy2_only_name() -> None:
    code = "import numpy as np\nx = np.bitwise_count(a)\ny = np.sum(a)\nz = np.bool_(1)\n"
    assert numpy2_only_uses(code) == [(2, "bitwise_count")]


@pytest.mark.parametrize("package", ["device", "training"])
def test_no_numpy2_only_names_in_the_project(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, name in numpy2_only_uses(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: np.{name}")
    assert offenders == [], "numpy 1.24 (the Pi's) lacks these:\n" + "\n".join(offenders)
