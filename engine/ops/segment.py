"""Damage detection: the segmentation U-Net gives a per-pixel damage probability;
thresholded to a 0/1 mask unless a soft mask is asked for.

The detector learned damage on pictures whose short side is about DETECT_WORK_SIDE
(320) pixels (near the median of its training pictures), with scratches a few
pixels wide and stains, creases and tears sized by the picture. A scan or photo of
several megapixels shows the same damage many pixels wider, and at full resolution
the detector sees only its edges (a crease's outline, a tear's rim). So a picture
whose short side passes 1.5 x DETECT_WORK_SIDE is looked at reduced to that short
side (MaskRequest.scale_for), and the damage probability is enlarged back to the
picture's size (benchmarks/damage.py, "scan-size pictures": held-out pictures
damaged and then enlarged 4 times, damage IoU per image 0.03 at full resolution
against 0.47 reduced).
"""
from __future__ import annotations

from typing import Generator

import numpy as np
import torch
import torch.nn.functional as F

from ..models import get_card
from ..tiling import run_tiled
from ..types import CancelToken, Image, MaskRequest, Progress
from .common import prepare


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """HxWx3 view of an image that may be gray (HxWx1)."""
    return np.ascontiguousarray(np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels)


def _resized(a: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """HxWxC float32 `a` resized to `size` (h, w): "area" averages (reducing), "bilinear" enlarges."""
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=size, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
    return out[0].permute(1, 2, 0).contiguous().numpy()


def detect_damage(image: Image, request: MaskRequest = MaskRequest(),
                  cancel: CancelToken | None = None) -> Generator[Progress, None, np.ndarray]:
    """Yields Progress per tile; returns an HxW float32 mask (1 = damaged), soft or 0/1."""
    card = get_card(request.model)
    net, device, tile, mixed = prepare(card, "mask", request.options)
    rgb = as_rgb(image.float_pixels())
    h, w = rgb.shape[:2]
    scale = request.scale_for(w, h)
    small = (max(1, round(h * scale)), max(1, round(w * scale)))
    if small != (h, w):
        rgb = _resized(rgb, small, "area")
    prob = yield from run_tiled(net, rgb, device=device, multiple=net.multiple, tile=tile, overlap=32,
                                out_channels=1, use_autocast=mixed, cancel=cancel, post=torch.sigmoid,
                                stage="detecting damage")
    if small != (h, w):
        prob = _resized(prob, (h, w), "bilinear")
    prob = prob[..., 0]
    return prob if request.soft else (prob >= request.threshold).astype(np.float32)
