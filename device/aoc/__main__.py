"""``python -m aoc``: the same as the ``aoc`` command."""

import sys

from aoc.cli import main

sys.exit(main())
