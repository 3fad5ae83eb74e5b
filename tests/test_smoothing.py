"""Tests for aoc.app.smoothing: time-based EMA, hysteresis verdicts, label mapping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aoc.app.smoothing import (
    ANIME,
    BOTH,
    CARTOON,
    NEITHER,
    UNCERTAIN,
    LabelIndex,
    SmoothedScores,
    Smoother,
    VerdictRules,
    decide,
    ema_alpha,
    ema_step,
    label_index,
    summarize,
)
from aoc.errors import ConfigError

LABELS = ("anime", "cartoon", "neither")
RULES = VerdictRules()


def scores(a: float, c: float, n: float) -> np.ndarray:
    return np.array([a, c, n], dtype=np.float32)


def smoothed(a: float, c: float, n: float) -> SmoothedScores:
    return summarize(scores(a, c, n), LABELS, label_index(LABELS))


def test_alpha_is_one_minus_exp():
    assert ema_alpha(0.1, 1.0) == pytest.approx(1 - math.exp(-0.1))
    assert ema_alpha(0.5, 0.0) == 1.0  # tau 0 = no smoothing
    assert ema_alpha(0.0, 1.0) == 0.0


@pytest.mark.parametrize("fps", [10, 30, 300])
def test_same_feel_at_any_frame_rate(fps):
    """After one second of a step input the average is at 1 - exp(-1/tau), whatever the fps."""
    smoother = Smoother(LABELS, tau_s=0.5)
    smoother.update(scores(0.0, 0.0, 1.0), 0.0)
    for i in range(1, fps + 1):
        smoother.update(scores(1.0, 0.0, 0.0), i / fps)
    expected = 1 - math.exp(-1.0 / 0.5)
    assert smoother.scores.anime == pytest.approx(expected, abs=1e-4)


def test_ema_step_is_in_place():
    avg = [0.0, 0.0, 1.0]
    out = ema_step(avg, [1.0, 0.0, 0.0], 0.25)
    assert out is avg
    np.testing.assert_allclose(avg, [0.25, 0.0, 0.75])


def test_summarize_takes_the_first_maximum_like_argmax():
    tied = [0.4, 0.4, 0.2]
    assert summarize(tied, LABELS, label_index(LABELS)).top_label == LABELS[int(np.argmax(tied))]


def test_first_update_takes_scores_as_they_are():
    smoother = Smoother(LABELS, tau_s=10.0)
    s, v = smoother.update(scores(0.9, 0.05, 0.05), 123.0)
    assert s.anime == pytest.approx(0.9)
    assert v.state == ANIME


@pytest.mark.parametrize(
    ("a", "c", "n", "state"),
    [
        (0.8, 0.1, 0.1, ANIME),
        (0.1, 0.8, 0.1, CARTOON),
        (0.45, 0.45, 0.1, BOTH),
        (0.05, 0.05, 0.9, NEITHER),
        (0.4, 0.2, 0.4, UNCERTAIN),
    ],
)
def test_states_from_scratch(a, c, n, state):
    assert decide(smoothed(a, c, n), UNCERTAIN, RULES).state == state


def test_hysteresis_keeps_state_until_it_drops_out():
    # anime at 0.45 is below enter (0.5) but above enter - hysteresis (0.4).
    s = smoothed(0.45, 0.2, 0.35)
    assert decide(s, UNCERTAIN, RULES).state == UNCERTAIN
    assert decide(s, ANIME, RULES).state == ANIME
    assert decide(smoothed(0.38, 0.2, 0.42), ANIME, RULES).state == UNCERTAIN


def test_both_hysteresis():
    """Both and anime hand over with a band of one hysteresis between them, so a reading
    wobbling across both_min does not flicker; but a clear anime (cartoon below both_min)
    ends both, where it used to stay until cartoon fell below both_min - hysteresis:
    measured through a camera at a TV, both held the screen while one class had won."""
    s = smoothed(0.55, 0.32, 0.13)  # cartoon between both_min (0.3) and both_min + h
    assert decide(s, BOTH, RULES).state == BOTH
    assert decide(s, ANIME, RULES).state == ANIME
    s = smoothed(0.55, 0.25, 0.2)  # cartoon below both_min: a clear anime
    assert decide(s, UNCERTAIN, RULES).state == ANIME
    assert decide(s, BOTH, RULES).state == ANIME
    assert decide(smoothed(0.25, 0.70, 0.05), BOTH, RULES).state == CARTOON
    s = smoothed(0.45, 0.25, 0.3)  # anime below enter: no clear winner, both stays
    assert decide(s, BOTH, RULES).state == BOTH


def test_with_the_default_thresholds_no_verdict_names_the_lower_class():
    """both_min <= enter - 2 x hysteresis (the defaults: 0.3 <= 0.5 - 0.2) keeps a held
    anime's floor above the cartoon it allows: anime is never shown under a higher cartoon
    (config_rules warns about thresholds that allow it)."""
    grid = np.round(np.arange(0.0, 1.0001, 0.01), 2)
    for a in grid:
        for c in grid[grid <= 1.0 - a]:
            s = smoothed(float(a), float(c), float(round(1.0 - a - c, 2)))
            for previous in (ANIME, CARTOON, BOTH, NEITHER, UNCERTAIN):
                state = decide(s, previous, RULES).state
                assert not (state == ANIME and c > a), (a, c, previous)
                assert not (state == CARTOON and a > c), (a, c, previous)


def test_a_clear_neither_ends_both_too():
    assert decide(smoothed(0.22, 0.22, 0.56), BOTH, RULES).state == NEITHER
    assert decide(smoothed(0.25, 0.25, 0.45), BOTH, RULES).state == BOTH  # not clear yet


def test_no_flicker_when_cartoon_wobbles_across_both_min():
    smoother = Smoother(LABELS, tau_s=0.0)
    states = []
    for i, c in enumerate([0.35, 0.29, 0.33, 0.28, 0.36, 0.38, 0.31, 0.42, 0.33]):
        _, v = smoother.update(scores(0.55, c, 0.45 - c), i * 0.1)
        states.append(v.state)
    # both until cartoon is under both_min, anime until it reaches both_min + hysteresis
    assert states == [BOTH, ANIME, ANIME, ANIME, ANIME, ANIME, ANIME, BOTH, BOTH]


def test_smoother_does_not_flicker_at_threshold():
    smoother = Smoother(LABELS, tau_s=0.0)  # no averaging: only hysteresis
    states = []
    for i, a in enumerate([0.6, 0.48, 0.52, 0.47, 0.51, 0.3]):
        _, v = smoother.update(scores(a, 0.1, 0.9 - a), i * 0.1)
        states.append(v.state)
    assert states == [ANIME] * 5 + [NEITHER]


def test_label_mapping_by_name_any_order_and_case():
    idx = label_index(["Neither", " CARTOON", "anime"])
    assert idx == LabelIndex(anime=2, cartoon=1, neither=0)
    assert idx.is_animation_model
    s = summarize(scores(0.1, 0.2, 0.7), ["Neither", " CARTOON", "anime"], idx)
    assert (s.anime, s.cartoon, s.neither) == pytest.approx((0.7, 0.2, 0.1))


def test_bare_model_uses_top1_only():
    labels = ("background", "tabby cat", "comic book", "cartoon")
    smoother = Smoother(labels, tau_s=0.0)
    assert not smoother.index.is_animation_model
    _, v = smoother.update(np.array([0.1, 0.1, 0.7, 0.1], np.float32), 0.0)
    assert v == (NEITHER, "comic book", pytest.approx(0.7))
    _, v = smoother.update(np.array([0.1, 0.1, 0.1, 0.7], np.float32), 1.0)
    assert v.state == CARTOON  # a generic name still maps
    _, v = smoother.update(np.array([0.25, 0.25, 0.25, 0.25], np.float32), 2.0)
    assert v.state == UNCERTAIN


def test_reset_and_shape_check():
    smoother = Smoother(LABELS, tau_s=1.0)
    smoother.update(scores(1, 0, 0), 0.0)
    smoother.reset()
    s, _ = smoother.update(scores(0, 1, 0), 5.0)
    assert s.cartoon == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        smoother.update(np.zeros(4, np.float32), 6.0)
    assert not smoother.average.flags.writeable


def test_bad_parameters_name_the_key():
    with pytest.raises(ConfigError) as err:
        VerdictRules(enter=1.5)
    assert err.value.key == "smoothing.enter"
    with pytest.raises(ConfigError, match="smoothing.tau_s"):
        Smoother(LABELS, tau_s=-1.0)


def test_a_bare_model_keeps_its_top1_verdict_within_the_hysteresis():
    """A bare model's label hovering at top1_enter (0.4) would flicker between the label
    and "uncertain" on every frame without the hysteresis a held verdict gets."""
    labels = ("background", "tabby cat", "person", "comic book")

    def top1(top: float) -> np.ndarray:
        rest = (1.0 - top) / 3
        return np.array([rest, rest, rest, top], np.float32)

    smoother = Smoother(labels, tau_s=0.0)  # no averaging: only hysteresis
    verdicts = [smoother.update(top1(top), i * 0.1)[1]
                for i, top in enumerate([0.45, 0.35, 0.38, 0.32, 0.28])]
    # held down to top1_enter - hysteresis (0.3), then uncertain
    assert [v.state for v in verdicts] == [NEITHER] * 4 + [UNCERTAIN]
    assert {v.label for v in verdicts} == {"comic book"}
    _, v = Smoother(labels, tau_s=0.0).update(top1(0.35), 0.0)
    assert v.state == UNCERTAIN  # from scratch the same 35 % is not enough to enter


def test_reset_forgets_the_verdict_too():
    """reset() promises that the next update starts afresh: the verdict from before it,
    held by its hysteresis, would show a 45 % anime (not enough to enter) as anime."""
    smoother = Smoother(LABELS, tau_s=0.0)
    _, v = smoother.update(scores(0.6, 0.1, 0.3), 0.0)
    assert v.state == ANIME
    smoother.reset()
    _, v = smoother.update(scores(0.45, 0.2, 0.35), 1.0)
    assert v.state == UNCERTAIN  # the same scores from scratch; never a held anime


def test_both_confidence_is_the_weaker_of_the_two():
    """A "both" at 45 % anime and 35 % cartoon is only as sure as its weaker half: the
    screen would claim 45 % for a verdict that needs both classes."""
    v = decide(smoothed(0.45, 0.35, 0.2), UNCERTAIN, RULES)
    assert v.state == BOTH
    assert v.confidence == pytest.approx(0.35)
    v = decide(smoothed(0.32, 0.5, 0.18), BOTH, RULES)  # anime above both_min: both holds
    assert v.state == BOTH and v.confidence == pytest.approx(0.32)
