"""Damage detection: the segmentation U-Net gives a per-pixel damage probability;
thresholded to a 0/1 mask unless a soft mask is asked for."""
from __future__ import annotations

from typing import Generator

import numpy as np
import torch

from ..models import get_card
from ..tiling import run_tiled
from ..types import CancelToken, Image, MaskRequest, Progress
from .common import prepare


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """HxWx3 view of an image that may be gray (HxWx1)."""
    return np.ascontiguousarray(np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels)


def detect_damage(image: Image, request: MaskRequest = MaskRequest(),
                  cancel: CancelToken | None = None) -> Generator[Progress, None, np.ndarray]:
    """Yields Progress per tile; returns an HxW float32 mask (1 = damaged), soft or 0/1."""
    card = get_card(request.model)
    net, device, tile, mixed = prepare(card, "mask", request.options)
    prob = yield from run_tiled(net, as_rgb(image.float_pixels()), device=device, multiple=net.multiple, tile=tile,
                                overlap=32, out_channels=1, use_autocast=mixed, cancel=cancel,
                                post=torch.sigmoid, stage="detecting damage")
    prob = prob[..., 0]
    return prob if request.soft else (prob >= request.threshold).astype(np.float32)
