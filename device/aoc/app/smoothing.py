"""Temporal smoothing of classifier scores and the hysteresis verdict.

Scores are averaged with an exponential moving average whose time constant is given in
**seconds**: each update uses ``alpha = 1 - exp(-dt / tau)``, so the display feels the
same at 10 fps and at 300 fps. The verdict (``anime``, ``cartoon``, ``both``, ``neither``,
``uncertain``) is decided on the smoothed scores with hysteresis so it does not flicker
at a threshold. The rules and thresholds are documented in ``device/docs/verdict.md``.

Everything here is a pure function over score vectors (plain floats: see :func:`ema_step`)
except :class:`Smoother`, a small stateful
wrapper the loop keeps one of.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from aoc.display.state import VERDICTS
from aoc.errors import ConfigError

ANIME, CARTOON, BOTH, NEITHER, UNCERTAIN = VERDICTS


@dataclass(frozen=True, slots=True)
class VerdictRules:
    """Thresholds of the verdict (see ``device/docs/verdict.md``).

    ``enter``: a class's smoothed score must reach this to become the verdict.
    ``both_min``: anime and cartoon both at least this -> ``both``.
    ``hysteresis``: once a verdict holds, its thresholds are relaxed by this much (and
    the ``both_min`` ceiling on the other class raised by it) until it drops out.
    ``top1_enter``: for a bare model without anime/cartoon labels, the top-1 score needed.
    """

    enter: float = 0.5
    both_min: float = 0.3
    hysteresis: float = 0.1
    top1_enter: float = 0.4

    def __post_init__(self) -> None:
        for name in ("enter", "both_min", "hysteresis", "top1_enter"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"smoothing.{name} = {value!r} is out of range; use a value in [0, 1]",
                    key=f"smoothing.{name}",
                )


class LabelIndex(NamedTuple):
    """Where the generic classes sit in a model's labels (``None`` when absent)."""

    anime: int | None
    cartoon: int | None
    neither: int | None

    @property
    def is_animation_model(self) -> bool:
        """True when the model has both an ``anime`` and a ``cartoon`` class."""
        return self.anime is not None and self.cartoon is not None


class SmoothedScores(NamedTuple):
    """Smoothed probabilities of the generic classes plus the top-1 label.

    ``anime``/``cartoon``/``neither`` are 0.0 when the model has no such label.
    """

    anime: float
    cartoon: float
    neither: float
    top_label: str
    top_score: float
    animation_model: bool


class Verdict(NamedTuple):
    """What the appliance says: ``state`` is one of :data:`VERDICTS`.

    ``label`` is the model label that carries the verdict (the top-1 label for a bare
    model, the state name otherwise); ``confidence`` is its smoothed score.
    """

    state: str
    label: str
    confidence: float


def label_index(labels: Sequence[str]) -> LabelIndex:
    """Find ``anime``, ``cartoon`` and ``neither`` among ``labels`` by name.

    Matching ignores case and surrounding white space; a model that names its classes
    e.g. ``"Anime"`` works the same.
    """
    names = [label.strip().lower() for label in labels]

    def find(name: str) -> int | None:
        return names.index(name) if name in names else None

    return LabelIndex(find(ANIME), find(CARTOON), find(NEITHER))


def ema_alpha(dt_s: float, tau_s: float) -> float:
    """Weight of the newest sample after ``dt_s`` seconds with time constant ``tau_s``.

    ``tau_s <= 0`` means no smoothing (alpha 1); a non-positive ``dt_s`` gives 0 (the
    same instant twice changes nothing).
    """
    if tau_s <= 0.0:
        return 1.0
    if dt_s <= 0.0:
        return 0.0
    return 1.0 - math.exp(-dt_s / tau_s)


def ema_step(average: list[float], scores: Sequence[float], alpha: float) -> list[float]:
    """Move ``average`` towards ``scores`` by ``alpha`` in place and return it.

    Plain floats, not numpy: the loop calls this right after an invoke, when numpy's code
    is out of the CPU caches and each small array operation costs tens of microseconds
    (``aoc bench``); a few float operations on a list cost a fraction of that.
    """
    for i, (a, s) in enumerate(zip(average, scores, strict=True)):
        average[i] = a + alpha * (s - a)
    return average


def summarize(
    average: Sequence[float], labels: Sequence[str], index: LabelIndex
) -> SmoothedScores:
    """Read the generic classes and the top-1 label out of a smoothed score vector."""

    def at(i: int | None) -> float:
        return float(average[i]) if i is not None else 0.0

    # the first maximum, like np.argmax
    top = max(range(len(average)), key=average.__getitem__)
    return SmoothedScores(
        anime=at(index.anime),
        cartoon=at(index.cartoon),
        neither=at(index.neither),
        top_label=labels[top],
        top_score=float(average[top]),
        animation_model=index.is_animation_model,
    )


def decide(smoothed: SmoothedScores, previous: str, rules: VerdictRules) -> Verdict:
    """The verdict for ``smoothed`` given the ``previous`` state (hysteresis).

    The previous state is kept while it still holds with relaxed thresholds (``both``
    only while no class has clearly won: the strict condition of anime, cartoon or neither
    ends it); otherwise the first of both / anime / cartoon / neither whose strict condition
    holds wins, and ``uncertain`` when none does. Bare models (no anime and cartoon labels)
    use top-1 only.
    """
    if not smoothed.animation_model:
        return _decide_top1(smoothed, previous, rules)
    a, c, n = smoothed.anime, smoothed.cartoon, smoothed.neither

    def holds(state: str, relax: float) -> bool:
        enter = rules.enter - relax
        both_min = rules.both_min - relax
        if state == BOTH:
            return a >= both_min and c >= both_min
        if state == ANIME:
            return a >= enter and c < rules.both_min + relax
        if state == CARTOON:
            return c >= enter and a < rules.both_min + relax
        if state == NEITHER:
            return n >= enter
        return False

    if previous in (BOTH, ANIME, CARTOON, NEITHER) and holds(previous, rules.hysteresis):
        # a both that has turned into a clear anime, cartoon or neither (0.25 / 0.70) is
        # not both: measured through a camera at a TV, it held the screen while one won
        won = None if previous != BOTH else next(
            (state for state in (ANIME, CARTOON, NEITHER) if holds(state, 0.0)), None)
        return _verdict(won or previous, smoothed)
    for state in (BOTH, ANIME, CARTOON, NEITHER):
        if holds(state, 0.0):
            return _verdict(state, smoothed)
    return Verdict(UNCERTAIN, smoothed.top_label, smoothed.top_score)


def _verdict(state: str, s: SmoothedScores) -> Verdict:
    confidence = {ANIME: s.anime, CARTOON: s.cartoon, NEITHER: s.neither}.get(
        state, min(s.anime, s.cartoon)
    )
    return Verdict(state, state, confidence)


def _decide_top1(s: SmoothedScores, previous: str, rules: VerdictRules) -> Verdict:
    """Bare model: the top-1 label decides; its name maps to a state when it is generic."""
    relax = rules.hysteresis if previous != UNCERTAIN else 0.0
    if s.top_score < rules.top1_enter - relax:
        return Verdict(UNCERTAIN, s.top_label, s.top_score)
    name = s.top_label.strip().lower()
    state = name if name in (ANIME, CARTOON, NEITHER) else NEITHER
    return Verdict(state, s.top_label, s.top_score)


class Smoother:
    """Stateful wrapper: feed raw scores with their timestamp, get smoothed scores + verdict.

    The first update takes the scores as they are; later ones blend by time elapsed.
    """

    def __init__(
        self,
        labels: Sequence[str],
        *,
        tau_s: float = 0.5,
        rules: VerdictRules | None = None,
    ) -> None:
        if tau_s < 0.0 or not math.isfinite(tau_s):
            raise ConfigError(
                f"smoothing.tau_s = {tau_s!r} is invalid; use 0 (off) or a positive number "
                "of seconds",
                key="smoothing.tau_s",
            )
        if not labels:
            raise ValueError("Smoother needs at least one label")
        self.labels = tuple(labels)
        self.tau_s = tau_s
        self.rules = rules or VerdictRules()
        self.index = label_index(self.labels)
        self._average = [0.0] * len(self.labels)
        self._last_t: float | None = None
        self._state = UNCERTAIN
        self.scores: SmoothedScores | None = None
        self.verdict = Verdict(UNCERTAIN, self.labels[0], 0.0)

    @property
    def average(self) -> np.ndarray:
        """The smoothed score vector (a read-only float32 copy)."""
        out = np.array(self._average, dtype=np.float32)
        out.flags.writeable = False
        return out

    def reset(self) -> None:
        """Forget the history; the next update starts afresh."""
        self._last_t = None
        self._state = UNCERTAIN
        self._average = [0.0] * len(self.labels)

    def update(self, scores: np.ndarray, t_s: float) -> tuple[SmoothedScores, Verdict]:
        """Blend in ``scores`` (probabilities, one per label) observed at time ``t_s``."""
        if scores.shape != (len(self.labels),):
            raise ValueError(
                f"scores have shape {scores.shape}, the labels say ({len(self.labels)},)"
            )
        values = scores.tolist()  # one numpy call; the rest is float arithmetic
        if self._last_t is None:
            self._average = values
        else:
            ema_step(self._average, values, ema_alpha(t_s - self._last_t, self.tau_s))
        self._last_t = t_s
        self.scores = summarize(self._average, self.labels, self.index)
        self.verdict = decide(self.scores, self._state, self.rules)
        self._state = self.verdict.state
        return self.scores, self.verdict
