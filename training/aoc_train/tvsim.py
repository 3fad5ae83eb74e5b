"""Camera-at-TV simulation: a picture shown on a television in a room, seen by a phone or Pi
camera held by hand. Pure functions over uint8 RGB arrays, deterministic for a seed.

The appliance's real input is not a clean image but a camera frame of a TV: the picture
fills 40-90 % of the frame; around it are the bezel and the room (wall, lamp, furniture);
the TV is seen at an angle of up to about 25 degrees; the screen's subpixels beat against
the sensor (moiré); there is glare and a window's reflection, a wrong white balance and
exposure, defocus and hand shake, sensor noise, a 320x240 to 640x480 capture and JPEG.
The broadcast itself carries letterbox or pillarbox bars, subtitles and channel logos.

:func:`tv_view` makes one such frame and says where the screen landed (:class:`TvShot`);
training adds these frames to its views and evaluation scores the model on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import augment as aug

Array = np.ndarray

FILL_RANGE = (0.4, 0.9)  # the screen's width as a share of the camera frame's width
MAX_ANGLE_DEG = 25.0
CAPTURE_WIDTHS = (320, 640)  # 4:3 captures from 320x240 to 640x480
_SYLLABLES = ("ka", "to", "ne", "the", "and", "you", "wa", "ri", "mo", "no", "is", "it", "we", "go",
              "what", "so", "ta", "shi", "be", "here", "come", "me", "ok", "yes", "da")


@dataclass(frozen=True)
class TvShot:
    """One simulated camera frame: ``frame`` (H, W, 3) uint8 and the screen's corners in it
    (top-left, top-right, bottom-right, bottom-left, in pixels), plus what was drawn."""

    frame: Array
    screen: tuple[tuple[float, float], ...]
    fill: float
    yaw_deg: float
    pitch_deg: float
    bars: str  # "none", "letterbox" or "pillarbox"
    subtitles: bool
    logo: bool


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(6, int(size)))


def _fit_broadcast(picture: Array, size: tuple[int, int], rng: np.random.Generator
                   ) -> tuple[Array, str]:
    """The picture as broadcast on a screen of ``size``: fitted with black bars, or cropped
    to fill; sometimes a wide film letterboxed inside the broadcast."""
    sw, sh = size
    h, w = picture.shape[:2]
    canvas = np.zeros((sh, sw, 3), np.uint8)
    if rng.random() < 0.55:  # keep the whole picture: bars where the aspects differ
        f = min(sw / w, sh / h)
        fw, fh = max(1, round(w * f)), max(1, round(h * f))
        top, left = (sh - fh) // 2, (sw - fw) // 2
        canvas[top:top + fh, left:left + fw] = aug.resize(picture, (fw, fh))
        bars = "pillarbox" if fw < sw - 2 else "letterbox" if fh < sh - 2 else "none"
    else:
        canvas = aug.center_crop_resize(picture, max(sw, sh))
        top, left = (canvas.shape[0] - sh) // 2, (canvas.shape[1] - sw) // 2
        canvas = canvas[top:top + sh, left:left + sw].copy()
        bars = "none"
    if bars == "none" and rng.random() < 0.15:  # a film in 2.35:1 inside the broadcast
        band = int(sh * rng.uniform(0.08, 0.14))
        canvas[:band] = 0
        canvas[sh - band:] = 0
        bars = "letterbox"
    return canvas, bars


def _subtitles(screen: Image.Image, rng: np.random.Generator) -> None:
    sw, sh = screen.size
    draw = ImageDraw.Draw(screen)
    font = _font(sh * rng.uniform(0.05, 0.08))
    lines = int(rng.integers(1, 3))
    for i in range(lines):
        words = ["".join(_SYLLABLES[int(k)] for k in rng.integers(0, len(_SYLLABLES), m))
                 for m in rng.integers(1, 4, int(rng.integers(3, 8)))]
        text = " ".join(words).capitalize()
        y = sh * (0.9 - 0.08 * (lines - 1 - i)) - font.size  # type: ignore[union-attr]
        colour = (255, 255, 255) if rng.random() < 0.8 else (255, 240, 80)
        width = draw.textlength(text, font=font)
        draw.text(((sw - width) / 2, y), text, font=font, fill=colour,
                  stroke_width=max(1, sh // 120), stroke_fill=(0, 0, 0))


def _logo(screen: Image.Image, rng: np.random.Generator) -> None:
    sw, sh = screen.size
    layer = Image.new("RGBA", screen.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = _font(sh * rng.uniform(0.05, 0.09))
    text = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(2, 5))))
    if rng.random() < 0.5:
        text += str(int(rng.integers(1, 10)))
    x = sw * 0.04 if rng.random() < 0.4 else sw * 0.96 - draw.textlength(text, font=font)
    y = sh * 0.05
    alpha = int(rng.uniform(110, 220))
    draw.text((x, y), text, font=font, fill=(255, 255, 255, alpha))
    screen.alpha_composite(layer) if screen.mode == "RGBA" else screen.paste(layer, (0, 0), layer)


def _screen_surface(broadcast: Array, rng: np.random.Generator) -> Array:
    """How the panel shows it: contrast and saturation settings, subpixel stripes, moiré."""
    out = broadcast
    if rng.random() < 0.6:
        out = aug.saturation(out, rng.uniform(0.8, 1.4))
    x = out.astype(np.float32)
    if rng.random() < 0.6:  # RGB subpixel stripes: every third column dims two channels
        depth = rng.uniform(0.05, 0.2)
        cols = np.arange(x.shape[1]) % 3
        mask = np.ones((x.shape[1], 3), np.float32) * (1 - depth)
        mask[np.arange(x.shape[1]), cols] = 1.0
        x = x * mask[None]
    out = aug.clip_uint8(x)
    if rng.random() < 0.7:
        out = aug.moire(out, rng, amplitude=rng.uniform(0.03, 0.14))
    return out


def _room(size: tuple[int, int], rng: np.random.Generator) -> Array:
    """A dim living room behind the TV: a lit wall, floor, furniture and frames in muted
    colours, a lamp. Drawn at a quarter of the size and scaled up (it is out of focus)."""
    w, h = size
    qw, qh = max(8, w // 4), max(6, h // 4)
    yy, xx = np.mgrid[0:qh, 0:qw].astype(np.float32)

    def muted(lo: float, hi: float) -> Array:
        grey = rng.uniform(lo, hi)
        return (grey * (1 + rng.uniform(-0.18, 0.18, 3))).astype(np.float32)

    light = 0.55 + 0.55 * np.exp(-(((xx - rng.uniform(0, qw)) / (qw * 0.8)) ** 2
                                   + ((yy - rng.uniform(-qh / 2, qh / 2)) / (qh * 0.9)) ** 2))
    room = muted(50, 210)[None, None] * light[..., None]
    floor = int(qh * rng.uniform(0.6, 0.95))
    room[floor:] = muted(25, 130) * (0.7 + 0.3 * light[floor:, :, None])
    for _ in range(int(rng.integers(1, 5))):  # furniture, shelves, frames, plants
        bw, bh = int(qw * rng.uniform(0.05, 0.4)) + 1, int(qh * rng.uniform(0.05, 0.4)) + 1
        x0, y0 = int(rng.integers(0, qw - bw + 1)), int(rng.integers(0, qh - bh + 1))
        room[y0:y0 + bh, x0:x0 + bw] = muted(10, 170) * light[y0:y0 + bh, x0:x0 + bw, None]
    if rng.random() < 0.5:  # a lamp: a bright blob, sometimes blown out
        cx, cy, r = rng.uniform(0, qw), rng.uniform(0, qh * 0.6), qw * rng.uniform(0.04, 0.12)
        blob = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)))
        warm = np.array([1.0, 0.92, 0.75], np.float32)
        room += 255 * rng.uniform(0.6, 1.4) * blob[..., None] * warm
    room += rng.standard_normal((qh, qw, 1), dtype=np.float32) * rng.uniform(1, 8)
    small = Image.fromarray(aug.clip_uint8(room))
    return np.asarray(small.resize(size, Image.Resampling.BILINEAR))


def _tv_quad(size: tuple[int, int], tv: tuple[int, int], rng: np.random.Generator
             ) -> tuple[list[tuple[float, float]], float, float]:
    """Where the TV's corners land in the frame: seen at yaw and pitch up to the maximum
    angle, rolled a little, and moved about, always wholly inside the frame."""
    w, h = size
    tw, th = tv
    yaw = math.radians(rng.uniform(-MAX_ANGLE_DEG, MAX_ANGLE_DEG))
    pitch = math.radians(rng.uniform(-MAX_ANGLE_DEG * 0.6, MAX_ANGLE_DEG * 0.6))
    roll = math.radians(rng.uniform(-6, 6))
    hw, hh = tw / 2 * math.cos(yaw), th / 2 * math.cos(pitch)
    ky, kp = 0.35 * math.sin(yaw), 0.35 * math.sin(pitch)
    # the nearer edge looks taller (wider), the farther one shorter
    pts = [(-hw * (1 - kp), -hh * (1 + ky)), (hw * (1 - kp), -hh * (1 - ky)),
           (hw * (1 + kp), hh * (1 - ky)), (-hw * (1 + kp), hh * (1 + ky))]
    c, s = math.cos(roll), math.sin(roll)
    pts = [(x * c - y * s, x * s + y * c) for x, y in pts]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    shrink = min(1.0, (w - 2) / span_x, (h - 2) / span_y)
    pts = [(x * shrink, y * shrink) for x, y in pts]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cx = rng.uniform(1 - min(xs), w - 1 - max(xs)) if w - 1 - max(xs) > 1 - min(xs) else w / 2
    cy = rng.uniform(1 - min(ys), h - 1 - max(ys)) if h - 1 - max(ys) > 1 - min(ys) else h / 2
    return [(x + cx, y + cy) for x, y in pts], math.degrees(yaw), math.degrees(pitch)


def _warp(image: Image.Image, quad: list[tuple[float, float]], size: tuple[int, int]
          ) -> Image.Image:
    w, h = image.size
    coeffs = aug.perspective_coeffs([(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)], quad)
    return image.transform(size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR)


def _inner(quad: list[tuple[float, float]], tv: tuple[int, int], bezel: int
           ) -> tuple[tuple[float, float], ...]:
    """The screen's corners inside the bezel, by bilinear interpolation of the TV's quad."""
    tw, th = tv
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = quad
    out = []
    for u, v in ((bezel / tw, bezel / th), (1 - bezel / tw, bezel / th),
                 (1 - bezel / tw, 1 - bezel / th), (bezel / tw, 1 - bezel / th)):
        top = (ax + (bx - ax) * u, ay + (by - ay) * u)
        bot = (dx + (cx - dx) * u, dy + (cy - dy) * u)
        out.append((top[0] + (bot[0] - top[0]) * v, top[1] + (bot[1] - top[1]) * v))
    return tuple(out)


def _camera(frame: Array, rng: np.random.Generator, scale: float) -> Array:
    """Exposure, white balance and vignetting in one pass, then blur, noise and JPEG."""
    h, w = frame.shape[:2]
    gain = rng.uniform(0.6, 1.5) * rng.uniform(0.75, 1.25, 3)
    gamma = rng.uniform(0.7, 1.4)
    levels = np.arange(256, dtype=np.float64)[:, None] / 255.0
    lut = np.clip(255.0 * np.clip(levels * gain, 0.0, 1.0) ** gamma + 0.5, 0, 255).astype(np.uint8)
    out = np.empty_like(frame)
    for c in range(3):  # exposure, white balance and tone as one table per channel
        out[..., c] = lut[frame[..., c], c]
    if rng.random() < 0.5:  # vignetting
        yy, xx = np.ogrid[0:h, 0:w]
        r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
        falloff = (1 - rng.uniform(0.1, 0.4) * r2 / 2).astype(np.float32)
        out = aug.clip_uint8(out * falloff[..., None])
    blur = rng.random()
    if blur < 0.45:
        out = aug.defocus_blur(out, rng.uniform(0.4, 2.5) * scale)
    elif blur < 0.75:
        out = aug.motion_blur(out, int(rng.integers(2, 2 + max(1, round(8 * scale)))),
                              rng.uniform(0, math.pi))
    # shot noise grows with brightness; read noise is partly shared by the channels
    sigma = np.float32(rng.uniform(1.5, 9.0))
    noisy = out.astype(np.float32)
    noisy += rng.standard_normal(out.shape, dtype=np.float32) * np.sqrt(noisy + 1.0) * (sigma / 12)
    noisy += rng.standard_normal((h, w, 1), dtype=np.float32) * sigma
    return aug.jpeg(aug.clip_uint8(noisy), int(rng.integers(35, 91)))


def tv_view(picture: Array, rng: np.random.Generator) -> TvShot:
    """One camera frame of ``picture`` shown on a TV in a room (see the module docstring)."""
    cw = int(rng.integers(CAPTURE_WIDTHS[0], CAPTURE_WIDTHS[1] + 1)) // 4 * 4
    size = (cw, cw * 3 // 4)
    aspect = 16 / 9 if rng.random() < 0.75 else 4 / 3
    fill = float(rng.uniform(*FILL_RANGE))
    sw = max(32, int(cw * fill))
    sh = min(max(18, int(sw / aspect)), int(size[1] * 0.95))
    sw = min(sw, int(sh * aspect) + 1)
    broadcast, bars = _fit_broadcast(picture, (sw, sh), rng)
    screen = Image.fromarray(broadcast)
    subtitles, logo = bool(rng.random() < 0.3), bool(rng.random() < 0.3)
    if subtitles:
        _subtitles(screen, rng)
    if logo:
        _logo(screen, rng)
    surface = _screen_surface(np.asarray(screen), rng)
    bezel = max(1, int(sw * rng.uniform(0.01, 0.05)))
    shade = int(rng.uniform(5, 60)) if rng.random() < 0.85 else int(rng.uniform(120, 190))
    tv = np.full((sh + 2 * bezel, sw + 2 * bezel, 3), shade, np.uint8)
    tv[bezel:bezel + sh, bezel:bezel + sw] = surface
    tv_size = (tv.shape[1], tv.shape[0])
    quad, yaw, pitch = _tv_quad(size, tv_size, rng)
    warped = _warp(Image.fromarray(tv), quad, size)
    mask = _warp(Image.new("L", tv_size, 255), quad, size)
    room = Image.fromarray(_room(size, rng))
    room.paste(warped, (0, 0), mask)
    frame = np.asarray(room)
    screen_quad = _inner(quad, tv_size, bezel)
    if rng.random() < 0.55:  # a lamp or window reflected on the glass, only on the screen
        lit = aug.glare(frame, rng, strength=rng.uniform(0.1, 0.5))
        m = np.asarray(mask, np.float32)[..., None] / 255
        frame = aug.clip_uint8(frame * (1 - m) + lit * m)
    frame = _camera(frame, rng, cw / 640)
    return TvShot(np.ascontiguousarray(frame), screen_quad, fill, yaw, pitch, bars, subtitles, logo)


def tv_grid(pictures: list[Array], seed: int, *, cols: int = 4, cell: tuple[int, int] = (240, 180)
            ) -> Image.Image:
    """A contact sheet of simulated TV views (one per picture), for the report."""
    rows = max(1, math.ceil(len(pictures) / cols))
    sheet = Image.new("RGB", (cols * cell[0], rows * cell[1]), (255, 255, 255))
    for i, pic in enumerate(pictures):
        shot = tv_view(pic, np.random.default_rng([seed, i]))
        thumb = Image.fromarray(shot.frame).resize(cell, Image.Resampling.BILINEAR)
        sheet.paste(thumb, ((i % cols) * cell[0], (i // cols) * cell[1]))
    return sheet
