"""Regenerate the render snapshots (run from the repository root):

    PYTHONPATH=device python3 tests/data/display/make_snapshots.py

Run it only after a deliberate change to the layouts, look at every PNG it wrote, and
commit them with the change. ``tests/test_render.py`` reads ``CASES`` from this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SNAPSHOTS = HERE / "snapshots"
sys.path.insert(0, str(HERE.parents[2] / "device"))

from aoc.display.render import render  # noqa: E402
from aoc.display.state import DisplayState  # noqa: E402

_ANIME = DisplayState(anime=0.87, cartoon=0.12, verdict="anime", backend="edgetpu", fps=29.7)
_CARTOON = DisplayState(anime=0.31, cartoon=0.93, verdict="cartoon", backend="cpu", fps=7.42,
                        frozen=True)
_BOTH = DisplayState(anime=1.0, cartoon=1.0, verdict="both", backend="edgetpu", fps=30.0)
_NEITHER = DisplayState(anime=0.0, cartoon=0.04, verdict="neither", backend="", fps=0.0)
_UNSURE = DisplayState(anime=0.5, cartoon=0.45, verdict="uncertain", backend="cpu", fps=9.96)
_FAULT = DisplayState(anime=0.5, cartoon=0.45, verdict="anime", backend="cpu", fps=3.1,
                      message="camera lost - retrying in 5 s")
# a notice over a live reading: the verdict stays on screen
_NOTICE = DisplayState(anime=0.12, cartoon=0.87, verdict="cartoon", backend="cpu", fps=9.8,
                       message="no TPU - on CPU", live=True)

# name -> (state, size, view)
CASES: dict[str, tuple[DisplayState, tuple[int, int], int]] = {}
for _size in ((128, 64), (128, 32)):
    _tag = f"{_size[0]}x{_size[1]}"
    for _name, _state in (("anime", _ANIME), ("cartoon", _CARTOON), ("both", _BOTH),
                          ("neither", _NEITHER), ("uncertain", _UNSURE)):
        for _view in (0, 1, 2):
            CASES[f"{_tag}_view{_view}_{_name}"] = (_state, _size, _view)
    CASES[f"{_tag}_fault"] = (_FAULT, _size, 0)
    CASES[f"{_tag}_fault_details"] = (_FAULT, _size, 2)
    CASES[f"{_tag}_notice_live"] = (_NOTICE, _size, 0)
    CASES[f"{_tag}_shifted"] = (_ANIME.replace(offset=(2, -1)), _size, 0)


def main() -> None:
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    for name, (state, size, view) in CASES.items():
        render(state, size, view=view).save(SNAPSHOTS / f"{name}.png", optimize=True)
    sys.stdout.write(f"wrote {len(CASES)} snapshots to {SNAPSHOTS}\n")


if __name__ == "__main__":
    main()
