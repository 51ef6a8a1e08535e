"""Synthetic physical damage for old photos and scanned pages: scratches, cracks,
dust and hairs, stains and foxing, holes and torn edges, creases, ink blots and
tape marks, with a per-pixel damage mask. Used to train the damage-segmentation
U-Net (damaged -> mask) and the inpainting U-Net (`holes_mask` -> masks that
look like real damage).

Pure numpy + Pillow; every random choice comes from the `rng` passed in, so a
seed reproduces an example exactly.

How a damaged image is made
---------------------------
Each damage kind is drawn as one or more *layers*: an alpha map `a` (HxW in
[0, 1], the per-pixel opacity of what was drawn; lines and dots are drawn at 2x
on a Pillow "L" image and box-downsampled, so edges are anti-aliased) and a
target colour that is affine in the pixel underneath, `img * mul + add`:

    img = img * (1 - a) + (img * mul + add) * a

`mul = 0` is plain "over" painting (scratches, dust, cracks, ink, holes: the
content is replaced by `add`); `add = 0` is a multiplicative tint (crease
shadows); stains and tape use both (a tint plus a little pigment/haze, so they
also show over dark areas). Layers are composited in a fixed order: stains and
tape, creases, cracks, scratches, ink, dust, then holes and torn edges, which
replace everything. Afterwards, on the damaged image only, the global effects
run (each sometimes): slight Gaussian blur, sensor noise, JPEG re-compression at
quality 40-95.

The mask rule
-------------
Let `pre` be the composite *before* the global effects, `A = 1 - prod_i(1 - a_i)`
the union of all layers' alphas, and `change = max_c |pre_c - clean_c|`. The mask
has three values:

    1    visible damage:  (A > 0.02) & (change > VISIBLE_THRESHOLD + texture)
    0.5  unsure:          faint damage, (A > 0.02) & (change > CHANGE_THRESHOLD = 0.04),
                          and the 1-pixel ring around visible damage
    0    untouched

VISIBLE_THRESHOLD is 0.10 (25/255); `texture` is the standard deviation of the clean
picture's luminance over the 5x5 window around the pixel (TEXTURE_WEIGHT = 1): a
change stands out less in busy texture (contrast masking), so a white speck in
foliage must be brighter than one on a clear sky to count as visible.

For the large translucent tints (stains, tape) change is judged on the 5x5 mean of
the change they caused (`change_tint`, measured right after compositing them, over
their own alpha union), so a stain over texture is one solid region rather than
salt and pepper where its tint is near a threshold; a later layer with alpha > 0.5
(a hole, an ink blot) that covers the tint takes its place there.

Why an unsure band: a pixel a stain's rim changed by 5/255, or the anti-aliased
fringe of a 1-pixel scratch after blur and JPEG, is neither clearly damaged nor
clearly clean; no detector can place that boundary from the damaged picture
alone. The training loss and the benchmark's IoU ignore unsure pixels (as the
PASCAL VOC benchmark ignores its "void" band around object outlines); the
benchmark also reports the strict IoU that counts them as background. So:
  * no invisible masked pixels: a white scratch over white sky, a cream hole on
    cream paper, a brown stain over a black region are not marked;
  * nothing that changed visibly is left unmarked: every pixel the layers changed
    by more than CHANGE_THRESHOLD is 0.5 or 1;
  * the global effects (which touch every pixel and are not damage) never
    change the mask. With `global_effects=False`, every pixel where the mask is 0
    differs from `clean` by at most CHANGE_THRESHOLD in every channel.
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .synth_docs import smooth_field

KINDS = ("scratches", "cracks", "dust", "stains", "creases", "ink", "tape", "holes", "torn")
# probability that a kind appears in a damaged image (at least one always does)
_KIND_P = {"scratches": 0.55, "cracks": 0.2, "dust": 0.55, "stains": 0.35, "creases": 0.3,
           "ink": 0.15, "tape": 0.12, "holes": 0.18, "torn": 0.15}
_SOFT = ("stains", "tape")          # large translucent tints, composited first
# layers are composited in this order: things lying on the surface come later,
# missing paper (holes, torn edges) replaces everything
_ORDER = ("stains", "tape", "creases", "cracks", "scratches", "ink", "dust", "holes", "torn")
P_CLEAN = 0.05            # fraction of images left undamaged (empty mask)
CHANGE_THRESHOLD = 0.04   # any change above this is damage, at least "unsure" (0.5)
VISIBLE_THRESHOLD = 0.10  # a change above this (plus the local texture) is visible damage (1)
TEXTURE_WEIGHT = 1.0      # ... times the local standard deviation of the clean luminance
ALPHA_FLOOR = 0.02        # ... and only where a layer drew something
SOFT_BOX = 5              # window of the local mean change for the translucent tints
SS = 2                    # supersampling of the drawn layers

_STAIN_TINTS = np.array([[0.62, 0.45, 0.25], [0.78, 0.62, 0.32], [0.70, 0.50, 0.28],
                         [0.82, 0.72, 0.45], [0.52, 0.46, 0.38], [0.75, 0.56, 0.42]], np.float32)
_HOLE_COLOURS = np.array([[0.97, 0.96, 0.93], [0.92, 0.88, 0.78], [0.03, 0.03, 0.03],
                          [0.14, 0.10, 0.07], [0.45, 0.44, 0.42], [0.80, 0.80, 0.80]], np.float32)
_INK_COLOURS = np.array([[0.04, 0.04, 0.05], [0.05, 0.07, 0.22], [0.16, 0.09, 0.05],
                         [0.10, 0.10, 0.10], [0.30, 0.05, 0.05]], np.float32)


# --------------------------------------------------------------------------- drawing helpers

class _Layer:
    """An "L" drawing surface at SS-times supersampling in image-pixel coordinates."""

    def __init__(self, h: int, w: int, ss: int = SS):
        self.h, self.w, self.ss = h, w, ss
        self.img = Image.new("L", (w * ss, h * ss), 0)
        self.draw = ImageDraw.Draw(self.img)

    def line(self, pts: np.ndarray, width: float, fill: float) -> None:
        if len(pts) < 2 or fill <= 0:
            return
        self.draw.line((np.asarray(pts) * self.ss).ravel().tolist(), fill=int(fill * 255),
                       width=max(1, int(round(width * self.ss))), joint="curve")

    def dot(self, x: float, y: float, r: float, fill: float) -> None:
        s = self.ss
        r = max(r * s, 0.5)
        self.draw.ellipse([x * s - r, y * s - r, x * s + r, y * s + r], fill=int(fill * 255))

    def polygon(self, pts: np.ndarray, fill: float) -> None:
        self.draw.polygon((np.asarray(pts) * self.ss).ravel().tolist(), fill=int(fill * 255))

    def alpha(self, blur: float = 0.0) -> np.ndarray:
        img = self.img.resize((self.w, self.h), Image.BOX) if self.ss > 1 else self.img
        if blur > 0:
            img = img.filter(ImageFilter.GaussianBlur(blur))
        return np.asarray(img, dtype=np.float32) / 255.0


def _box_mean(x: np.ndarray, k: int) -> np.ndarray:
    """k x k box mean of a 2-D array (edge-padded), via cumulative sums."""
    r = k // 2
    p = np.pad(x, r, mode="edge").astype(np.float64)
    c = np.pad(p.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    h, w = x.shape
    return ((c[k:k + h, k:k + w] - c[:h, k:k + w] - c[k:k + h, :w] + c[:h, :w]) / (k * k)).astype(np.float32)


def _grow(m: np.ndarray) -> np.ndarray:
    """A boolean mask grown by one pixel (3x3 neighbourhood)."""
    p = np.pad(m, 1)
    h, w = m.shape
    return np.logical_or.reduce([p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)])


def _knots(rng: np.random.Generator, n: int, k: int, lo: float, hi: float) -> np.ndarray:
    """Smooth 1-D noise: k random values in [lo, hi], linearly interpolated to n samples."""
    k = max(2, k)
    return np.interp(np.linspace(0, k - 1, n), np.arange(k), rng.uniform(lo, hi, k)).astype(np.float32)


def _curve(rng: np.random.Generator, x0: float, y0: float, angle: float, length: float,
           bend: float, jitter: float, step: float = 2.5) -> np.ndarray:
    """A smooth random polyline (n x 2, x/y): heading wanders by up to `bend` rad,
    plus `jitter` px of perpendicular wobble."""
    n = max(3, int(length / step) + 1)
    theta = angle + _knots(rng, n, int(rng.integers(2, 6)), -bend, bend)
    x = x0 + np.concatenate([[0.0], np.cumsum(np.cos(theta[:-1]) * step)])
    y = y0 + np.concatenate([[0.0], np.cumsum(np.sin(theta[:-1]) * step)])
    if jitter > 0:
        j = rng.normal(0, jitter, n)
        x, y = x - np.sin(theta) * j, y + np.cos(theta) * j
    return np.stack([x, y], 1)


def _radial_blob(rng: np.random.Generator, cx: float, cy: float, r: float,
                 rough: float, n: int = 40, aspect: float = 1.0, rot: float = 0.0) -> np.ndarray:
    """An irregular closed outline: radius modulated by a few random harmonics plus
    per-vertex roughness (torn / splashed look)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rad = np.ones(n)
    for k in range(2, 7):
        rad += rng.uniform(0, 0.6 / k ** 1.3) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    rad += rng.normal(0, rough, n)
    rad = r * np.clip(rad, 0.25, 2.0)
    x, y = rad * np.cos(t) * aspect, rad * np.sin(t)
    c, s = math.cos(rot), math.sin(rot)
    return np.stack([cx + x * c - y * s, cy + x * s + y * c], 1)


def _line_field(h: int, w: int, angle: float, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance to a straight line (normal at `angle`) and the position along it."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ca, sa = math.cos(angle), math.sin(angle)
    return xx * ca + yy * sa - offset, -xx * sa + yy * ca


def _scratch_pts(rng: np.random.Generator, h: int, w: int, long: bool | None = None) -> np.ndarray:
    s, diag = min(h, w), math.hypot(h, w)
    if long is None:
        long = rng.random() < 0.35
    length = diag * rng.uniform(1.0, 1.3) if long else s * rng.uniform(0.05, 0.5)
    angle = (math.pi / 2 + rng.normal(0, 0.12)) if rng.random() < 0.35 else rng.uniform(0, 2 * math.pi)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    x0, y0 = cx - math.cos(angle) * length / 2, cy - math.sin(angle) * length / 2
    bend = rng.uniform(0.0, 0.2) if long else rng.uniform(0.0, 0.7)
    return _curve(rng, x0, y0, angle, length, bend, rng.uniform(0.0, 0.35))


def _crack_pts(rng: np.random.Generator, x: float, y: float, angle: float, length: float,
               depth: int = 0) -> list[tuple[np.ndarray, int]]:
    """A jagged crack as (polyline, depth) pieces: a wandering trunk with branches."""
    step = rng.uniform(1.5, 4.0)
    n = max(3, int(length / step))
    heading = angle + np.cumsum(rng.normal(0, 0.12, n))          # slow drift
    local = heading + rng.normal(0, rng.uniform(0.3, 0.8), n)     # jagged zig-zag
    px = x + np.concatenate([[0.0], np.cumsum(np.cos(local[:-1]) * step)])
    py = y + np.concatenate([[0.0], np.cumsum(np.sin(local[:-1]) * step)])
    out = [(np.stack([px, py], 1), depth)]
    if depth < 3:
        for i in np.flatnonzero(rng.random(n) < 0.05 / (depth + 1))[:4]:
            side = rng.choice([-1.0, 1.0])
            out += _crack_pts(rng, px[i], py[i], heading[i] + side * rng.uniform(0.4, 1.2),
                              (n - i) * step * rng.uniform(0.25, 0.7), depth + 1)
    return out


# --------------------------------------------------------------------------- damage kinds
# each returns a list of (alpha HxW, add, mul) layers: the layer's target colour is
# img * mul + add (mul, add: scalars, (3,) or HxWx3), composited as img += alpha * (target - img)

def _scratches(rng, h, w):
    layers = []
    n = 1 + int(rng.poisson(rng.uniform(0.5, 4.0)))
    light, dark = _Layer(h, w), _Layer(h, w)
    p_light = rng.uniform(0.5, 1.0)                  # white scratches: the classic old-photo look
    for _ in range(n):
        pts = _scratch_pts(rng, h, w)
        width = 0.7 + 4.3 * rng.random() ** 2.5          # mostly thin, up to 5 px
        opacity = rng.uniform(0.45, 1.0)
        layer = light if rng.random() < p_light else dark
        m = _knots(rng, len(pts), int(rng.integers(2, 8)), 0.0, 1.6).clip(0, 1)
        chunk = int(rng.integers(4, 10))
        for i in range(0, len(pts) - 1, chunk):      # opacity fades and breaks along the scratch
            if m[i] > 0.15:
                layer.line(pts[i:i + chunk + 1], width, opacity * m[i])
    blur = rng.uniform(0.3, 1.0) if rng.random() < 0.4 else 0.0
    layers.append((light.alpha(blur), rng.uniform(0.82, 1.0) * np.array([1.0, 0.99, 0.96], np.float32), 0.0))
    layers.append((dark.alpha(blur), np.full(3, rng.uniform(0.0, 0.25), np.float32), 0.0))
    return layers


def _cracks(rng, h, w):
    s = min(h, w)
    layer = _Layer(h, w)
    for _ in range(1 + int(rng.poisson(0.8))):
        angle = rng.uniform(0, 2 * math.pi)
        length = s * rng.uniform(0.2, 1.0)
        width = rng.uniform(0.8, 2.5)
        opacity = rng.uniform(0.6, 1.0)
        for pts, depth in _crack_pts(rng, rng.uniform(0, w), rng.uniform(0, h), angle, length):
            layer.line(pts, max(0.6, width * 0.7 ** depth), opacity * 0.85 ** depth)
    dark = rng.random() < 0.8
    colour = np.full(3, rng.uniform(0.02, 0.2) if dark else rng.uniform(0.85, 1.0), np.float32)
    return [(layer.alpha(rng.uniform(0.0, 0.5)), colour, 0.0)]


def _dust(rng, h, w):
    s = min(h, w)
    light, dark = _Layer(h, w), _Layer(h, w)
    n = int(h * w / 1000 * math.exp(rng.uniform(math.log(0.05), math.log(2.5))))
    p_light = rng.uniform(0.0, 1.0)
    xs, ys = rng.uniform(0, w, n), rng.uniform(0, h, n)
    rs = np.clip(0.45 + rng.exponential(0.7, n), 0.45, 3.0)   # 1-6 px across
    op = rng.uniform(0.35, 1.0, n)
    is_light = rng.random(n) < p_light
    for x, y, r, o, li in zip(xs, ys, rs, op, is_light):
        layer = light if li else dark
        if r > 1.3 and rng.random() < 0.6:
            layer.polygon(_radial_blob(rng, x, y, r, 0.15, n=7), o)
        else:
            layer.dot(x, y, r, o)
    for _ in range(int(rng.poisson(1.0))):            # hairs and fibres
        pts = _curve(rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 2 * math.pi),
                     s * rng.uniform(0.03, 0.15), rng.uniform(1.0, 3.0), 0.1, step=1.5)
        (light if rng.random() < p_light else dark).line(pts, rng.uniform(0.5, 1.3), rng.uniform(0.5, 1.0))
    return [(light.alpha(), np.full(3, rng.uniform(0.85, 1.0), np.float32), 0.0),
            (dark.alpha(), np.full(3, rng.uniform(0.0, 0.2), np.float32), 0.0)]


def _stains(rng, h, w):
    s = min(h, w)
    alpha = np.zeros((h, w), np.float32)
    tint = _STAIN_TINTS[rng.integers(len(_STAIN_TINTS))] * rng.uniform(0.9, 1.08)
    paint = tint * rng.uniform(0.4, 0.8)              # stain pigment: shows on dark areas too
    k = rng.uniform(0.1, 0.4)
    for _ in range(1 + int(rng.poisson(0.8))):
        ry = s * rng.uniform(0.06, 0.35)
        rx = ry * rng.uniform(0.6, 1.6)
        cy, cx = rng.uniform(-0.1, 1.1) * h, rng.uniform(-0.1, 1.1) * w
        y0, y1 = max(0, int(cy - 1.5 * max(rx, ry))), min(h, int(cy + 1.5 * max(rx, ry)) + 1)
        x0, x1 = max(0, int(cx - 1.5 * max(rx, ry))), min(w, int(cx + 1.5 * max(rx, ry)) + 1)
        if y1 - y0 < 2 or x1 - x0 < 2:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        rot = rng.uniform(0, math.pi)
        u = ((xx - cx) * math.cos(rot) + (yy - cy) * math.sin(rot)) / rx
        v = (-(xx - cx) * math.sin(rot) + (yy - cy) * math.cos(rot)) / ry
        ph, pw = y1 - y0, x1 - x0
        d = np.sqrt(u * u + v * v) * (1 + rng.uniform(0.1, 0.3) * smooth_field(rng, ph, pw, int(rng.integers(3, 8))))
        strength = rng.uniform(0.5, 0.95)
        kind = rng.random()
        if kind < 0.45:       # water stain: pale inside, dark tide-line rim
            rim_w = rng.uniform(0.02, 0.07)
            a = rng.uniform(0.1, 0.5) * np.clip((1 - d) / 0.04, 0, 1) + np.exp(-((d - 1) / rim_w) ** 2)
        elif kind < 0.8:      # blotch: soft edge, mottled inside
            a = np.clip((1 - d) / rng.uniform(0.15, 0.7), 0, 1)
            a = a * (0.85 + 0.15 * smooth_field(rng, ph, pw, int(rng.integers(4, 10))))
        else:                 # foxing: a cluster of small brown spots
            spots = _Layer(ph, pw, 1)
            for _ in range(int(rng.integers(5, 40))):
                r = rng.uniform(0.5, 0.15 * max(rx, ry) + 1)
                spots.dot(cx - x0 + rng.normal(0, rx / 2), cy - y0 + rng.normal(0, ry / 2), min(r, 6.0),
                          rng.uniform(0.4, 1.0))
            a = spots.alpha(rng.uniform(0.5, 1.5))
        alpha[y0:y1, x0:x1] = np.maximum(alpha[y0:y1, x0:x1], np.clip(a * strength, 0, 1))
    return [(alpha, k * paint, (1 - k) * tint)]


def _creases(rng, h, w):
    s = min(h, w)
    dark_a = np.zeros((h, w), np.float32)
    light_a = np.zeros((h, w), np.float32)
    crack_a = np.zeros((h, w), np.float32)
    if rng.random() < 0.3:    # a fold network: near-halves/thirds plus a diagonal or two
        lines = []
        for _ in range(int(rng.integers(2, 6))):
            if rng.random() < 0.7:
                ang = rng.choice([0.0, math.pi / 2]) + rng.normal(0, 0.03)
            else:
                ang = rng.uniform(0, math.pi)
            lines.append(ang)
    else:
        lines = [rng.uniform(0, math.pi) for _ in range(1 + int(rng.poisson(0.3)))]
    for ang in lines:
        ca, sa = abs(math.cos(ang)), abs(math.sin(ang))
        cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        offset = cx * math.cos(ang) + cy * math.sin(ang)
        dist, along = _line_field(h, w, ang, offset)
        span = w * sa + h * ca + 1
        t = (along - along.min()) / (along.max() - along.min() + 1e-6)
        nk = int(rng.integers(3, 8))
        dist = dist + np.interp(t, np.linspace(0, 1, nk), rng.uniform(-1, 1, nk) * rng.uniform(0, 0.01 * span))
        strength = np.interp(t, np.linspace(0, 1, nk), rng.uniform(0.5, 1.0, nk)).astype(np.float32)
        if rng.random() < 0.3:                        # a partial crease, fading at the ends
            a0, a1 = np.sort(rng.uniform(0, 1, 2))
            strength = strength * np.clip(np.minimum(t - a0, a1 - t) * 20, 0, 1)
        wc = rng.uniform(0.5, 1.5) * max(1.0, s / 256)
        wh = rng.uniform(1.0, 3.0) * max(1.0, s / 256)
        side = rng.choice([-1.0, 1.0])
        dark_a = np.maximum(dark_a, strength * rng.uniform(0.3, 0.8) * np.exp(-(dist / wc) ** 2))
        light_a = np.maximum(light_a, strength * rng.uniform(0.1, 0.4)
                             * np.exp(-((dist - side * (wc + wh)) / wh) ** 2))
        if rng.random() < 0.4:                        # emulsion cracked along the fold: white dashes
            nd = int(rng.integers(6, 30))
            dash = np.interp(t, np.linspace(0, 1, nd), rng.uniform(0, 1, nd)) > rng.uniform(0.4, 0.8)
            crack_a = np.maximum(crack_a, dash * rng.uniform(0.6, 1.0) * np.exp(-(dist / (0.4 + wc * 0.6)) ** 2))
    dark_tint = np.full(3, rng.uniform(0.1, 0.45), np.float32)
    return [(dark_a.astype(np.float32), 0.0, dark_tint),
            (light_a.astype(np.float32), np.full(3, 1.0, np.float32), 0.0),
            (crack_a.astype(np.float32), np.full(3, rng.uniform(0.85, 1.0), np.float32), 0.0)]


def _ink(rng, h, w):
    s = min(h, w)
    layer = _Layer(h, w)
    for _ in range(1 + int(rng.poisson(0.3))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = s * rng.uniform(0.015, 0.08)
        op = rng.uniform(0.75, 1.0)
        layer.polygon(_radial_blob(rng, cx, cy, r, rng.uniform(0.02, 0.12), n=48,
                                   aspect=rng.uniform(0.7, 1.4), rot=rng.uniform(0, math.pi)), op)
        for _ in range(int(rng.integers(0, 6))):     # tails / drips
            a = rng.uniform(0, 2 * math.pi)
            ln = r * rng.uniform(0.8, 2.5)
            pts = np.array([[cx + math.cos(a) * r * 0.5 * k, cy + math.sin(a) * r * 0.5 * k] for k in (0, 1)]
                           + [[cx + math.cos(a) * (r * 0.5 + ln), cy + math.sin(a) * (r * 0.5 + ln)]])
            layer.line(pts[:2], r * rng.uniform(0.3, 0.6), op)
            layer.line(pts[1:], r * rng.uniform(0.1, 0.25), op)
        n = int(rng.integers(3, 40))                  # splatter
        dist = r * (1.1 + rng.exponential(1.0, n))
        ang = rng.uniform(0, 2 * math.pi, n)
        rr = np.clip(r * 0.35 / (dist / r) ** 1.2 * rng.uniform(0.3, 1.2, n), 0.4, r * 0.5)
        for d, a, q in zip(dist, ang, rr):
            layer.dot(cx + math.cos(a) * d, cy + math.sin(a) * d, q, op * rng.uniform(0.7, 1.0))
    alpha = layer.alpha(rng.uniform(0.0, 0.6))
    alpha = alpha * (0.9 + 0.1 * smooth_field(rng, h, w, 8))       # uneven dried ink
    colour = _INK_COLOURS[rng.choice(len(_INK_COLOURS), p=[0.4, 0.25, 0.15, 0.15, 0.05])]
    return [(np.clip(alpha, 0, 1), colour, 0.0)]


def _tape(rng, h, w):
    s = min(h, w)
    body, edge = _Layer(h, w), _Layer(h, w)
    for _ in range(1 + int(rng.poisson(0.3))):
        tw = s * rng.uniform(0.08, 0.22)
        tl = s * rng.uniform(0.3, 1.2)
        ang = (rng.choice([0.0, math.pi / 2]) + rng.normal(0, 0.15)) if rng.random() < 0.7 \
            else rng.uniform(0, math.pi)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        # outline: long sides straight, short ends cut (zig-zag when torn)
        nz = int(rng.integers(3, 8)) if rng.random() < 0.5 else 1
        zig = tw * 0.08
        end1 = [(tl / 2 + (rng.uniform(-zig, zig) if nz > 1 else 0), -tw / 2 + tw * k / nz) for k in range(nz + 1)]
        end2 = [(-tl / 2 + (rng.uniform(-zig, zig) if nz > 1 else 0), tw / 2 - tw * k / nz) for k in range(nz + 1)]
        local = np.array(end1 + end2, np.float32)
        c, sn = math.cos(ang), math.sin(ang)
        pts = np.stack([cx + local[:, 0] * c - local[:, 1] * sn, cy + local[:, 0] * sn + local[:, 1] * c], 1)
        body.polygon(pts, rng.uniform(0.45, 0.85))
        edge.line(np.concatenate([pts, pts[:1]]), rng.uniform(0.8, 2.0), rng.uniform(0.3, 0.7))
    tint = np.array([0.97, 0.86, 0.55], np.float32) * rng.uniform(0.85, 1.02)
    a = body.alpha(0.4) * (0.85 + 0.15 * smooth_field(rng, h, w, 6))
    k = rng.uniform(0.15, 0.45)                       # glossy haze: lifts dark areas
    haze = np.array([0.95, 0.88, 0.65], np.float32) * rng.uniform(0.8, 1.0)
    return [(np.clip(a, 0, 1), k * haze, (1 - k) * tint),
            (edge.alpha(0.5), 0.0, tint * rng.uniform(0.55, 0.8))]


def _fill_colour(rng, h, w, base) -> np.ndarray:
    """A flat-ish colour with a little paper-fibre texture, HxWx3."""
    tex = smooth_field(rng, h, w, max(4, min(h, w) // 6)) * rng.uniform(0.0, 0.03)
    return np.clip(base[None, None, :] + tex[..., None], 0, 1).astype(np.float32)


def _rim_layers(rng, hole: np.ndarray, base: np.ndarray):
    """Torn paper shows a ragged fibre rim: light around dark holes, a shadow around light ones."""
    k = 3 if rng.random() < 0.6 else 5
    im = Image.fromarray((hole * 255).astype(np.uint8))
    rim = np.asarray(im.filter(ImageFilter.MaxFilter(k)), np.float32) / 255 - hole
    rim = np.clip(rim, 0, 1) * rng.uniform(0.5, 1.0)
    col = np.full(3, rng.uniform(0.85, 1.0), np.float32) if base.mean() < 0.5 \
        else np.full(3, rng.uniform(0.2, 0.5), np.float32)
    return rim, col


def _holes(rng, h, w):
    s = min(h, w)
    layer = _Layer(h, w)
    for _ in range(1 + int(rng.poisson(0.4))):
        r = s * rng.uniform(0.03, 0.15)
        layer.polygon(_radial_blob(rng, rng.uniform(0, w), rng.uniform(0, h), r, rng.uniform(0.02, 0.1),
                                   n=int(rng.integers(24, 64)), aspect=rng.uniform(0.6, 1.6),
                                   rot=rng.uniform(0, math.pi)), 1.0)
    hole = layer.alpha()
    base = _HOLE_COLOURS[rng.integers(len(_HOLE_COLOURS))]
    rim, rim_col = _rim_layers(rng, hole, base)
    return [(rim, rim_col, 0.0), (hole, _fill_colour(rng, h, w, base), 0.0)]


def _torn_region(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Float HxW: 1 beyond an irregular torn contour along one border or across a corner."""
    s = min(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    side = int(rng.integers(0, 8))
    if side < 4:                              # along a border
        depth_coord = [yy, h - 1 - yy, xx, w - 1 - xx][side]
        along = xx if side < 2 else yy
        length = w if side < 2 else h
        base = s * rng.uniform(0.02, 0.15)
    else:                                     # across a corner
        cy, cx = [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)][side - 4]
        sx, sy = (1.0 if cx == 0 else -1.0), (1.0 if cy == 0 else -1.0)
        depth_coord = ((xx - cx) * sx + (yy - cy) * sy) / math.sqrt(2)
        along = ((xx - cx) * sy - (yy - cy) * sx) / math.sqrt(2)
        along = along - along.min()
        length = float(along.max()) + 1
        base = s * rng.uniform(0.1, 0.35)
    n = int(length) + 1
    contour = base + _knots(rng, n, int(rng.integers(3, 9)), -1, 1) * s * rng.uniform(0.01, 0.08)
    contour = contour + _knots(rng, n, max(4, n // int(rng.integers(4, 12))), -1, 1) * rng.uniform(1.0, 5.0)
    fine = np.convolve(rng.normal(0, 1, n + 2), np.ones(3) / 3, mode="valid")
    contour = contour + fine * rng.uniform(0.5, 2.0)          # ragged paper fibres
    edge = np.interp(along, np.arange(n), contour)
    return np.clip(edge - depth_coord + 0.5, 0, 1).astype(np.float32)


def _torn(rng, h, w):
    region = _torn_region(rng, h, w)
    base = _HOLE_COLOURS[rng.integers(len(_HOLE_COLOURS))]
    rim, rim_col = _rim_layers(rng, region, base)
    return [(rim, rim_col, 0.0), (region, _fill_colour(rng, h, w, base), 0.0)]


_DRAW = {"scratches": _scratches, "cracks": _cracks, "dust": _dust, "stains": _stains,
         "creases": _creases, "ink": _ink, "tape": _tape, "holes": _holes, "torn": _torn}


# --------------------------------------------------------------------------- public API

def _composite(img: np.ndarray, union: np.ndarray, a: np.ndarray, add, mul) -> None:
    """In place on the bounding box of a > 0: img += a * (img*mul + add - img); union |= a."""
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    if rows.size == 0:
        return
    sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    ap, ip = a[sl][..., None], img[sl]
    add = add[sl] if np.ndim(add) == 3 else add
    ip += ap * (ip * (mul - 1.0) + add)
    union[sl] = 1 - (1 - union[sl]) * (1 - a[sl])


def _global_effects(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Slight blur, sensor noise and JPEG re-compression, each sometimes."""
    h, w, _ = img.shape
    if rng.random() < 0.3:
        pil = Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8))
        img = np.asarray(pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8))), np.float32) / 255
    if rng.random() < 0.4:
        sigma = rng.uniform(0.003, 0.02)
        noise = rng.normal(0, sigma, (h, w, 1)).astype(np.float32)          # luminance noise ...
        if rng.random() < 0.5:
            noise = noise + rng.normal(0, sigma * 0.5, (h, w, 3)).astype(np.float32)   # ... and chroma
        img = img + noise
    if rng.random() < 0.4:
        pil = Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8))
        buf = io.BytesIO()
        pil.save(buf, "JPEG", quality=int(rng.integers(40, 96)))
        img = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float32) / 255
    return np.clip(img, 0, 1).astype(np.float32)


def pick_kinds(rng: np.random.Generator) -> tuple[str, ...]:
    """The random subset of damage kinds for one image ((), P_CLEAN of the time)."""
    if rng.random() < P_CLEAN:
        return ()
    chosen = [k for k in KINDS if rng.random() < _KIND_P[k]]
    if not chosen:
        chosen = [KINDS[int(rng.integers(len(KINDS)))]]
    return tuple(chosen)


def damage(rng: np.random.Generator, clean: np.ndarray, *, global_effects: bool = True,
           kinds: tuple[str, ...] | list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Damage a clean HxWx3 float32 image in [0, 1].

    Returns (damaged HxWx3 float32 in [0, 1], mask HxW float32 in {0, 0.5, 1}:
    1 = visible damage, 0.5 = unsure); see the module docstring for the mask rule.
    `kinds` forces a set of damage kinds (names in KINDS; () = none); by default a
    random subset is drawn, none P_CLEAN of the time. `global_effects=False` skips
    blur/noise/JPEG (for tests and inspection).
    """
    clean = np.asarray(clean, dtype=np.float32)
    if clean.ndim != 3 or clean.shape[2] != 3:
        raise ValueError(f"clean must be HxWx3, got {clean.shape}")
    h, w, _ = clean.shape
    if kinds is None:
        kinds = pick_kinds(rng)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown damage kinds {sorted(unknown)}; known: {KINDS}")
    clean = np.clip(clean, 0, 1)
    img = clean.copy()
    union = np.zeros((h, w), np.float32)
    soft_box = None
    for kind in _ORDER:
        if kind in kinds:
            for a, add, mul in _DRAW[kind](rng, h, w):
                _composite(img, union, a, add, mul)
        if kind == _ORDER[len(_SOFT) - 1] and union.any():
            # translucent tints: visibility judged on the local mean change (one solid region)
            soft_box = _box_mean(np.abs(img - clean).max(axis=2), SOFT_BOX)
            union_soft = union.copy()
    img = np.clip(img, 0, 1)
    change = np.abs(img - clean).max(axis=2)
    drawn = union > ALPHA_FLOOR
    lum = clean.mean(axis=2)
    mean = _box_mean(lum, 5)
    texture = np.sqrt(np.maximum(_box_mean(lum * lum, 5) - mean * mean, 0))
    visible = drawn & (change > VISIBLE_THRESHOLD + TEXTURE_WEIGHT * texture)
    faint = drawn & (change > CHANGE_THRESHOLD)
    if soft_box is not None:
        # ... unless a later opaque layer (a hole, ink) replaced the tint there
        tint = union_soft > ALPHA_FLOOR
        tint &= ~((1 - union) < 0.5 * (1 - union_soft))
        visible |= tint & (soft_box > VISIBLE_THRESHOLD)
        faint |= tint & (soft_box > CHANGE_THRESHOLD)
    mask = np.where(visible, 1.0, np.where(faint | _grow(visible), 0.5, 0.0)).astype(np.float32)
    if global_effects:
        img = _global_effects(rng, img)
    return img.astype(np.float32), mask


def holes_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random inpainting mask (HxW float32 in {0, 1}) made of damage-like shapes:
    scratches, cracks, specks, blobs, crease lines, holes and torn edges. The
    coverage is drawn log-uniformly in [1.5%, 25%] and always ends in [1%, 30%]."""
    s = min(h, w)
    target = math.exp(rng.uniform(math.log(0.015), math.log(0.25)))
    mask = np.zeros((h, w), bool)
    shapes = ("scratch", "crack", "specks", "blob", "crease", "hole", "torn")
    p = np.array([0.25, 0.1, 0.15, 0.15, 0.1, 0.15, 0.1])
    for _ in range(60):
        cov = mask.mean()
        if cov >= target:
            break
        shape = shapes[int(rng.choice(len(shapes), p=p))]
        if shape == "torn":
            new = _torn_region(rng, h, w) > 0.5
        else:
            layer = _Layer(h, w, 1)
            if shape == "scratch":
                for _ in range(int(rng.integers(1, 4))):
                    layer.line(_scratch_pts(rng, h, w), 1 + 5 * rng.random() ** 2, 1.0)
            elif shape == "crack":
                for pts, depth in _crack_pts(rng, rng.uniform(0, w), rng.uniform(0, h),
                                             rng.uniform(0, 2 * math.pi), s * rng.uniform(0.2, 1.0)):
                    layer.line(pts, max(1.0, rng.uniform(1, 3) * 0.7 ** depth), 1.0)
            elif shape == "specks":
                n = int(h * w / 1000 * rng.uniform(0.1, 2.0))
                for x, y, r in zip(rng.uniform(0, w, n), rng.uniform(0, h, n),
                                   np.clip(0.5 + rng.exponential(0.8, n), 0.5, 3.0)):
                    layer.dot(x, y, r, 1.0)
            elif shape == "blob":
                layer.polygon(_radial_blob(rng, rng.uniform(0, w), rng.uniform(0, h), s * rng.uniform(0.02, 0.12),
                                           rng.uniform(0.02, 0.1), aspect=rng.uniform(0.5, 2.0),
                                           rot=rng.uniform(0, math.pi)), 1.0)
            elif shape == "crease":
                layer.line(_scratch_pts(rng, h, w, long=True), rng.uniform(1, 4), 1.0)
            else:
                layer.polygon(_radial_blob(rng, rng.uniform(0, w), rng.uniform(0, h), s * rng.uniform(0.03, 0.15),
                                           rng.uniform(0.02, 0.1), n=48), 1.0)
            new = layer.alpha() > 0.5
        merged = mask | new
        if merged.mean() <= 0.3:
            mask = merged
    while mask.mean() < 0.01:                 # rare: everything drawn was rejected or off-image
        layer = _Layer(h, w, 1)
        layer.polygon(_radial_blob(rng, rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h,
                                   s * rng.uniform(0.06, 0.12), 0.05), 1.0)
        merged = mask | (layer.alpha() > 0.5)
        if merged.mean() <= 0.3:
            mask = merged
    return mask.astype(np.float32)


TONES = np.array([[1.0, 0.86, 0.66],     # sepia
                  [1.0, 0.94, 0.80],     # warm paper
                  [1.0, 1.0, 1.0],       # neutral grey
                  [0.80, 0.92, 1.05]],   # cool (cyanotype-like)
                 np.float32)


def age(rng: np.random.Generator, clean: np.ndarray) -> np.ndarray:
    """A clean HxWx3 picture as an old print looks before any damage: colour drained
    towards a monochrome tone, faded (blacks lifted, whites dimmed), sometimes a
    vignette. It is the picture, not damage: nothing here is marked in a mask."""
    clean = np.asarray(clean, np.float32)
    h, w = clean.shape[:2]
    lum = clean @ np.array([0.299, 0.587, 0.114], np.float32)
    tone = TONES[int(rng.integers(len(TONES)))] * rng.uniform(0.97, 1.03, 3).astype(np.float32)
    drain = rng.uniform(0.5, 1.0)
    img = (1 - drain) * clean + drain * lum[..., None] * tone
    lo, hi = rng.uniform(0.0, 0.18), rng.uniform(0.78, 1.0)
    img = lo + (hi - lo) * img
    if rng.random() < 0.4:
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((y / h - 0.5) ** 2 + (x / w - 0.5) ** 2) * 2
        img = img * (1 - rng.uniform(0.1, 0.4) * r2)[..., None]
    return np.clip(img, 0, 1).astype(np.float32)


def old_photo(rng: np.random.Generator, clean: np.ndarray,
              kinds: tuple[str, ...] = ("scratches", "dust", "creases", "stains", "cracks", "torn"),
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An old-photo-like example for figures and screenshots: the clean HxWx3 picture
    toned sepia and faded, then damaged. Returns (toned original, damaged, mask)."""
    lum = np.asarray(clean, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    toned = 0.1 + 0.8 * lum[..., None] * np.array([1.0, 0.86, 0.66], np.float32) + np.array([0.04, 0.03, 0.0])
    toned = np.clip(toned, 0, 1).astype(np.float32)
    damaged, mask = damage(rng, toned, kinds=kinds)
    return toned, damaged, mask
