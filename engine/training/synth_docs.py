"""Synthetic document pages: a clean rendering and the same page degraded the way
real scans are (stains, coffee rings, creases, shadows, yellowing, bleed-through,
faded ink, blur, sensor noise, JPEG artefacts, a slight skew).

Pure numpy + Pillow. `synth_page(rng, size)` returns (dirty, clean) float32
arrays HxW in [0, 1]; the clean page is ink on white, as in the real pairs.
"""
from __future__ import annotations

import functools
import glob
import io
import math
import string

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_GLOBS = ("/usr/share/fonts/**/*.ttf", "/usr/share/fonts/**/*.otf")
_ALPHABET = string.ascii_letters + "      " + "aeiounrst" * 3


@functools.lru_cache(maxsize=1)
def font_files() -> tuple[str, ...]:
    """Every TrueType/OpenType font installed (the training target installs Debian font packages)."""
    files = sorted({f for g in FONT_GLOBS for f in glob.glob(g, recursive=True)})
    usable = []
    for f in files:
        try:
            ImageFont.truetype(f, 12).getbbox("Ag")
            usable.append(f)
        except Exception:  # noqa: BLE001 - symbol or broken fonts are simply skipped
            continue
    return tuple(usable) or ("",)     # "" = Pillow's built-in font, when no font package is installed


@functools.lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)


def _words(rng: np.random.Generator, n: int) -> str:
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 11))
        w = "".join(rng.choice(list(string.ascii_lowercase), k))
        r = rng.random()
        if r < 0.12:
            w = w.capitalize()
        elif r < 0.16:
            w = str(int(rng.integers(0, 10 ** int(rng.integers(1, 5)))))
        if rng.random() < 0.1:
            w += rng.choice(list(".,;:"))
        out.append(w)
    return " ".join(out)


def smooth_field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: random values on a coarse grid, bicubic-resized."""
    small = rng.uniform(-1, 1, (max(2, cells), max(2, cells))).astype(np.float32)
    img = Image.fromarray(small, mode="F").resize((w, h), Image.BICUBIC)
    return np.clip(np.asarray(img, dtype=np.float32), -1.5, 1.5)


def render_clean(rng: np.random.Generator, size: int) -> np.ndarray:
    """A clean page (HxW uint8, 255 = paper): text blocks, columns, rules, tables,
    handwriting-like strokes and stamps, drawn slightly skewed."""
    fonts = font_files()
    pad = size // 4
    big = size + 2 * pad
    page = Image.new("L", (big, big), 255)
    draw = ImageDraw.Draw(page)
    y = int(rng.integers(0, pad))
    ncols = int(rng.choice([1, 1, 2, 3]))
    while y < big:
        kind = rng.random()
        font = _font(fonts[int(rng.integers(len(fonts)))], int(rng.integers(9, 34)))
        ink = int(rng.integers(0, 90))
        line_h = int(font.size * rng.uniform(1.1, 1.7))
        if kind < 0.72:                                   # a paragraph in columns
            nlines = int(rng.integers(2, 9))
            colw = big // ncols
            for _ in range(nlines):
                for c in range(ncols):
                    x0 = c * colw + int(rng.integers(0, 12))
                    text = _words(rng, 14)
                    while text and font.getlength(text) > colw - 16:   # keep inside the column
                        text = text[: int(len(text) * 0.8)]
                    draw.text((x0, y), text, font=font, fill=ink)
                y += line_h
        elif kind < 0.8:                                  # a table
            rows, cols = int(rng.integers(2, 6)), int(rng.integers(2, 6))
            cw = big // cols
            for r in range(rows + 1):
                draw.line([(0, y + r * line_h), (big, y + r * line_h)], fill=ink, width=1)
            for c in range(cols + 1):
                draw.line([(c * cw, y), (c * cw, y + rows * line_h)], fill=ink, width=1)
            for r in range(rows):
                for c in range(cols):
                    draw.text((c * cw + 4, y + r * line_h + 2), _words(rng, 1), font=font, fill=ink)
            y += rows * line_h
        elif kind < 0.9:                                  # handwriting-like strokes
            x = float(rng.integers(0, big // 3))
            width = int(rng.integers(1, 4))
            for _ in range(int(rng.integers(4, 14))):
                pts = []
                amp, freq = rng.uniform(3, 10), rng.uniform(0.15, 0.5)
                span = rng.uniform(20, 70)
                for t in np.linspace(0, 1, 24):
                    pts.append((x + t * span, y + amp * math.sin(t * span * freq) + rng.normal(0, 0.8)))
                draw.line(pts, fill=ink, width=width, joint="curve")
                x += span + rng.uniform(6, 16)
            y += int(line_h * 1.5)
        elif kind < 0.95:                                 # a stamp
            cx, cy, r = int(rng.integers(0, big)), y + 40, int(rng.integers(25, 60))
            tone = int(rng.integers(40, 160))
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=tone, width=int(rng.integers(2, 5)))
            draw.text((cx - r // 2, cy - 6), _words(rng, 1).upper(), font=_font(fonts[0], 14), fill=tone)
            y += 2 * r
        else:                                             # a rule
            draw.line([(0, y), (big, y)], fill=ink, width=int(rng.integers(1, 4)))
            y += line_h
        y += int(rng.integers(0, 30))
    angle = rng.uniform(-2.0, 2.0)
    page = page.rotate(angle, resample=Image.BICUBIC, fillcolor=255)
    return np.asarray(page)[pad:pad + size, pad:pad + size]


def degrade(rng: np.random.Generator, clean: np.ndarray) -> np.ndarray:
    """Damage a clean page (float32 HxW in [0, 1]) the way real scans are damaged."""
    h, w = clean.shape
    ink = 1.0 - clean
    # faded ink: weaker and uneven
    fade = rng.uniform(0.5, 1.0) + 0.15 * smooth_field(rng, h, w, 4)
    ink = ink * np.clip(fade, 0.3, 1.0)
    # bleed-through: mirrored faint text from the other side
    if rng.random() < 0.35:
        back = 1.0 - render_clean(rng, max(h, w))[:h, :w].astype(np.float32) / 255.0
        ink = np.maximum(ink, back[:, ::-1] * rng.uniform(0.05, 0.25))
    # paper: tone, yellowing/grey level, fibre texture
    paper = rng.uniform(0.55, 0.97) + 0.06 * smooth_field(rng, h, w, int(rng.integers(3, 10)))
    texture = smooth_field(rng, h, w, max(h, w) // int(rng.integers(2, 6))) * rng.uniform(0.0, 0.05)
    paper = paper + texture + rng.normal(0, rng.uniform(0, 0.02), (h, w))
    # uneven illumination / shadows
    light = 1.0 + rng.uniform(0.05, 0.3) * smooth_field(rng, h, w, 2)
    if rng.random() < 0.3:                                # a shadow band from a book spine
        xs = np.linspace(-1, 1, w)[None, :]
        edge = rng.uniform(-1, 1)
        light = light * (1 - rng.uniform(0.2, 0.5) * np.clip((xs - edge) * rng.choice([-4, 4]), 0, 1))
    page = paper * light
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # stains, blotches and coffee rings
    for _ in range(int(rng.poisson(1.5))):
        cy, cx = rng.uniform(-0.2, 1.2) * h, rng.uniform(-0.2, 1.2) * w
        ry, rx = rng.uniform(0.05, 0.5) * h, rng.uniform(0.05, 0.5) * w
        d = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
        d = d * (1 + 0.15 * smooth_field(rng, h, w, 6))
        strength = rng.uniform(0.05, 0.35)
        if rng.random() < 0.5:                            # coffee ring: dark rim, light inside
            stain = strength * (np.exp(-((d - 1) / 0.06) ** 2) + 0.3 * (d < 1))
        else:                                             # blotch
            stain = strength * np.clip(1.2 - d, 0, 1)
        page = page * (1 - stain)
    # creases and folds: a dark line with a light halo
    for _ in range(int(rng.poisson(0.8))):
        a = rng.uniform(0, math.pi)
        c = rng.uniform(0.2, 0.8) * (h * abs(math.sin(a)) + w * abs(math.cos(a)))
        dist = xx * math.sin(a) + yy * math.cos(a) - c
        width = rng.uniform(1, 4)
        page = page * (1 - rng.uniform(0.1, 0.4) * np.exp(-(dist / width) ** 2))
        page = page * (1 + rng.uniform(0.0, 0.12) * np.exp(-((dist - 2 * width) / (3 * width)) ** 2))
    dirty = page * (1 - ink * rng.uniform(0.75, 1.0))
    img = Image.fromarray(np.clip(dirty * 255, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    arr = np.asarray(img, dtype=np.float32) / 255
    arr = arr + rng.normal(0, rng.uniform(0.0, 0.04), arr.shape)
    img = Image.fromarray(np.clip(arr * 255 + 0.5, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(30, 90)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    return np.asarray(img, dtype=np.float32) / 255


def synth_page(rng: np.random.Generator, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """One (dirty, clean) pair of float32 HxW arrays."""
    clean = render_clean(rng, size).astype(np.float32) / 255
    return degrade(rng, clean), clean


def colour_page(rng: np.random.Generator, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """A colour photo of a page: black print, blue handwriting and a red stamp on yellowed
    paper under warm, uneven light with brown stains. Returns (photo, clean) HxWx3 float32."""
    page = Image.fromarray(render_clean(rng, size)).convert("RGB")
    draw = ImageDraw.Draw(page)
    for k in range(3):                                    # blue handwriting
        y = size * (0.2 + 0.25 * k) + rng.uniform(-10, 10)
        x = rng.uniform(10, size / 4)
        while x < size * 0.9:
            span = rng.uniform(20, 60)
            pts = [(x + t * span, y + 6 * math.sin(t * span * 0.3) + rng.normal(0, 0.7)) for t in np.linspace(0, 1, 20)]
            draw.line(pts, fill=(30, 50, 170), width=2, joint="curve")
            x += span + rng.uniform(8, 20)
    cx, cy, r = size * 0.7, size * 0.75, size * 0.1       # red stamp
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(200, 30, 40), width=4)
    draw.text((cx - r * 0.6, cy - 8), "PAID", font=_font(font_files()[0], 22), fill=(200, 30, 40))
    clean = np.asarray(page, np.float32) / 255
    h, w = clean.shape[:2]
    tint = np.array([rng.uniform(0.85, 0.95), rng.uniform(0.78, 0.88), rng.uniform(0.55, 0.7)], np.float32)
    light = (1 + 0.25 * smooth_field(rng, h, w, 2))[..., None] * np.array([1.0, 0.97, 0.9], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    stains = np.ones((h, w, 3), np.float32)
    for _ in range(3):
        cy_, cx_, rad = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.08, 0.25) * size
        d = np.sqrt((yy - cy_) ** 2 + (xx - cx_) ** 2) / rad
        ring = 0.25 * np.exp(-((d - 1) / 0.08) ** 2) + 0.1 * (d < 1)
        stains *= 1 - ring[..., None] * np.array([0.4, 0.7, 1.0], np.float32)
    photo = clean * tint * light * stains
    photo = photo + rng.normal(0, 0.015, photo.shape).astype(np.float32)
    img = Image.fromarray((np.clip(photo, 0, 1) * 255 + 0.5).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    photo = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float32) / 255
    return photo, clean
