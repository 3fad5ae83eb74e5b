"""Augmentation for a camera pointed at a screen: pure functions over uint8 RGB arrays.

Each effect is ``f(image, rng, ...) -> image`` with ``image`` a ``(H, W, 3)`` uint8 array and
``rng`` a :class:`numpy.random.Generator`; the same seed gives the same output. They are
combined by :func:`training_view` (crop, random downscale, flip, screen effects) and
:func:`screen_capture` (screen effects only, for the robustness score).

Random downscaling matters beyond the screen: half the anime images are tiny face crops, so
without it "blurry upscaled picture" would stand in for "anime".
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageFilter

Array = np.ndarray


def _to_pil(image: Array) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), "RGB")


def clip_uint8(image: Array) -> Array:
    """Round and clip to uint8."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def resize(image: Array, size: tuple[int, int], *,
           resample: int = Image.Resampling.BILINEAR) -> Array:
    """Resize to ``size`` = (width, height)."""
    return np.asarray(_to_pil(image).resize(size, resample))


def center_crop_resize(image: Array, side: int) -> Array:
    """Largest centred square, resized to ``side`` x ``side`` (the device's 'center_crop')."""
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return resize(image[top:top + s, left:left + s], (side, side))


def random_tile(image: Array, rng: np.random.Generator, size: tuple[int, int], *,
                scale: tuple[float, float] = (0.3, 1.0),
                ratio: tuple[float, float] = (0.8, 1.25)) -> Array:
    """A random crop covering ``scale`` of the area, with the aspect of ``size`` =
    (width, height) times a factor within ``ratio``, resized to ``size``; the largest
    centred crop of that aspect when no such crop fits."""
    w_out, h_out = size
    h, w = image.shape[:2]
    target = w_out / h_out
    for _ in range(10):
        area = h * w * rng.uniform(*scale)
        aspect = target * math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            return resize(image[top:top + ch, left:left + cw], size)
    cw, ch = min(w, round(h * target)), min(h, round(w / target))
    top, left = (h - ch) // 2, (w - cw) // 2
    return resize(image[top:top + ch, left:left + cw], size)


def random_resized_crop(image: Array, rng: np.random.Generator, side: int, *,
                        scale: tuple[float, float] = (0.3, 1.0),
                        ratio: tuple[float, float] = (0.75, 1.333)) -> Array:
    """A random crop covering ``scale`` of the area with aspect ``ratio``, resized to a square
    (else the largest centred square)."""
    return random_tile(image, rng, (side, side), scale=scale, ratio=ratio)


def random_downscale(image: Array, rng: np.random.Generator, *,
                     min_side: int = 28, max_side: int = 160) -> Array:
    """Shrink to a random size between ``min_side`` and ``max_side`` and scale back up,
    so that every class is sometimes seen as a small, soft picture."""
    h, w = image.shape[:2]
    target = int(rng.integers(min_side, max_side + 1))
    if target >= min(h, w):
        return image
    f = target / min(h, w)
    small = resize(image, (max(1, round(w * f)), max(1, round(h * f))),
                   resample=Image.Resampling.BOX)
    up = [Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS]
    return resize(small, (w, h), resample=up[int(rng.integers(len(up)))])


def perspective_coeffs(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list:
    """Coefficients for PIL's PERSPECTIVE transform mapping output ``dst`` to input ``src``."""
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(rows, dtype=np.float64)
    b = np.array([c for p in src for c in p], dtype=np.float64)
    return np.linalg.solve(a, b).tolist()


def perspective(image: Array, rng: np.random.Generator, *, strength: float = 0.12,
                fill: tuple[int, int, int] = (12, 12, 12)) -> Array:
    """The screen seen at an angle: move each corner by up to ``strength`` of the size.
    Uncovered areas get a dark bezel colour."""
    h, w = image.shape[:2]
    corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]
    dst = [(x + rng.uniform(-strength, strength) * w, y + rng.uniform(-strength, strength) * h)
           for x, y in corners]
    coeffs = perspective_coeffs(corners, dst)
    out = _to_pil(image).transform((w, h), Image.Transform.PERSPECTIVE, coeffs,
                                   Image.Resampling.BILINEAR, fillcolor=fill)
    return np.asarray(out)


def defocus_blur(image: Array, radius: float) -> Array:
    """Out-of-focus camera (Gaussian approximation of the disc), ``radius`` in pixels."""
    if radius <= 0:
        return image
    return np.asarray(_to_pil(image).filter(ImageFilter.GaussianBlur(radius)))


def motion_blur(image: Array, length: int, angle: float) -> Array:
    """Hand shake: average of ``length`` copies shifted along direction ``angle`` (radians)."""
    if length <= 1:
        return image
    acc = np.zeros(image.shape, dtype=np.float32)
    padded = np.pad(image.astype(np.float32), ((length, length), (length, length), (0, 0)),
                    mode="edge")
    h, w = image.shape[:2]
    for k in range(length):
        t = k - (length - 1) / 2
        dx, dy = int(round(t * math.cos(angle))), int(round(t * math.sin(angle)))
        acc += padded[length + dy:length + dy + h, length + dx:length + dx + w]
    return clip_uint8(acc / length)


def moire(image: Array, rng: np.random.Generator, *, amplitude: float = 0.12) -> Array:
    """Interference between the screen's pixel grid and the sensor: a tilted sinusoidal
    pattern with slightly different phase per colour channel (sub-pixels)."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(3.0, 14.0)
    theta = rng.uniform(0, math.pi)
    wave = (xx * math.cos(theta) + yy * math.sin(theta)) * (2 * math.pi / period)
    phases = rng.uniform(0, 2 * math.pi) + np.array([0.0, 2.1, 4.2], dtype=np.float32)
    pattern = 1.0 + amplitude * np.sin(wave[..., None] + phases)
    return clip_uint8(image.astype(np.float32) * pattern)


def scanlines(image: Array, rng: np.random.Generator, *, depth: float = 0.25) -> Array:
    """Dark horizontal lines every few rows (rolling shutter / CRT-like refresh bands)."""
    h = image.shape[0]
    period = int(rng.integers(2, 6))
    offset = int(rng.integers(period))
    rows = np.ones(h, dtype=np.float32)
    rows[offset::period] = 1.0 - depth
    return clip_uint8(image.astype(np.float32) * rows[:, None, None])


def glare(image: Array, rng: np.random.Generator, *, strength: float = 0.6) -> Array:
    """A soft bright reflection (lamp or window) somewhere on the screen."""
    h, w = image.shape[:2]
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    sy, sx = rng.uniform(0.1, 0.45) * h, rng.uniform(0.1, 0.45) * w
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    blob = np.exp(-(((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2) / 2)
    tint = rng.uniform(0.85, 1.0, size=3).astype(np.float32)
    out = image.astype(np.float32) + 255.0 * strength * blob[..., None] * tint
    return clip_uint8(out)


def white_balance(image: Array, gains: tuple[float, float, float]) -> Array:
    """Per-channel gains (colour cast of the camera's white balance)."""
    return clip_uint8(image.astype(np.float32) * np.asarray(gains, dtype=np.float32))


def exposure(image: Array, gain: float, gamma: float) -> Array:
    """Brightness ``gain`` and tone ``gamma`` (auto-exposure and screen brightness)."""
    x = np.clip(image.astype(np.float32) / 255.0 * gain, 0.0, 1.0)
    return clip_uint8(255.0 * x**gamma)


def sensor_noise(image: Array, rng: np.random.Generator, *, sigma: float = 6.0) -> Array:
    """Shot noise (grows with brightness) plus read noise, partly colour noise."""
    x = image.astype(np.float32)
    shot = rng.normal(0.0, 1.0, x.shape).astype(np.float32) * np.sqrt(np.maximum(x, 1.0)) * 0.5
    read = rng.normal(0.0, sigma, x.shape[:2] + (1,)).astype(np.float32)
    return clip_uint8(x + shot * sigma / 6.0 + read)


def jpeg(image: Array, quality: int) -> Array:
    """Round-trip through JPEG at ``quality`` (block and ringing artefacts)."""
    buf = io.BytesIO()
    _to_pil(image).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as img:
        return np.asarray(img.convert("RGB"))


def hue_rotate(image: Array, shift: float) -> Array:
    """Rotate every pixel's hue by ``shift`` turns (0..1); lightness structure is kept."""
    hsv = np.asarray(_to_pil(image).convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(round(shift * 256))) % 256
    return np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"))


def saturation(image: Array, factor: float) -> Array:
    """Scale colourfulness around each pixel's grey value (0 = greyscale)."""
    x = image.astype(np.float32)
    grey = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return clip_uint8(grey[..., None] + factor * (x - grey[..., None]))


def colour_shift(image: Array, rng: np.random.Generator) -> Array:
    """Palette changes (hue rotation, saturation, sometimes greyscale), so that a source's
    palette (The Simpsons' yellow skin, one show's sky) cannot stand in for its style."""
    out = image
    if rng.random() < 0.35:
        out = hue_rotate(out, rng.uniform(0.0, 1.0))
    if rng.random() < 0.1:
        return saturation(out, 0.0)
    if rng.random() < 0.4:
        out = saturation(out, rng.uniform(0.5, 1.4))
    return out


def screen_capture(image: Array, rng: np.random.Generator, *, strength: float = 1.0) -> Array:
    """The full "photo of a screen" chain, each effect applied with some probability.

    ``strength`` scales probabilities and magnitudes (0 = identity).
    """
    if strength <= 0:
        return image
    s = strength

    def chance(p: float) -> bool:
        return bool(rng.random() < p * s)

    out = image
    if chance(0.5):
        out = perspective(out, rng, strength=0.1 * s)
    if chance(0.35):
        out = moire(out, rng, amplitude=rng.uniform(0.03, 0.15) * s)
    if chance(0.2):
        out = scanlines(out, rng, depth=rng.uniform(0.05, 0.25) * s)
    if chance(0.3):
        out = glare(out, rng, strength=rng.uniform(0.15, 0.6) * s)
    if chance(0.6):
        out = white_balance(out, tuple(rng.uniform(1 - 0.2 * s, 1 + 0.2 * s, size=3)))
    if chance(0.6):
        out = exposure(out, rng.uniform(1 - 0.35 * s, 1 + 0.35 * s),
                       rng.uniform(1 - 0.3 * s, 1 + 0.3 * s))
    if chance(0.35):
        out = defocus_blur(out, rng.uniform(0.3, 2.0) * s)
    elif chance(0.25):
        out = motion_blur(out, int(rng.integers(2, 2 + int(7 * s))), rng.uniform(0, math.pi))
    if chance(0.5):
        out = sensor_noise(out, rng, sigma=rng.uniform(1.0, 8.0) * s)
    if chance(0.5):
        out = jpeg(out, int(rng.integers(int(95 - 70 * s), 96)))
    return out


def training_view(image: Array, rng: np.random.Generator, side: int, *,
                  screen_strength: float = 1.0, downscale_p: float = 0.5,
                  colour: bool = True) -> Array:
    """One augmented training view: random crop, random downscale, flip, palette change,
    screen effects."""
    out = random_resized_crop(image, rng, side)
    if rng.random() < downscale_p:
        out = random_downscale(out, rng, min_side=max(16, side // 8),
                               max_side=max(32, side * 3 // 4))
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if colour:
        out = colour_shift(out, rng)
    return np.ascontiguousarray(screen_capture(out, rng, strength=screen_strength))
