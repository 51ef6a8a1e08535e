"""Damage repair: the repair U-Net sees the damaged picture and the mask and
restores the masked pixels (taking a stain's tint off, filling a hole from its
surroundings); pixels outside the mask are kept exactly."""
from __future__ import annotations

from typing import Generator

import numpy as np

from ..errors import RestoraError
from ..jobs import sub_progress
from ..models import get_card
from ..tiling import run_tiled
from ..types import CancelToken, Image, MaskRequest, Progress, RepairRequest
from .common import prepare
from .segment import as_rgb, detect_damage


def repair(image: Image, request: RepairRequest = RepairRequest(), mask: np.ndarray | None = None,
           cancel: CancelToken | None = None) -> Generator[Progress, None, Image]:
    """Fill `mask` (HxW, >0.5 = damaged); with no mask, detect the damage first.
    Yields Progress; returns the repaired Image."""
    card = get_card(request.model)
    parts = 1 if mask is not None else 2
    if mask is None:
        mreq = MaskRequest(model=request.mask_model, threshold=request.threshold, options=request.options,
                           scale=request.mask_scale)
        mask = yield from sub_progress(detect_damage(image, mreq, cancel), 0, 2)
    if mask.shape[:2] != image.pixels.shape[:2]:
        raise RestoraError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
                           f"{image.width}x{image.height}; they must be the same size")
    hole = (mask > 0.5)[..., None]
    pixels = image.float_pixels()
    if not hole.any():
        return image.with_pixels(pixels.copy())
    net, device, tile, mixed = prepare(card, "repair", request.options)
    rgb = as_rgb(pixels)
    x = np.concatenate([rgb, hole.astype(np.float32)], axis=2)
    fill = yield from sub_progress(
        run_tiled(net, x, device=device, multiple=net.multiple, tile=tile, overlap=32, out_channels=3,
                  use_autocast=mixed, cancel=cancel, stage="repairing"), parts - 1, parts)
    if image.channels == 1:
        fill = fill.mean(axis=2, keepdims=True)
    return image.with_pixels(np.where(hole, fill, pixels).astype(np.float32))
