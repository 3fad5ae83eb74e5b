"""Draw the built-in demo scenes (320x240 PNG) procedurally, with Pillow and numpy.

The demo source (``aoc.sources.demo_source``) cycles through these so a machine with no
camera still runs the whole pipeline. Everything here is drawn by this script (no third
party artwork or fonts) except one public-domain photograph in ``assets/photos`` (see
``demo/CREDITS.md``), so the PNGs are the project's own work under its
licence (Apache-2.0; see ``demo/CREDITS.md``). Output is deterministic (fixed seeds).

Run from the repository root::

    python3 device/aoc/assets/make_demo.py            # writes device/aoc/assets/demo/*.png
    python3 device/aoc/assets/make_demo.py --out DIR
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

log = logging.getLogger(__name__)

SIZE = (320, 240)
SCALE = 2  # draw at 2x and downsample: cheap anti-aliasing
W, H = SIZE[0] * SCALE, SIZE[1] * SCALE
OUT_DIR = Path(__file__).resolve().parent / "demo"
PHOTO_DIR = Path(__file__).resolve().parent / "photos"

RGB = tuple[int, int, int]


def s(*values: float) -> list[float]:
    """Scale 320x240 design coordinates to the 2x drawing canvas."""
    return [v * SCALE for v in values]


def vertical_gradient(size: tuple[int, int], top: RGB, bottom: RGB) -> Image.Image:
    """An RGB picture of ``size`` fading from ``top`` to ``bottom``."""
    width, height = size
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    rows = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    return Image.fromarray(np.repeat(rows, width, axis=1).astype(np.uint8), "RGB")


def value_noise(size: tuple[int, int], cells: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise in [0, 1]: a coarse random grid upsampled bicubically."""
    width, height = size
    grid = rng.random((max(2, cells * height // width), cells)).astype(np.float32)
    image = Image.fromarray((grid * 255).astype(np.uint8), "L").resize(
        (width, height), Image.Resampling.BICUBIC
    )
    return np.asarray(image, np.float32) / 255.0


def fractal_noise(size: tuple[int, int], rng: np.random.Generator, octaves: int = 5) -> np.ndarray:
    """Value noise summed over ``octaves``, each twice as fine at half the weight, in [0, 1]."""
    total = np.zeros((size[1], size[0]), np.float32)
    amp, norm = 1.0, 0.0
    for octave in range(octaves):
        total += amp * value_noise(size, 4 * 2**octave, rng)
        norm += amp
        amp *= 0.5
    return total / norm


def finish(image: Image.Image) -> Image.Image:
    """A drawn scene, drawn at a larger scale, down to the demo's size (smooth edges)."""
    return image.resize(SIZE, Image.Resampling.LANCZOS)


def photo_finish(image: Image.Image, rng: np.random.Generator, noise: float = 6.0) -> Image.Image:
    """Camera look: slight blur, vignette and sensor noise (what a photo has, cels lack)."""
    image = finish(image).filter(ImageFilter.GaussianBlur(0.6))
    a = np.asarray(image, np.float32)
    yy, xx = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    r = np.hypot((xx - SIZE[0] / 2) / SIZE[0], (yy - SIZE[1] / 2) / SIZE[1])
    a *= (1.0 - 0.55 * r**2)[..., None]
    a += rng.normal(0.0, noise, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


# -- anime-style character -------------------------------------------------------------

def draw_anime(rng: np.random.Generator) -> Image.Image:
    """Anime style: big glossy eyes with highlights, spiky hair, cel shading, soft pastel bg."""
    img = vertical_gradient((W, H), (255, 214, 231), (196, 222, 255))
    d = ImageDraw.Draw(img)
    # Sparkles in the background.
    for _ in range(14):
        x, y, r = rng.uniform(10, 310), rng.uniform(10, 230), rng.uniform(2, 5)
        d.polygon([*s(x, y - r * 2), *s(x + r / 2, y), *s(x, y + r * 2), *s(x - r / 2, y)],
                  fill=(255, 255, 255))
        d.polygon([*s(x - r * 2, y), *s(x, y - r / 2), *s(x + r * 2, y), *s(x, y + r / 2)],
                  fill=(255, 255, 255))
    line = (70, 40, 50)
    hair, hair_shade, hair_light = (120, 70, 200), (80, 45, 150), (175, 140, 240)
    skin, skin_shade = (255, 226, 208), (240, 186, 170)
    # Body / sailor collar.
    d.polygon(s(95, 240, 120, 190, 200, 190, 225, 240), fill=(250, 250, 255), outline=line,
              width=2 * SCALE)
    d.polygon(s(135, 190, 160, 225, 185, 190), fill=(40, 60, 140))
    d.polygon(s(152, 205, 160, 230, 168, 205), fill=(220, 30, 60))
    # Back hair mass.
    d.ellipse(s(88, 28, 232, 178), fill=hair, outline=line, width=2 * SCALE)
    d.polygon(s(92, 110, 80, 200, 115, 160), fill=hair, outline=line, width=2 * SCALE)
    d.polygon(s(228, 110, 240, 200, 205, 160), fill=hair, outline=line, width=2 * SCALE)
    # Neck and face (pointed anime chin).
    d.rectangle(s(148, 165, 172, 195), fill=skin_shade)
    d.polygon(s(108, 90, 212, 90, 206, 140, 176, 174, 160, 180, 144, 174, 114, 140), fill=skin,
              outline=line, width=2 * SCALE)
    # Cel shading: a hard-edged shadow band under the fringe.
    d.polygon(s(110, 92, 210, 92, 208, 108, 160, 100, 112, 110), fill=skin_shade)
    # Eyes: tall ellipses, iris gradient, pupil, two white highlights, thick upper lash.
    for cx in (136, 184):
        d.ellipse(s(cx - 15, 104, cx + 15, 146), fill=(255, 255, 255), outline=line,
                  width=SCALE)
        d.ellipse(s(cx - 12, 108, cx + 12, 146), fill=(60, 120, 210))
        d.ellipse(s(cx - 12, 126, cx + 12, 146), fill=(110, 190, 250))
        d.ellipse(s(cx - 6, 118, cx + 6, 136), fill=(20, 20, 50))
        d.ellipse(s(cx - 10, 111, cx - 1, 122), fill=(255, 255, 255))
        d.ellipse(s(cx + 4, 133, cx + 9, 139), fill=(255, 255, 255))
        d.line(s(cx - 18, 106, cx - 6, 100, cx + 8, 100, cx + 18, 108), fill=line,
               width=4 * SCALE, joint="curve")
        d.line(s(cx - 10, 92, cx + 10, 90), fill=hair_shade, width=2 * SCALE)  # brow
    # Tiny nose, small open mouth, blush hatching.
    d.line(s(160, 142, 158, 148), fill=skin_shade, width=SCALE)
    d.chord(s(152, 154, 168, 166), 0, 180, fill=(200, 70, 90), outline=line, width=SCALE)
    for cx in (124, 196):
        for k in range(3):
            d.line(s(cx - 6 + 5 * k, 152, cx - 9 + 5 * k, 158), fill=(240, 120, 140),
                   width=SCALE)
    # Spiky fringe: sharp triangles with a lighter streak (the glossy "angel ring").
    spikes = [(100, 40, 112, 112), (118, 36, 132, 104), (138, 34, 150, 110),
              (158, 32, 170, 100), (178, 34, 188, 110), (196, 38, 206, 104),
              (212, 44, 218, 114)]
    for x0, y0, tip_x, tip_y in spikes:
        d.polygon(s(x0 - 12, y0 + 10, x0 + 18, y0 + 6, tip_x, tip_y), fill=hair, outline=line,
                  width=SCALE)
    d.polygon(s(96, 30, 160, 6, 224, 30, 214, 60, 160, 44, 106, 60), fill=hair)
    d.polygon(s(150, 4, 162, -18, 166, 8), fill=hair, outline=line, width=SCALE)  # ahoge
    d.arc(s(112, 30, 208, 90), 200, 340, fill=hair_light, width=5 * SCALE)
    d.polygon(s(118, 62, 128, 58, 124, 96), fill=hair_shade)
    d.polygon(s(196, 60, 204, 62, 200, 98), fill=hair_shade)
    return finish(img)


# -- western-cartoon character ---------------------------------------------------------

def draw_cartoon(rng: np.random.Generator) -> Image.Image:
    """Western cartoon: thick black outlines, flat primaries, dot eyes, rubber-hose limbs."""
    img = Image.new("RGB", (W, H), (70, 170, 255))
    d = ImageDraw.Draw(img)
    black, ow = (0, 0, 0), 5 * SCALE
    d.rectangle(s(0, 185, 320, 240), fill=(60, 200, 60), outline=black, width=ow)
    d.ellipse(s(250, 15, 300, 65), fill=(255, 220, 0), outline=black, width=ow)  # sun
    for cx, cy in ((60, 50), (95, 40)):
        d.ellipse(s(cx - 30, cy - 18, cx + 30, cy + 18), fill=(255, 255, 255), outline=black,
                  width=ow)
    # Rubber-hose arms and legs.
    d.line(s(130, 150, 95, 120, 80, 95), fill=black, width=6 * SCALE, joint="curve")
    d.line(s(190, 150, 230, 130, 245, 100), fill=black, width=6 * SCALE, joint="curve")
    d.line(s(145, 195, 140, 222), fill=black, width=6 * SCALE)
    d.line(s(175, 195, 180, 222), fill=black, width=6 * SCALE)
    for x in (128, 180):
        d.ellipse(s(x - 4, 214, x + 20, 232), fill=(230, 30, 30), outline=black, width=ow)
    for x, y in ((80, 95), (245, 100)):
        d.ellipse(s(x - 12, y - 12, x + 12, y + 12), fill=(255, 255, 255), outline=black,
                  width=ow)
    # Body: red shorts, yellow shirt.
    d.rounded_rectangle(s(125, 140, 195, 200), 18 * SCALE, fill=(255, 220, 0), outline=black,
                        width=ow)
    d.rectangle(s(128, 175, 192, 198), fill=(230, 30, 30), outline=black, width=ow)
    # Head: a big round orange cat head with pointed ears.
    orange, pink = (255, 140, 30), (255, 170, 200)
    for sign in (-1, 1):
        cx = 160 + sign * 38
        d.polygon(s(cx - 24, 62, cx + sign * 8, 12, cx + 24, 62), fill=orange, outline=black,
                  width=ow)
        d.polygon(s(cx - 11, 52, cx + sign * 6, 28, cx + 11, 52), fill=pink)
    d.ellipse(s(110, 30, 210, 140), fill=orange, outline=black, width=ow)
    for sign in (-1, 1):  # whiskers
        for dy in (-6, 4):
            d.line(s(160 + sign * 22, 104, 160 + sign * 58, 104 + dy), fill=black,
                   width=2 * SCALE)
    # Simple eyes: white ovals with black dots; a big smile; a round red nose.
    for cx in (142, 178):
        d.ellipse(s(cx - 11, 58, cx + 11, 90), fill=(255, 255, 255), outline=black, width=ow)
        d.ellipse(s(cx - 4, 70, cx + 4, 82), fill=black)
    d.ellipse(s(152, 92, 168, 104), fill=(230, 30, 30), outline=black, width=ow)
    d.arc(s(136, 96, 184, 130), 20, 160, fill=black, width=ow)
    return finish(img)


# -- photo-like scenes -----------------------------------------------------------------

def draw_room(rng: np.random.Generator) -> Image.Image:
    """A photo-like room corner: lit plaster wall, wooden floor grain, a potted plant."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    light = np.exp(-(((xx - W * 0.3) / (W * 0.6)) ** 2 + ((yy - H * 0.2) / (H * 0.8)) ** 2))
    wall = np.array((205, 190, 170), np.float32) * (0.55 + 0.5 * light)[..., None]
    wall *= (0.92 + 0.16 * fractal_noise((W, H), rng, octaves=6))[..., None]
    floor_y = H * 0.72
    grain = np.sin(yy / 3.0 + 8 * fractal_noise((W, H), rng)) * 0.5 + 0.5
    floor = np.array((140, 95, 60), np.float32) * (0.7 + 0.3 * grain)[..., None]
    a = np.where((yy > floor_y)[..., None], floor, wall)
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    d.polygon(s(230, 150, 280, 150, 272, 190, 238, 190), fill=(150, 75, 50))  # pot
    for _ in range(60):  # leaves as blurred random ellipses
        cx, cy = rng.normal(255, 22), rng.normal(115, 28)
        rx, ry = rng.uniform(4, 12), rng.uniform(2, 6)
        g = int(rng.uniform(70, 150))
        d.ellipse(s(cx - rx, cy - ry, cx + rx, cy + ry), fill=(int(g * 0.4), g, int(g * 0.35)))
    d.rectangle(s(30, 30, 110, 110), fill=(235, 240, 245))  # window glare
    img = img.filter(ImageFilter.GaussianBlur(2.0 * SCALE))
    return photo_finish(img, rng, noise=7.0)


# -- combinations ----------------------------------------------------------------------

def draw_mix(rng: np.random.Generator) -> Image.Image:
    """The anime character and the cartoon cat side by side: an honest 'both'. The split
    sits left of centre because the anime half alone already pulls harder."""
    split = 150
    left = draw_anime(np.random.default_rng(1)).resize(SIZE, Image.Resampling.LANCZOS)
    right = draw_cartoon(np.random.default_rng(2)).resize(SIZE, Image.Resampling.LANCZOS)
    img = Image.new("RGB", SIZE)
    img.paste(left.crop((160 - split // 2, 0, 160 - split // 2 + split, 240)), (0, 0))
    rest = SIZE[0] - split
    img.paste(right.crop((160 - rest // 2, 0, 160 - rest // 2 + rest, 240)), (split, 0))
    ImageDraw.Draw(img).line((split, 0, split, 240), fill=(0, 0, 0), width=3)
    return img


def photo(name: str = "grace_hopper.jpg") -> Image.Image:
    """A real photograph from ``assets/photos`` (public domain, see ``demo/CREDITS.md``),
    cropped to the demo's 4:3."""
    with Image.open(PHOTO_DIR / name) as img:
        picture = img.convert("RGB")
    w, h = picture.size
    ch = min(h, round(w * SIZE[1] / SIZE[0]))
    top = (h - ch) // 3  # keep the face: a little above centre
    return picture.crop((0, top, w, top + ch)).resize(SIZE, Image.Resampling.LANCZOS)


def draw_tv(content: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A TV on a wall showing ``content``: how the appliance really sees a screen."""
    room = draw_room(rng)
    d = ImageDraw.Draw(room)
    d.rectangle((38, 28, 282, 180), fill=(18, 18, 20))  # bezel
    screen = content.resize((228, 138), Image.Resampling.LANCZOS)
    glare = vertical_gradient(screen.size, (40, 40, 45), (0, 0, 0))
    screen = Image.blend(screen, glare, 0.12)
    room.paste(screen, (46, 34))
    d.rectangle((150, 180, 170, 192), fill=(25, 25, 28))  # stand
    return photo_finish(room.resize((W, H)), rng, noise=4.0)


SCENES: dict[str, Callable[[np.random.Generator], Image.Image]] = {
    "01_anime_character.png": draw_anime,
    "02_cartoon_character.png": draw_cartoon,
    "03_mix_anime_cartoon.png": draw_mix,
    "04_portrait_photo.png": lambda rng: photo(),
    "05_tv_live_action.png": lambda rng: draw_tv(photo(), rng),
    "06_tv_anime.png": lambda rng: draw_tv(draw_anime(np.random.default_rng(1)), rng),
    "07_tv_cartoon.png": lambda rng: draw_tv(draw_cartoon(np.random.default_rng(2)), rng),
}


def make_all(out_dir: Path = OUT_DIR) -> list[Path]:
    """Draw every scene into ``out_dir``; returns the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (name, draw) in enumerate(SCENES.items()):
        image = draw(np.random.default_rng(1000 + index))
        if image.size != SIZE:
            image = image.resize(SIZE, Image.Resampling.LANCZOS)
        path = out_dir / name
        image.save(path, optimize=True)
        written.append(path)
        log.info("wrote %s", path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Write the demo's pictures into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    make_all(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
