"""Damage repair: the repair U-Net sees the damaged picture and the mask and
restores the masked pixels (taking a stain's tint off, filling a hole from its
surroundings); pixels outside the mask are kept exactly.

The network learned on pictures a few hundred pixels across. On a large picture it
keeps fine detail under a stain or tape best at full size, but it sees too little
around a wide hole, torn corner or ink blot and leaves much of it as it was. So a
picture the detector looks at reduced (`detection_scale`) is also filled at that
scale and at its halvings down to a short side of COARSEST_SIDE, and from the
smallest size up, where a reduced fill changed the damaged picture's low
frequencies more than the larger fill did, the reduced fill's low frequencies
replace the larger fill's, whose fine detail is kept (`_unstuck`). On pictures
mirrored 3x3 and damaged at that size, PSNR inside the true mask 17.66 -> 18.60 dB,
on pages at 300 dpi 16.38 -> 19.69 (benchmarks/damage.py; docs/damage-training.md,
"Wide damage on large pictures").
"""
from __future__ import annotations

from typing import Generator

import numpy as np

from ..device import ensure_host_memory
from ..errors import RestoraError
from ..jobs import sub_progress
from ..models import get_card
from ..tiling import run_tiled
from ..types import CancelToken, Image, MaskRequest, Progress, RepairRequest
from .common import prepare
from .segment import as_rgb, detect_damage, detection_scale, resized

STUCK_SLOPE = 0.05   # the reduced fill is used fully where it changed the picture this much more (mean level)
COARSEST_SIDE = 200  # the smallest reduction's short side: about the smallest training pictures
OVERLAP = 32         # px of context each tile reads past its core; neighbouring tiles' fills are blended across it
BYTES_PER_PIXEL = 100  # the op's peak memory past its input: 84 measured on 24 MP, 95 grey (its RGB copy)


def repair(image: Image, request: RepairRequest = RepairRequest(), mask: np.ndarray | None = None,
           cancel: CancelToken | None = None) -> Generator[Progress, None, Image]:
    """Fill `mask` (HxW, >0.5 = damaged); with no mask, detect the damage first.
    Yields Progress; returns the repaired Image."""
    card = get_card(request.model)
    w, h = image.width, image.height
    ensure_host_memory((BYTES_PER_PIXEL + image.float_cost()) * w * h, f"repairing the {w}x{h} picture")
    scale = detection_scale(image, MaskRequest(scale=request.scale))
    first = int(mask is None)           # the progress parts: detection (if asked), fill, reduced fill
    parts = first + 1 + (scale < 1)
    if mask is None:
        mask = yield from sub_progress(detect_damage(image, request.detection(scale), cancel), 0, parts)
    if mask.shape[:2] != image.pixels.shape[:2]:
        raise RestoraError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
                           f"{image.width}x{image.height}; they must be the same size")
    hole = mask > 0.5
    pixels = image.float_pixels()
    if not hole.any():
        yield Progress(parts, parts, "repairing")     # nothing to fill: done
        return image.with_pixels(pixels.copy())
    net, device, tile, mixed = prepare(card, "repair", request.options)

    def filled(rgb: np.ndarray, hole: np.ndarray, index: int, count: int) -> Generator[Progress, None, np.ndarray]:
        x = np.concatenate([rgb, hole[..., None].astype(np.float32)], axis=2)
        fill = yield from sub_progress(
            run_tiled(net, x, device=device, multiple=net.multiple, tile=tile, overlap=OVERLAP, out_channels=3,
                      use_autocast=mixed, cancel=cancel, stage="repairing", blend=True), index, count)
        del x                                 # full-size copies are freed or reused as soon as they can be
        np.copyto(fill, rgb, where=~hole[..., None])
        return fill

    rgb = as_rgb(pixels)
    fill = yield from filled(rgb, hole, first, parts)
    sizes = reductions(hole.shape, scale)
    coarse = None
    for i, size in enumerate(reversed(sizes)):             # the smallest first
        small_rgb = resized(rgb, size, "area")
        small_hole = resized(hole[..., None].astype(np.float32), size, "area")[..., 0] > 0.01
        small_fill = yield from sub_progress(filled(small_rgb, small_hole, i, len(sizes)), first + 1, parts)
        if coarse is not None:
            small_fill = np.where(small_hole[..., None],
                                  _unstuck(small_rgb, small_fill, resized(coarse, size, "bilinear"), coarse.shape[:2]),
                                  small_rgb)
        coarse = small_fill
    if coarse is not None:
        fill = _unstuck(rgb, fill, resized(coarse, hole.shape, "bilinear"), coarse.shape[:2])
    if image.channels == 1:
        fill = fill.mean(axis=2, keepdims=True)
    np.copyto(fill, pixels, where=~hole[..., None])
    return image.with_pixels(fill)


def reductions(shape: tuple[int, int], scale: float) -> list[tuple[int, int]]:
    """The sizes (h, w) a picture of `shape` is also filled at, largest first: every halving
    of it more than 1.25 times `scale` (one that close adds time, not a view), reduced by
    `scale`, then halved while the short side stays at least COARSEST_SIDE; none when `scale`
    is 1. The halvings above `scale` keep each fill's detail to one halving's finest: under
    the low frequencies of a fill reduced far more, the full-size fill's detail was the
    damage's own edges where its network left the damage (a soft crack's dark outline)."""
    if scale >= 1:
        return []
    steps, step = [], 0.5
    while step > scale * 1.25:
        steps.append(step)
        step /= 2
    steps.append(scale)
    while min(shape) * steps[-1] / 2 >= COARSEST_SIDE:
        steps.append(steps[-1] / 2)
    return [(max(1, round(shape[0] * s)), max(1, round(shape[1] * s))) for s in steps]


def _unstuck(rgb: np.ndarray, fine: np.ndarray, coarse: np.ndarray, small: tuple[int, int]) -> np.ndarray:
    """The fill `fine` with the low frequencies (those of a picture of size `small`) of the
    reduced fill `coarse` (enlarged back) where `coarse` changed the low frequencies of the
    damaged `rgb` more than `fine` did: `fine`'s network left the damage as it was there,
    too far from anything intact for its view. The result is made in (and overwrites) `coarse`."""
    size = rgb.shape[:2]

    def low(a: np.ndarray) -> np.ndarray:
        return resized(resized(a, small, "area"), size, "bilinear")

    def level(d: np.ndarray) -> np.ndarray:        # the low frequencies of a difference's mean size (d overwritten)
        return low(np.abs(d, out=d).mean(2, keepdims=True))

    base = low(rgb)
    weight = level(coarse - base)             # how far `coarse` moved the low frequencies,
    del base
    weight -= level(low(fine - rgb))          # less how far `fine` did (`low` is linear: one full-size copy fewer)
    weight = np.clip(weight / STUCK_SLOPE, 0, 1)
    coarse -= low(fine)                       # the result is made in `coarse`, the caller's enlarged copy
    coarse *= weight
    coarse += fine
    return np.clip(coarse, 0, 1, out=coarse)
