"""When a notice takes the screen, and when the reading shows instead.

A *notice* says the appliance works, but not as configured: it runs on the CPU because no
Edge TPU answered ("no TPU - on CPU"), it shows the demo because there is no camera, it
runs the packaged model because the configured one failed. Readings keep coming, so a
notice that stayed in the fault box would hide them for good: a Pi without a Coral would
never show its verdict, and the demo would never show its range. A notice therefore takes
the screen for ``show_s`` when it appears, then again for ``show_s`` every ``every_s``
(a passer-by still learns why); in between the reading shows, with its CPU badge, and
while the notice shows, the live verdict stays on its bottom line
(``DisplayState.live``).

Faults that stop the readings (camera lost, inference failing) are not notices: the loop's
idle step shows them all the time.
"""

from __future__ import annotations

import math


def notice_visible(age_s: float, *, show_s: float, every_s: float) -> bool:
    """Whether a notice ``age_s`` seconds old is on screen: during its first ``show_s``
    and the first ``show_s`` of every ``every_s`` after (``every_s`` infinite: once)."""
    if age_s < show_s:
        return True
    if not math.isfinite(every_s):
        return False
    return age_s % every_s < show_s


class NoticeTimer:
    """Remembers since when the current notice stands; a new notice starts afresh.

    ``show_s <= 0`` never shows a notice; ``show_s >= every_s`` always does.
    """

    def __init__(self, *, show_s: float = 5.0, every_s: float = 60.0) -> None:
        if math.isnan(show_s) or math.isnan(every_s) or every_s <= 0:
            raise ValueError(f"NoticeTimer needs a show time and a positive period, "
                             f"not show_s={show_s!r}, every_s={every_s!r}")
        self.show_s, self.every_s = show_s, every_s
        self._note: str | None = None
        self._since = 0.0
        self.repeating = False
        """The note last returned is a notice shown again, not a new one: for burn-in care
        no change in the scene (``DisplayState.notice``)."""

    def __call__(self, note: str | None, now_s: float) -> str | None:
        """``note`` while it is on screen at ``now_s``, else ``None`` (show the reading)."""
        if note != self._note:
            self._note, self._since = note, now_s
        age = now_s - self._since
        visible = note is not None and notice_visible(age, show_s=self.show_s,
                                                      every_s=self.every_s)
        self.repeating = visible and age >= self.show_s
        return note if visible else None
