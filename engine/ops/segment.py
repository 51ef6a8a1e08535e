"""Damage detection: the segmentation U-Net gives a per-pixel damage probability;
thresholded to a 0/1 mask unless a soft mask is asked for.

The detector learned damage on pictures whose short side is about DETECT_WORK_SIDE
(320) pixels (near the median of its training pictures), with scratches a few
pixels wide and stains, creases and tears sized by the picture. A scan or photo of
several megapixels shows the same damage many pixels wider, and at full resolution
the detector sees only its edges (a crease's outline, a tear's rim). So a picture
whose short side passes 1.5 x DETECT_WORK_SIDE is looked at reduced to that short
side, and the damage probability is enlarged back to the picture's size
(benchmarks/damage.py, "scan-size pictures": held-out pictures damaged and then
enlarged 4 times, damage IoU per image 0.03 at full resolution against 0.47 reduced).

A page of text is the exception: the detector learned pages scanned at about 130
dpi. A letter page scanned at 300 dpi and reduced to a short side of 320 (about 40
dpi) shows its text as a grey texture that the detector takes for dust and stains,
while a clipping scanned at 500 dpi is about right at 320. So a large picture that
looks like a page (`looks_like_page`) is reduced until its strokes are PAGE_STROKE
px wide (`stroke_width`), about 100 dpi, where the detector did best on pages at
every resolution tried (docs/damage-training.md, "Pages of text at scan size";
benchmarks/damage.py, "scan-size pages").

The detector is not symmetric: a scratch it misses, or an edge it takes for one, in
the picture may be seen rightly in its mirror image or turned a quarter. So it looks
at the picture in all 8 (VIEWS) and averages the probabilities: damage IoU per image
0.527 -> 0.575, on aged prints 0.517 -> 0.569, fewer false alarms, for 8 times the
detection's time, which at the working size is small (docs/damage-training.md,
"Eight views").

A mark the detector is unsure of everywhere is most often texture or an edge, while
real damage, even a faint scratch, is sure somewhere along it. So the averaged
probability is turned into a score by hysteresis (`hysteresis`): at the default
threshold 0.5 the mask is the regions of probability >= WEAK (0.45) that hold a pixel
of probability >= STRONG (0.85), where before every pixel over 0.5 was kept. On the
benchmark: damage IoU per image 0.575 -> 0.594, every damage kind better, fewer false
alarms (0.27% -> 0.22%), aged prints 0.569 -> 0.566, end to end 17.72 -> 17.57 dB
(docs/damage-training.md, "Hysteresis"). Any other threshold t moves WEAK and STRONG
with it (as powers of t), so the editor's slider and `--threshold` keep their
meaning: lower finds more.
"""
from __future__ import annotations

from typing import Generator

import numpy as np
import torch
import torch.nn.functional as F

from ..device import ensure_host_memory
from ..jobs import sub_progress
from ..models import get_card
from ..morphology import dilate_step, reconstruct
from ..tiling import as_tensor, run_tiled
from ..types import DETECT_WORK_SIDE, CancelToken, Image, MaskRequest, Progress
from .common import prepare

PAGE_STROKE = 1.85   # px: a page's text is looked at with strokes this wide (about 100 dpi), see above
VIEWS = 8            # the detector looks at the picture in its 8 mirror images and quarter turns, see above
STRONG, WEAK = 0.85, 0.45  # at threshold 0.5 the mask holds pixels >= WEAK joined to one >= STRONG, see above
BYTES_PER_PIXEL = 40  # peak memory past the input a pixel of the picture as looked at: 20-29 measured
ENLARGED_BYTES = 12   # and a pixel of the picture, for the score enlarged back to its size: 11 measured on 24-48 MP


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """HxWx3 view of an image that may be gray (HxWx1)."""
    return np.ascontiguousarray(np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels)


def resized(a: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """HxWxC float32 `a` resized to `size` (h, w): "area" averages (reducing), "bilinear" enlarges."""
    t = as_tensor(a)[None].permute(0, 3, 1, 2)     # a channels-last view: the result is channels-last too,
    out = F.interpolate(t, size=size, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
    return out[0].permute(1, 2, 0).contiguous().numpy()  # so this is no copy


def _ink(pixels: np.ndarray, short: int, window: int
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """The grey picture reduced (area) to a short side of `short` at most, its paper (a
    `window` px closing, which removes the strokes) and its ink (over 0.25 darker than
    the paper around it); and the reduction factor."""
    g = as_tensor(pixels).float().mean(-1)[None, None]
    h, w = pixels.shape[:2]
    r = min(1.0, short / min(h, w))
    if r < 1:
        g = F.interpolate(g, size=(round(h * r), round(w * r)), mode="area")
    paper = -_dilate(-_dilate(g, window), window)
    return g, paper, (paper - g) > 0.25, r


def _dilate(x: torch.Tensor, k: int) -> torch.Tensor:
    """The maximum over the k x k square (k odd) around each pixel of an NxCxHxW tensor:
    along rows, then columns, each by doubling runs (a few passes, where max_pool2d's cost
    grows with k)."""
    for dim in (3, 2):
        pad = [0, 0, 0, 0]
        pad[2 * (3 - dim):2 * (3 - dim) + 2] = [k // 2, k // 2]
        x = F.pad(x, pad, value=float("-inf"))
        run = 1                   # each element holds the maximum of the `run` elements from it on
        while run < k:
            step = min(run, k - run)
            n = x.shape[dim]
            x = torch.maximum(x.narrow(dim, 0, n - step), x.narrow(dim, step, n - step))
            run += step
    return x


def looks_like_page(pixels: np.ndarray) -> bool:
    """Whether an HxWxC float picture looks like a page of text: judged at a short side of
    512, over 40% of it is light, even paper (within 0.06 of the paper around it, found by a
    15 px closing) and 5-30% is ink drawn in thin strokes (under 25% of the ink is left
    after a 1 px erosion; a photo's dark areas are broad). Taken for pages: every held-out
    and dirty scanned page, also enlarged, damaged and aged; 2% of the photos at their own
    size and none enlarged 3 times (docs/damage-training.md, "Pages of text at scan size")."""
    g, paper, ink, _ = _ink(pixels, 512, 15)
    even = float((((paper - g).abs() < 0.06) & (g > 0.45)).float().mean())
    ink = ink[0, 0].numpy()
    thick = ink & ~dilate_step(~ink, square=True)       # the ink eroded by 1 px
    return bool(even > 0.4 and 0.05 < ink.mean() < 0.3 and thick.sum() < 0.25 * ink.sum())


def stroke_width(pixels: np.ndarray) -> float:
    """The mean width in pixels of a page's ink strokes: twice the ink's area over its edge
    (the ink pixels with a paper pixel beside them), measured at a short side of 1536 at
    most. It grows with the scan's resolution: about 2.4 px on the training pages."""
    _, _, ink, r = _ink(pixels, 1536, 31)
    ink = ink[0, 0].numpy()
    edge = ink & dilate_step(~ink, square=False)        # ink with paper above, below or beside it
    return 2 * int(ink.sum()) / max(int(edge.sum()), 1) / r


def hysteresis(prob: np.ndarray) -> np.ndarray:
    """The HxW probability map as a score in [0, 1] whose threshold t keeps the pixels of
    probability >= t ** (1 / b) joined (8 neighbours) to one of probability >= t ** (1 / a),
    with a and b such that threshold 0.5 joins WEAK to STRONG: the reconstruction of
    prob ** a under prob ** b."""
    a, b = np.log(0.5) / np.log(STRONG), np.log(0.5) / np.log(WEAK)
    return reconstruct(prob ** a, prob ** b)


def detection_scale(image: Image, request: MaskRequest = MaskRequest()) -> float:
    """The factor the picture is reduced by before detection: the request's `scale`; else,
    for a picture whose short side passes 1.5 x DETECT_WORK_SIDE, the one that brings a page
    of text to strokes PAGE_STROKE px wide (when they are over 1.5 times that) and any
    other picture to a short side of DETECT_WORK_SIDE (see above)."""
    if request.scale is not None:
        return min(1.0, request.scale)
    short = min(image.width, image.height)
    if short <= 1.5 * DETECT_WORK_SIDE:
        return 1.0
    pixels = image.float_pixels()
    if not looks_like_page(pixels):
        return DETECT_WORK_SIDE / short
    width = stroke_width(pixels)
    return 1.0 if width <= 1.5 * PAGE_STROKE else PAGE_STROKE / width


def detect_damage(image: Image, request: MaskRequest = MaskRequest(),
                  cancel: CancelToken | None = None) -> Generator[Progress, None, np.ndarray]:
    """Yields Progress per tile; returns an HxW float32 mask (1 = damaged): the damage score
    (`hysteresis`) if `soft`, else 0/1."""
    card = get_card(request.model)
    net, device, tile, mixed = prepare(card, "mask", request.options)
    h, w = image.height, image.width
    scale = detection_scale(image, request)
    small = (max(1, round(h * scale)), max(1, round(w * scale)))
    ensure_host_memory(BYTES_PER_PIXEL * small[0] * small[1] + (ENLARGED_BYTES + image.float_cost()) * h * w,
                       f"detecting damage in the {w}x{h} picture")
    pixels = image.float_pixels()
    rgb = as_rgb(resized(pixels, small, "area") if small != (h, w) else pixels)
    del pixels
    prob = np.zeros((*rgb.shape[:2], 1), np.float32)
    for i in range(VIEWS):                    # the picture turned by i // 2 quarter turns, mirrored when i is odd
        turns, mirror = i // 2, i % 2
        view = np.rot90(rgb[:, ::-1] if mirror else rgb, turns)     # a view: the tiles are copied one by one
        p = yield from sub_progress(
            run_tiled(net, view, device=device, multiple=net.multiple, tile=tile, overlap=32, out_channels=1,
                      use_autocast=mixed, cancel=cancel, post=torch.sigmoid, stage="detecting damage"), i, VIEWS)
        p = np.rot90(p, -turns)
        prob += p[:, ::-1] if mirror else p
    score = hysteresis(prob[..., 0] / VIEWS)[..., None]
    if small != (h, w):
        score = resized(score, (h, w), "bilinear")
    score = score[..., 0]
    return score if request.soft else (score >= request.threshold).astype(np.float32)
