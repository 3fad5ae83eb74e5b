"""What the screen says through a camera at a TV, scene after scene: the smoothing and
verdict rules (``aoc.app.smoothing``) replayed on a scripted viewing session.

A session is a run of scenes of whole TV or film frames (a show of one class for
``--scene-s`` seconds, a new picture of it every ``--hold-s``), each picture rendered once
through the camera-at-TV simulation (``aoc_train.tvsim``) with the scene's own room and TV,
then every camera frame given hand shake (a smooth random walk of shift, rotation and
zoom), a little exposure drift and sensor noise. Every frame goes through the device's
preprocessing and the backbone's CPU twin, and a head fitted **without the scene's source**
(the leave-one-source-out LDA of the build, from its cached embeddings), so each show is
unseen. Then, for each setting, the appliance's own ``Smoother`` runs over the scores at the
session's frame times, and the verdict of every frame is compared with the scene's class:

* correct: share of frames whose verdict is the scene's class (overall and per class);
* switch: seconds from a scene change until the new class is first shown (median, max),
  and how many changes it never showed;
* changes: verdict changes in all; late: those 3 s or more after a scene change (flicker);
* both / uncertain: seconds shown; odd: frames whose verdict names the lower of anime and
  cartoon, or says both while one of them is at 60 % or more.

    PYTHONPATH=device:training python3 training/experiments/tv_session.py \\
        /work/shared/data/aoc-train --work-dir .cache/aoc-train/head \\
        --backbone-dir /work/shared/reference/coral \\
        --setting 1.0,0.1,0.5,0.3 --setting 0.5,0.1,0.5,0.3

A setting is ``tau_s,hysteresis,enter,both_min``. Scores are cached beside the build cache
(``tv-session-*.npz``), so trying settings again takes seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from aoc.app.smoothing import ANIME, BOTH, CARTOON, UNCERTAIN, Smoother, VerdictRules
from aoc.inference.head import input_power
from aoc_train.data import read_rgb
from aoc_train.embed import Embedder
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig, lda_head, source_stats
from aoc_train.tvsim import tv_view

# whole TV or film frames, by class (the weak part of the estimate: unseen shows as frames)
SCENE_SOURCES = {
    "anime": ["tsubasa_jordim", "pokemon_jordim", "ltla_animegifs", "doraemon_jainam",
              "shinchan_jainam"],
    "cartoon": ["spongebob_jordim", "gumball_jordim", "advtime_jordim", "familyguy_jordim",
                "smurfs_jordim", "iagocarmona_simpsons_frames"],
    "neither": ["drinking_scenes", "friends_faces", "cricket_tvframes"],
}
FRAME = (640, 480)
SHAKE = (0.9, (0.8, 0.8, 0.08, 0.0015))  # decay; steps of shift x, y (px), rotation, zoom


@dataclass
class Session:
    """Per frame: scores (anime, cartoon, neither order of ``classes``), true class, scene."""

    classes: tuple[str, ...]
    scores: np.ndarray  # (F, C) float32
    truth: np.ndarray  # (F,) class index
    scene: np.ndarray  # (F,) scene index
    fps: float


def _scene_plan(rng: np.random.Generator, scenes: int) -> list[tuple[str, str]]:
    """Classes in a shuffled cycle (never the same class twice in a row), a show each."""
    plan: list[tuple[str, str]] = []
    names = list(SCENE_SOURCES)
    while len(plan) < scenes:
        for c in rng.permutation(names):
            if plan and plan[-1][0] == c:
                continue
            plan.append((str(c), str(rng.choice(SCENE_SOURCES[str(c)]))))
    return plan[:scenes]


def _shaky_frames(shot: np.ndarray, n: int, rng: np.random.Generator, start: int,
                  shake: np.ndarray) -> list[np.ndarray]:
    """``n`` hand-held camera frames of one TV shot (``shake`` carries on between calls)."""
    w, h = FRAME
    base = cv2.resize(shot, FRAME, interpolation=cv2.INTER_LINEAR)
    frames = []
    for k in range(n):
        shake *= SHAKE[0]
        shake += rng.normal(0, SHAKE[1])
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(shake[2]), 1.0 + float(shake[3]))
        m[:, 2] += shake[:2]
        img = cv2.warpAffine(base, m, FRAME, borderMode=cv2.BORDER_REFLECT)
        gain = 1.0 + 0.03 * math.sin((start + k) / 17.0)
        img = img.astype(np.float32) * gain + rng.normal(0, 2.0, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def record_session(pre, *, scenes: int, scene_s: float, hold_s: float, fps: float,
                   seed: int) -> Session:
    """Render, embed and score a session (see the module docstring)."""
    config = HeadConfig()
    stats = source_stats(input_power(pre.emb, config.power), pre.labels, pre.sources,
                         config.views)
    records = list(pre.dataset.records)
    rng = np.random.default_rng(seed)
    per_scene = max(1, round(scene_s / hold_s))
    frames_per_pic = max(1, round(hold_s * fps))
    scores, truth, scene_of = [], [], []
    used: set[int] = set()
    shake = np.zeros(4)
    with Embedder(pre.backbone, num_threads=2) as embed:
        for k, (cls, source) in enumerate(_scene_plan(rng, scenes)):
            keep = np.array([n != source for n in stats.names])
            head = lda_head(stats, keep, len(pre.classes), shrinkage=config.shrinkage,
                            source_power=config.source_power,
                            temperature=pre.held.temperature, power=config.power)
            pool = [i for i, r in enumerate(records) if r.source == source and i not in used
                    and 1.2 <= r.width / r.height <= 1.9]
            if len(pool) < per_scene:  # a source of square frames (cricket): any
                pool = [i for i, r in enumerate(records) if r.source == source
                        and i not in used]
            if not pool:
                raise SystemExit(f"source {source} has no pictures left for scene {k}: "
                                 "use fewer --scenes or a longer --hold-s")
            picks = rng.choice(pool, min(per_scene, len(pool)), replace=False)
            used.update(int(i) for i in picks)
            for i in picks:
                picture = np.asarray(read_rgb(pre.dataset.root / records[int(i)].file))
                shot = tv_view(picture, np.random.default_rng([seed, k])).frame
                for frame in _shaky_frames(shot, frames_per_pic, rng, len(truth), shake):
                    scores.append(head(pre.backbone.dequantize(embed(frame))[None])[0])
                    truth.append(pre.classes.index(cls))
                    scene_of.append(k)
            logging.getLogger(__name__).info("scene %d: %s %s", k, cls, source)
    return Session(pre.classes, np.asarray(scores, np.float32), np.asarray(truth),
                   np.asarray(scene_of), fps)


def decide_until_2026_12_07(smoothed, previous, rules):
    """The verdict rule until 2026-12-07: a held ``both`` stayed while both scores were at
    least ``both_min - hysteresis``, even when one class had clearly won
    (``--previous-rule``)."""
    from aoc.app.smoothing import NEITHER, Verdict, _verdict

    a, c, n = smoothed.anime, smoothed.cartoon, smoothed.neither

    def holds(state: str, relax: float) -> bool:
        enter, both = rules.enter - relax, rules.both_min - relax
        return {BOTH: a >= both and c >= both,
                ANIME: a >= enter and c < rules.both_min + relax,
                CARTOON: c >= enter and a < rules.both_min + relax,
                NEITHER: n >= enter}.get(state, False)

    if previous in (BOTH, ANIME, CARTOON, NEITHER) and holds(previous, rules.hysteresis):
        return _verdict(previous, smoothed)
    for state in (BOTH, ANIME, CARTOON, NEITHER):
        if holds(state, 0.0):
            return _verdict(state, smoothed)
    return Verdict(UNCERTAIN, smoothed.top_label, smoothed.top_score)


def replay(session: Session, setting: tuple[float, float, float, float]) -> dict:
    """The appliance's Smoother over the session, and the figures of the docstring."""
    tau, hyst, enter, both_min = setting
    smoother = Smoother(session.classes, tau_s=tau,
                        rules=VerdictRules(enter=enter, both_min=both_min, hysteresis=hyst))
    states, odd = [], 0
    for f, p in enumerate(session.scores):
        s, v = smoother.update(p, f / session.fps)
        states.append(v.state)
        odd += ((v.state == ANIME and s.cartoon >= s.anime)
                or (v.state == CARTOON and s.anime >= s.cartoon)
                or (v.state == BOTH and max(s.anime, s.cartoon) >= 0.6))
    names = np.array([session.classes[t] for t in session.truth])
    shown = np.array(states)
    correct = shown == names
    cuts = np.flatnonzero(np.diff(session.scene)) + 1
    switch, never = [], 0
    for k, cut in enumerate(cuts):
        end = cuts[k + 1] if k + 1 < len(cuts) else len(shown)
        hit = np.flatnonzero(shown[cut:end] == names[cut])
        if len(hit):
            switch.append(hit[0] / session.fps)
        else:
            never += 1
    changes = np.flatnonzero(shown[1:] != shown[:-1]) + 1
    since_cut = np.array([f - cuts[cuts <= f].max() if (cuts <= f).any() else f
                          for f in changes]) / session.fps
    dt = 1.0 / session.fps
    return {
        "setting": setting,
        "correct": float(correct.mean()),
        "by_class": {c: float(correct[names == c].mean()) for c in session.classes},
        "class_mean": float(np.mean([correct[names == c].mean() for c in session.classes])),
        "switch_median_s": float(np.median(switch)) if switch else None,
        "switch_max_s": float(np.max(switch)) if switch else None,
        "never": never, "changes": len(changes),
        "late_changes": int((since_cut >= 3.0).sum()),
        "both_s": float((shown == BOTH).sum() * dt),
        "uncertain_s": float((shown == UNCERTAIN).sum() * dt),
        "odd": float(odd / len(shown)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True)
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--setting", action="append", default=[],
                    help="tau_s,hysteresis,enter,both_min (repeat; default: the shipped one)")
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--scene-s", type=float, default=8.0)
    ap.add_argument("--hold-s", type=float, default=2.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--previous-rule", action="store_true",
                    help="also each setting under the verdict rule until 2026-12-07")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pre = prepare(HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"),
                                  work_dir=a.work_dir, backbone_dir=a.backbone_dir))
    # what the scores depend on: the estimate (data, embeddings, head recipe), the script
    tag = hashlib.sha256(repr((pre.summary["clean"]["class_mean"], a.scenes, a.scene_s,
                               a.hold_s, a.fps, a.seed, SCENE_SOURCES, FRAME,
                               SHAKE)).encode()).hexdigest()[:16]
    cache = a.work_dir / f"tv-session-{tag}.npz"
    if cache.is_file():
        with np.load(cache) as z:
            session = Session(pre.classes, z["scores"], z["truth"], z["scene"], a.fps)
    else:
        session = record_session(pre, scenes=a.scenes, scene_s=a.scene_s, hold_s=a.hold_s,
                                 fps=a.fps, seed=a.seed)
        np.savez(cache, scores=session.scores, truth=session.truth, scene=session.scene)
    raw = np.array([session.classes[i] for i in session.scores.argmax(1)])
    truth = np.array([session.classes[t] for t in session.truth])
    right = raw == truth
    class_mean = np.mean([right[truth == c].mean() for c in session.classes])
    print(f"{len(truth)} frames, {a.scenes} scenes of unseen shows; per frame, the head's top "
          f"class is right on {100 * right.mean():.1f} % (class mean {100 * class_mean:.1f} %)")
    settings = [tuple(float(v) for v in s.split(",")) for s in a.setting] or [(0.5, 0.1, 0.5, 0.3)]
    import aoc.app.smoothing as smoothing
    from aoc_train.report import md_table

    rules = [("", smoothing.decide)]
    if a.previous_rule:
        rules.append((" (previous rule)", decide_until_2026_12_07))
    rows = []
    for setting, (note, rule) in ((s, r) for s in settings for r in rules):
        smoothing.decide = rule  # Smoother.update looks it up in its module
        try:
            r = replay(session, setting)
        finally:
            smoothing.decide = rules[0][1]
        by = r["by_class"]
        rows.append([f"{', '.join(f'{v:g}' for v in setting)}{note}",
                     f"{100 * r['correct']:.1f}", f"{100 * r['class_mean']:.1f}",
                     f"{100 * by['anime']:.1f}", f"{100 * by['cartoon']:.1f}",
                     f"{100 * by['neither']:.1f}",
                     f"{r['switch_median_s']:.2f} / {r['switch_max_s']:.2f}", r["never"],
                     f"{r['changes']} ({r['late_changes']})", f"{r['both_s']:.1f}",
                     f"{r['uncertain_s']:.1f}", f"{100 * r['odd']:.1f} %"])
    print(md_table(["tau_s, hysteresis, enter, both_min", "correct", "class mean", "anime",
                    "cartoon", "neither", "switch median / max (s)", "never",
                    "changes (late)", "both s", "uncertain s", "odd"], rows))

if __name__ == "__main__":
    main()
