"""Which part of the camera-at-TV simulation costs the accuracy, and does a cheap input fix
on the device recover some of it?

Stage ``ablation``: on a stratified subset (at most ``--per-source`` images per source,
fixed ``--subset-seed``), every image gets its two camera-at-TV views (``tvsim.tv_view``)
made again with the build's own per-image seeds, once per variant, each variant switching
one family of effects off. The random stream is kept identical across variants (an effect
that is off still draws its random numbers; steps whose draws depend on the geometry run
on the real stream with the original geometry and on a copy for the ablated one), so a
variant differs from the full simulation only in the family switched off; the full
variant reproduces the cached embeddings exactly (checked on the first images). Views are
embedded with the CPU twin through the device's preprocessing, one thread, and scored by
the leave-one-source-out LDA head of the image's own source (fitted with the shipped
``HeadConfig`` on the cached full embeddings of every other source).

Stage ``fix``: the four views (clean, augmented, tv1, tv2; ``embed.make_views``) of the
subset, embedded without and with each ``--fix`` applied to the 224x224x3 uint8 input
tensor after the device preprocessing (as the device would, on every frame); then a
leave-one-source-out run on the subset alone, identically for every arm.

Uncertainty: paired bootstrap over sources (resampled with replacement within each class),
2,000 draws, 90 % interval of the difference to the reference arm.

    PYTHONPATH=device:training .venv/bin/python training/experiments/tv_gap.py \\
        /work/shared/data/aoc-train --work-dir .cache/head \\
        --backbone-dir /work/shared/reference/coral --per-source 40 \\
        --stage all --json .cache/tvgap/result.json
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

from aoc.inference.head import input_power
from aoc_train import augment as aug
from aoc_train import tvsim
from aoc_train.data import read_rgb
from aoc_train.embed import Embedder, image_seed, make_views
from aoc_train.head_build import HeadBuildConfig, prepare
from aoc_train.head_fit import HeadConfig, lda_head, source_stats
from aoc_train.loso import HeldOut, fold_names, run_loso, summarise
from aoc_train.quality import predictions

FAMILIES = ("overlays", "surface", "glare", "photometric", "blur", "noise_jpeg", "geometry")
# "geometry" is both of "fill" (the screen's width fixed at 0.9 of the frame's) and "angle"
# (no yaw, pitch or roll, the TV centred), which can also be switched off alone
VARIANTS: dict[str, frozenset[str]] = {
    "full": frozenset(),
    "no-photometric": frozenset({"photometric"}),  # exposure/WB/gamma LUT, vignetting
    "no-blur": frozenset({"blur"}),  # defocus and motion blur
    "no-noise-jpeg": frozenset({"noise_jpeg"}),  # sensor noise and the capture's JPEG
    "no-surface": frozenset({"surface"}),  # panel saturation, subpixel stripes, moire
    "no-glare": frozenset({"glare"}),  # reflection on the glass
    "no-overlays": frozenset({"overlays"}),  # subtitles and channel logo
    "frontal-fill90": frozenset({"geometry"}),  # fill 0.9, no yaw/pitch/roll, centred
    "fill90": frozenset({"fill"}),  # fill 0.9, angles as drawn
    "frontal": frozenset({"angle"}),  # fill as drawn, no yaw/pitch/roll, centred
    "geometry-only": frozenset(set(FAMILIES) - {"geometry"}),  # clean picture on a TV in a room
    "tv-frame-only": frozenset(FAMILIES),  # clean picture, frontal TV at fill 0.9 in a room
}
# the halves of the geometry ablation only on request (--variant fill90,frontal): each
# variant costs about 0.1 s per image
DEFAULT_VARIANTS = [v for v in VARIANTS if v not in ("fill90", "frontal")]
_TINY = np.zeros((1, 1, 3), np.uint8)  # effects that are off draw their numbers on this


# ---------------------------------------------------------------- the simulation, by family

def _screen_size(cw: int, size: tuple[int, int], aspect: float, fill: float) -> tuple[int, int]:
    sw = max(32, int(cw * fill))
    sh = min(max(18, int(sw / aspect)), int(size[1] * 0.95))
    return min(sw, int(sh * aspect) + 1), sh


def _surface(broadcast: np.ndarray, rng: np.random.Generator, off: bool) -> np.ndarray:
    """tvsim._screen_surface, drawing the same numbers when off."""
    out = broadcast
    if rng.random() < 0.6:
        factor = rng.uniform(0.8, 1.4)
        if not off:
            out = aug.saturation(out, factor)
    x = out.astype(np.float32)
    if rng.random() < 0.6:
        depth = rng.uniform(0.05, 0.2)
        if not off:
            cols = np.arange(x.shape[1]) % 3
            mask = np.ones((x.shape[1], 3), np.float32) * (1 - depth)
            mask[np.arange(x.shape[1]), cols] = 1.0
            x = x * mask[None]
    out = aug.clip_uint8(x)
    if rng.random() < 0.7:
        amplitude = rng.uniform(0.03, 0.14)
        if off:
            aug.moire(_TINY, rng, amplitude=amplitude)
        else:
            out = aug.moire(out, rng, amplitude=amplitude)
    return out


def _camera(frame: np.ndarray, rng: np.random.Generator, scale: float, off: frozenset[str]
            ) -> np.ndarray:
    """tvsim._camera, drawing the same numbers whatever is off."""
    h, w = frame.shape[:2]
    photometric = "photometric" not in off
    gain = rng.uniform(0.6, 1.5) * rng.uniform(0.75, 1.25, 3)
    gamma = rng.uniform(0.7, 1.4)
    if photometric:
        levels = np.arange(256, dtype=np.float64)[:, None] / 255.0
        lut = np.clip(255.0 * np.clip(levels * gain, 0.0, 1.0) ** gamma + 0.5, 0, 255
                      ).astype(np.uint8)
        out = np.empty_like(frame)
        for c in range(3):
            out[..., c] = lut[frame[..., c], c]
    else:
        out = frame.copy()
    if rng.random() < 0.5:
        strength = rng.uniform(0.1, 0.4)
        if photometric:
            yy, xx = np.ogrid[0:h, 0:w]
            r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
            falloff = (1 - strength * r2 / 2).astype(np.float32)
            out = aug.clip_uint8(out * falloff[..., None])
    blur = rng.random()
    if blur < 0.45:
        radius = rng.uniform(0.4, 2.5) * scale
        if "blur" not in off:
            out = aug.defocus_blur(out, radius)
    elif blur < 0.75:
        length = int(rng.integers(2, 2 + max(1, round(8 * scale))))
        angle = rng.uniform(0, math.pi)
        if "blur" not in off:
            out = aug.motion_blur(out, length, angle)
    sigma = np.float32(rng.uniform(1.5, 9.0))
    shot = rng.standard_normal(out.shape, dtype=np.float32)
    read = rng.standard_normal((h, w, 1), dtype=np.float32)
    quality = int(rng.integers(35, 91))
    if "noise_jpeg" in off:
        return out
    noisy = out.astype(np.float32)
    noisy += shot * np.sqrt(noisy + 1.0) * (sigma / 12)
    noisy += read * sigma
    return aug.jpeg(aug.clip_uint8(noisy), quality)


def _frontal_quad(size: tuple[int, int], tv: tuple[int, int]) -> list[tuple[float, float]]:
    w, h = size
    tw, th = tv
    shrink = min(1.0, (w - 2) / tw, (h - 2) / th)
    hw, hh = tw * shrink / 2, th * shrink / 2
    cx, cy = w / 2, h / 2
    return [(cx - hw, cy - hh), (cx + hw, cy - hh), (cx + hw, cy + hh), (cx - hw, cy + hh)]


def tv_frame(picture: np.ndarray, rng: np.random.Generator, off: frozenset[str]) -> np.ndarray:
    """tvsim.tv_view(picture, rng).frame with the families ``off`` switched off; the same
    numbers are drawn from ``rng`` whatever is off."""
    cw = int(rng.integers(tvsim.CAPTURE_WIDTHS[0], tvsim.CAPTURE_WIDTHS[1] + 1)) // 4 * 4
    size = (cw, cw * 3 // 4)
    aspect = 16 / 9 if rng.random() < 0.75 else 4 / 3
    fill = float(rng.uniform(*tvsim.FILL_RANGE))
    geo = "geometry" in off or "fill" in off
    frontal = "geometry" in off or "angle" in off
    sw0, sh0 = _screen_size(cw, size, aspect, fill)
    sw, sh = _screen_size(cw, size, aspect, 0.9) if geo else (sw0, sh0)
    if geo:  # the real stream as with the original size, the picture on a copy
        shadow = copy.deepcopy(rng)
        tvsim._fit_broadcast(picture, (sw0, sh0), rng)
        broadcast, _ = tvsim._fit_broadcast(picture, (sw, sh), shadow)
    else:
        broadcast, _ = tvsim._fit_broadcast(picture, (sw, sh), rng)
    screen = Image.fromarray(broadcast)
    subtitles, logo = bool(rng.random() < 0.3), bool(rng.random() < 0.3)
    target = screen.copy() if "overlays" in off else screen
    if subtitles:
        tvsim._subtitles(target, rng)
    if logo:
        tvsim._logo(target, rng)
    surface = _surface(np.asarray(screen), rng, "surface" in off)
    share = rng.uniform(0.01, 0.05)
    bezel, bezel0 = max(1, int(sw * share)), max(1, int(sw0 * share))
    shade = int(rng.uniform(5, 60)) if rng.random() < 0.85 else int(rng.uniform(120, 190))
    tv = np.full((sh + 2 * bezel, sw + 2 * bezel, 3), shade, np.uint8)
    tv[bezel:bezel + sh, bezel:bezel + sw] = surface
    tv_size = (tv.shape[1], tv.shape[0])
    shadow = copy.deepcopy(rng)
    quad, _, _ = tvsim._tv_quad(size, (sw0 + 2 * bezel0, sh0 + 2 * bezel0), rng)
    if frontal:
        quad = _frontal_quad(size, tv_size)
    elif geo:  # the same angles for the larger TV
        quad, _, _ = tvsim._tv_quad(size, tv_size, shadow)
    warped = tvsim._warp(Image.fromarray(tv), quad, size)
    mask = tvsim._warp(Image.new("L", tv_size, 255), quad, size)
    room = Image.fromarray(tvsim._room(size, rng))
    room.paste(warped, (0, 0), mask)
    frame = np.asarray(room)
    if rng.random() < 0.55:
        strength = rng.uniform(0.1, 0.5)
        if "glare" in off:
            aug.glare(_TINY, rng, strength=strength)
        else:
            lit = aug.glare(frame, rng, strength=strength)
            m = np.asarray(mask, np.float32)[..., None] / 255
            frame = aug.clip_uint8(frame * (1 - m) + lit * m)
    return np.ascontiguousarray(_camera(frame, rng, cw / 640, off))


# ---------------------------------------------------------------- input fixes on the device

def _stretch_luts(lo: np.ndarray, hi: np.ndarray, max_gain: float) -> np.ndarray:
    """(3, 256) tables mapping ``lo`` to 0 and ``hi`` to 255 per channel, gain limited."""
    lo = lo.astype(np.float64)
    hi = np.maximum(hi.astype(np.float64), lo + 255.0 / max_gain)
    levels = np.arange(256, dtype=np.float64)[None]
    return np.clip((levels - lo[:, None]) * (255.0 / (hi - lo)[:, None]) + 0.5, 0, 255
                   ).astype(np.uint8)


def _hist(x: np.ndarray) -> np.ndarray:
    """(3, 256) per-channel histogram of a 1-in-16 subsample (56x56 of 224x224)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(x[::4, ::4])).histogram()
                      ).reshape(3, 256)


def _percentiles(hist: np.ndarray, q_lo: float, q_hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel percentiles from a (3, 256) histogram."""
    c = np.cumsum(hist, 1)
    n = c[:, -1:]
    return (c < q_lo * n).sum(1), (c < q_hi * n).sum(1)


# Each LUT fix: a histogram of a subsample, three 256-entry tables applied by Pillow's
# Image.point (C), back to numpy. No OpenCV (the device may have none).

def fix_levels(x: np.ndarray) -> np.ndarray:
    """Per-channel auto-levels: channel percentiles 1 and 99 stretched to 0 and 255
    (gain at most 3); undoes exposure, white balance and washed-out glare linearly."""
    lo, hi = _percentiles(_hist(x), 0.01, 0.99)
    return np.asarray(Image.fromarray(x).point(_stretch_luts(lo, hi, 3.0).reshape(-1).tolist()))


def fix_levels_luma(x: np.ndarray) -> np.ndarray:
    """One stretch for all channels (the darkest channel's percentile 1 to the brightest's
    99, gain at most 3): exposure only, hues kept."""
    lo, hi = _percentiles(_hist(x), 0.01, 0.99)
    lut = _stretch_luts(np.full(3, lo.min()), np.full(3, hi.max()), 3.0)
    return np.asarray(Image.fromarray(x).point(lut.reshape(-1).tolist()))


def fix_grayworld(x: np.ndarray) -> np.ndarray:
    """Gray-world white balance: per-channel gain making the channel means equal (gains
    limited to 0.67-1.5)."""
    h = _hist(x)
    m = (h * np.arange(256)).sum(1) / h.sum(1) + 1.0
    gains = np.clip(m.mean() / m, 0.67, 1.5)
    lut = np.clip(np.arange(256)[None] * gains[:, None] + 0.5, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(x).point(lut.reshape(-1).tolist()))


def fix_blur(x: np.ndarray) -> np.ndarray:
    """A mild fixed blur: separable [1 2 1] / 4 binomial (rounded per pass), edges kept."""
    y = x.astype(np.uint16)
    h = y.copy()
    h[:, 1:-1] = (y[:, :-2] + 2 * y[:, 1:-1] + y[:, 2:] + 2) >> 2
    v = h.copy()
    v[1:-1] = (h[:-2] + 2 * h[1:-1] + h[2:] + 2) >> 2
    return v.astype(np.uint8)


FIXES = {"levels": fix_levels, "levels-luma": fix_levels_luma, "grayworld": fix_grayworld,
         "blur": fix_blur}


def fix_cost_us(fix, runs: int = 300) -> float:
    """Microseconds of one call on a 224x224x3 uint8 frame on this machine: the fastest
    of ``runs`` calls (the machine is shared; the median is noisier)."""
    x = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fix(x)
        times.append(time.perf_counter() - t)
    return float(np.min(times)) * 1e6


class FixedEmbedder(Embedder):
    """The CPU twin; each frame preprocessed once, then embedded as is and with each fix
    applied to the uint8 input tensor (what the device would feed the backbone)."""

    def embed_all(self, frame: np.ndarray, fixes: list[str]) -> list[np.ndarray]:
        self._pre(frame, self._view())
        base = self._view()[0].copy()
        out = []
        for name in fixes:  # no reference to the input tensor may outlive the write
            self._view()[0] = base if name == "none" else FIXES[name](base)
            self._it.invoke()
            out.append(self._it.get_tensor(self._out).reshape(-1).copy())
        return out


# ---------------------------------------------------------------- subset, caching, scoring

def subset_order(sources: list[str], per_source: int, seed: int) -> np.ndarray:
    """At most ``per_source`` images of each source, ordered by their random rank within
    the source so that any prefix of ``58 k`` images is about ``k`` per source."""
    rng = np.random.default_rng(seed)
    src = np.asarray(sources)
    rank = np.full(len(src), np.inf)
    for s in sorted(set(sources)):
        idx = np.flatnonzero(src == s)
        pick = rng.permutation(idx)[:per_source]
        rank[pick] = np.arange(len(pick))
    chosen = np.flatnonzero(np.isfinite(rank))
    tiebreak = rng.random(len(chosen))
    return chosen[np.lexsort((tiebreak, rank[chosen]))]


def _chunked(folder: Path, n: int, chunk: int, compute, say) -> np.ndarray:
    """Concatenate per-chunk .npy files in ``folder``, computing the missing ones."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    t0 = time.monotonic()
    for k, start in enumerate(range(0, n, chunk)):
        path = folder / f"{k:05d}.npy"
        if not path.is_file():
            arr = compute(start, min(n, start + chunk))
            np.save(folder / f"{k:05d}.partial.npy", arr)
            (folder / f"{k:05d}.partial.npy").replace(path)
            done = min(n, start + chunk)
            say(f"  {folder.name}: {done}/{n} images, {time.monotonic() - t0:.0f} s")
        parts.append(np.load(path))
    return np.concatenate(parts)


def _tag(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12]


def fold_heads(pre, config: HeadConfig, folds: list[str], names: set[str]) -> dict:
    """The leave-one-source-out LDA head of every fold in ``names``, on every image's cached
    embeddings (all views of ``config``)."""
    stats = source_stats(input_power(pre.emb, config.power), pre.labels, folds, config.views)
    return {s: lda_head(stats, np.array([n != s for n in stats.names]), len(pre.classes),
                        shrinkage=config.shrinkage, source_power=config.source_power,
                        power=config.power) for s in names}


def correct_by_source(probs: np.ndarray, labels: np.ndarray, src: np.ndarray,
                      names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(correct, count) per source of (N, T, C) scores (ties count as misses)."""
    k = probs.shape[-1]
    t = probs.shape[1]
    hit = (predictions(probs.reshape(-1, k)) == np.repeat(labels, t)).reshape(-1, t).sum(1)
    return (np.array([hit[src == s].sum() for s in names], float),
            np.array([(src == s).sum() * t for s in names], float))


def metrics(correct: np.ndarray, count: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """(class mean of pooled recall, source mean) from per-source counts; the last axis
    is the source axis (leading axes are bootstrap draws)."""
    cm, sm = [], []
    for c in range(k):
        m = label == c
        cm.append(correct[..., m].sum(-1) / count[..., m].sum(-1))
        sm.append((correct[..., m] / count[..., m]).mean(-1))
    return np.stack([np.mean(cm, 0), np.mean(sm, 0)], -1)


def bootstrap(arms: dict[str, tuple[np.ndarray, np.ndarray]], label: np.ndarray, k: int,
              ref: str, draws: int = 2000, seed: int = 0) -> dict[str, list[float]]:
    """90 % interval of (arm - ref) for class mean and source mean, sources resampled with
    replacement within each class, the same draws for every arm."""
    rng = np.random.default_rng(seed)
    idx = np.zeros((draws, len(label)), int)
    for c in range(k):
        members = np.flatnonzero(label == c)
        idx[:, members] = rng.choice(members, (draws, len(members)))
    ref_m = metrics(arms[ref][0][idx], arms[ref][1][idx], label, k)
    out = {}
    for name, (cor, cnt) in arms.items():
        d = metrics(cor[idx], cnt[idx], label, k) - ref_m
        out[name] = [float(v) for v in np.percentile(d, [5, 95], axis=0).T.reshape(-1)]
    return out  # [class lo, class hi, source lo, source hi]


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _summary_row(name: str, s: dict, part: str, ref: dict | None, ci: list[float] | None
                 ) -> list[str]:
    classes = s["classes"]
    cm = s[part]["class_mean"]
    sm = float(np.mean(list(s[part]["source_mean"].values())))
    row = [name, _pct(cm), _pct(sm), *(_pct(s[part]["recall"][c]) for c in classes)]
    if ref is not None:
        rsm = float(np.mean(list(ref["source_mean"].values())))
        row += [f"{100 * (cm - ref['class_mean']):+.1f}", f"{100 * (sm - rsm):+.1f}"]
        row += ["-" if ci is None else f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}] / "
                f"[{100 * ci[2]:+.1f}, {100 * ci[3]:+.1f}]"]
    return row


def _table(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                      *("| " + " | ".join(r) + " |" for r in rows)])


# ---------------------------------------------------------------- stages

def run_ablation(a, pre, order, folds, say) -> dict:
    records = list(pre.dataset.records)
    names = [v for v in a.variant.split(",") if v != "full"]
    offs = [VARIANTS[v] for v in names]
    folder = Path(a.cache) / f"ablation-{_tag(a.seed, a.subset_seed, a.per_source, names)}"
    backbone = pre.backbone

    def compute(lo: int, hi: int) -> np.ndarray:
        out = np.zeros((hi - lo, len(names), 2, backbone.dim), np.uint8)
        with Embedder(backbone, num_threads=1) as embed:
            for i, j in enumerate(order[lo:hi]):
                r = records[j]
                image = np.asarray(read_rgb(pre.dataset.root / r.file))
                for v, off in enumerate(offs):
                    rng = np.random.default_rng(image_seed(a.seed, r))
                    aug.training_view(image, rng, backbone.width, screen_strength=0.5)
                    for t in range(2):
                        out[i, v, t] = embed(tv_frame(image, rng, off))
        return out

    # the full variant through this file's copy of the simulation must be the cache's
    check = order[:a.check]
    same = 0
    with Embedder(backbone, num_threads=1) as embed:
        for j in check:
            r = records[j]
            image = np.asarray(read_rgb(pre.dataset.root / r.file))
            rng = np.random.default_rng(image_seed(a.seed, r))
            aug.training_view(image, rng, backbone.width, screen_strength=0.5)
            q = [embed(tv_frame(image, rng, frozenset())) for _ in range(2)]
            cached = np.round(pre.emb[j, 2:4] / backbone.output_scale).astype(np.uint8)
            same += int(np.array_equal(np.stack(q), cached))
    say(f"[check] full variant equals the cached TV embeddings for {same}/{len(check)} images")
    q = _chunked(folder, len(order), a.chunk, compute, say)
    n = len(q)
    idx = order[:n]
    labels = pre.labels[idx]
    src = np.asarray(folds)[idx]
    heads = fold_heads(pre, HeadConfig(), folds, set(src))
    k = len(pre.classes)
    emb = {"clean": pre.emb[idx, 0:1], "full": pre.emb[idx, 2:4]}
    for v, name in enumerate(names):
        emb[name] = backbone.dequantize(q[:, v])
    probs = {}
    for name, e in emb.items():
        p = np.zeros((n, e.shape[1], k), np.float32)
        for s in sorted(set(src)):
            m = src == s
            p[m] = heads[s](e[m].reshape(-1, e.shape[-1])).reshape(m.sum(), e.shape[1], k)
        probs[name] = p
    source_names = sorted(set(src))
    slabel = np.array([int(labels[src == s][0]) for s in source_names])
    arms = {name: correct_by_source(p, labels, src, source_names) for name, p in probs.items()}
    ci = bootstrap(arms, slabel, k, ref="full")
    summaries = {}
    for name, p in probs.items():
        # "clean" of every summary is the clean view, "tv" the variant's views
        held = HeldOut(pre.classes, labels, tuple(src), probs["clean"][:, 0], p)
        summaries[name] = summarise(held)
    return {"images": n, "sources": len(source_names), "variants": {
        name: {"summary": summaries[name], "ci_vs_full": ci[name],
               "off": sorted(VARIANTS.get(name, set()))} for name in probs},
        "check_equal": [same, len(check)]}


def run_fix(a, pre, order, folds, say) -> dict:
    records = list(pre.dataset.records)
    fixes = ["none", *a.fix.split(",")]
    folder = Path(a.cache) / f"fix-{_tag(a.seed, a.subset_seed, a.per_source, fixes)}"
    backbone = pre.backbone

    def compute(lo: int, hi: int) -> np.ndarray:
        out = np.zeros((hi - lo, len(fixes), 4, backbone.dim), np.uint8)
        with FixedEmbedder(backbone, num_threads=1) as embed:
            for i, j in enumerate(order[lo:hi]):
                r = records[j]
                image = np.asarray(read_rgb(pre.dataset.root / r.file))
                views = make_views(image, np.random.default_rng(image_seed(a.seed, r)),
                                   backbone.width)
                for v, view in enumerate(views):
                    for f, e in enumerate(embed.embed_all(np.ascontiguousarray(view), fixes)):
                        out[i, f, v] = e
        return out

    q = _chunked(folder, len(order), a.chunk, compute, say)
    n = len(q)
    idx = order[:n]
    cached = np.round(pre.emb[idx] / backbone.output_scale).astype(np.uint8)
    same = float(np.mean(np.all(q[:, 0] == cached, axis=-1)))
    say(f"[check] unfixed views equal the cached embeddings for {100 * same:.1f} % of views")
    labels = pre.labels[idx]
    src = [folds[j] for j in idx]
    k = len(pre.classes)
    source_names = sorted(set(src))
    slabel = np.array([int(labels[np.asarray(src) == s][0]) for s in source_names])
    held, arms = {}, {"clean": {}, "tv": {}}
    for f, name in enumerate(fixes):
        h = run_loso(backbone.dequantize(q[:, f]), labels, src, pre.classes, config=HeadConfig())
        held[name] = summarise(h)
        arms["clean"][name] = correct_by_source(h.clean[:, None], labels, np.asarray(src),
                                                source_names)
        arms["tv"][name] = correct_by_source(h.tv, labels, np.asarray(src), source_names)
    ci = {part: bootstrap(arms[part], slabel, k, ref="none") for part in arms}
    return {"images": n, "sources": len(source_names), "unfixed_equal_cache": same,
            "fixes": {name: {"summary": held[name],
                             "ci_vs_none": {p: ci[p][name] for p in ci},
                             "cost_us": 0.0 if name == "none" else fix_cost_us(FIXES[name])}
                      for name in fixes}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True,
                    help="the head build's cache (embeddings of every view); nothing new is "
                         "written there if it is complete")
    ap.add_argument("--backbone-dir", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path(".cache/tvgap"),
                    help="where this experiment keeps its embeddings (by chunk)")
    ap.add_argument("--stage", choices=("ablation", "fix", "all"), default="all")
    ap.add_argument("--per-source", type=int, default=40)
    ap.add_argument("--max-images", type=int, default=0,
                    help="use only the first N of the subset's order (about N/58 per source)")
    ap.add_argument("--subset-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1234, help="the build's seed (per-image views)")
    ap.add_argument("--variant", default=",".join(DEFAULT_VARIANTS),
                    help="comma-separated: " + ", ".join(VARIANTS))
    ap.add_argument("--fix", default="levels,grayworld", help="comma-separated: "
                    + ", ".join(FIXES))
    ap.add_argument("--chunk", type=int, default=116)
    ap.add_argument("--check", type=int, default=8,
                    help="images on which the full variant is compared with the cache")
    ap.add_argument("--json", type=Path, help="write the results here")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.0f} s] {msg}", flush=True)

    pre = prepare(HeadBuildConfig(data_dir=a.data_dir, out=Path("unused"), work_dir=a.work_dir,
                                  backbone_dir=a.backbone_dir, head=HeadConfig()))
    folds = fold_names(pre.labels, pre.sources, seed=a.seed)
    order = subset_order(folds, a.per_source, a.subset_seed)
    if a.max_images:
        order = order[:a.max_images]
    say(f"[data] {len(pre.labels)} images; subset {len(order)} images of "
        f"{len(set(folds[j] for j in order))} sources (at most {a.per_source} each, "
        f"subset seed {a.subset_seed}, view seed {a.seed})")
    result: dict = {"args": {k: str(v) for k, v in vars(a).items()}}
    classes = list(pre.classes)
    if a.stage in ("ablation", "all"):
        r = run_ablation(a, pre, order, folds, say)
        result["ablation"] = r
        head = ["variant", "class mean", "source mean", *(f"{c}" for c in classes),
                "d class", "d source", "90% CI d class / d source (bootstrap over sources)"]
        full = r["variants"]["full"]["summary"]["tv"]
        rows = []
        for name, v in r["variants"].items():
            part = "clean" if name == "clean" else "tv"
            rows.append(_summary_row(name, v["summary"], part, full,
                                     None if name == "clean" else v["ci_vs_full"]))
        print(f"\n### Ablation: {r['images']} images, {r['sources']} sources, 2 TV views each; "
              "LOSO heads on all other sources' cached embeddings (d = vs full)\n")
        print(_table(head, rows), flush=True)
    if a.stage in ("fix", "all"):
        r = run_fix(a, pre, order, folds, say)
        result["fix"] = r
        head = ["fix", "cost us", "clean class mean", "clean source mean", "TV class mean",
                "TV source mean", *(f"clean {c}" for c in classes), *(f"TV {c}" for c in classes),
                "90% CI d clean class / source", "90% CI d TV class / source"]
        rows = []
        for name, v in r["fixes"].items():
            s = v["summary"]
            row = [name, f"{v['cost_us']:.0f}"]
            for part in ("clean", "tv"):
                row += [_pct(s[part]["class_mean"]),
                        _pct(float(np.mean(list(s[part]["source_mean"].values()))))]
            row += [_pct(s["clean"]["recall"][c]) for c in classes]
            row += [_pct(s["tv"]["recall"][c]) for c in classes]
            for part in ("clean", "tv"):
                ci = v["ci_vs_none"][part]
                row.append("-" if name == "none" else f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
                           f" / [{100 * ci[2]:+.1f}, {100 * ci[3]:+.1f}]")
            rows.append(row)
        print(f"\n### Input fix A/B: {r['images']} images, {r['sources']} sources, views clean + "
              "augmented + 2 TV, fix on every view; LOSO on the subset only\n")
        print(_table(head, rows), flush=True)
    say("done")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
