"""Super-resolution x2/x4 with an SRResNet-family generator, tiled; alpha is
resized with Lanczos alongside.

An 8-bit source gives an 8-bit (uint8) result filled tile by tile, so a 4000x3000
picture at x4 needs 576 MB for its output rather than 2.3 GB of floats."""
from __future__ import annotations

from typing import Generator

import numpy as np
from PIL import Image as PILImage

from ..errors import RestoraError
from ..models import find_model, get_card
from ..tiling import run_tiled
from ..types import CancelToken, Image, Progress, UpscaleRequest
from .common import prepare
from .segment import as_rgb

OVERLAP = 24          # input pixels of context around each tile: past the generator's reach
# Tiles are sized in input pixels at half the op's tile setting: the network's maps
# are at the input's resolution, its output `scale` x larger.


def upscale(image: Image, request: UpscaleRequest = UpscaleRequest(),
            cancel: CancelToken | None = None) -> Generator[Progress, None, Image]:
    """Yields Progress per tile; returns the Image enlarged `request.scale` times."""
    if request.scale not in (2, 4):
        raise RestoraError(f"scale must be 2 or 4, not {request.scale}")
    card = get_card(request.model) if request.model else find_model("upscale", request.scale, request.variant)
    if card.scale != request.scale:
        raise RestoraError(f"model {card.name!r} upscales x{card.scale}, not x{request.scale}")
    net, device, tile, mixed = prepare(card, "upscale", request.options)
    gray = image.channels == 1
    out = yield from run_tiled(
        net, as_rgb(image.float_pixels()), device=device, scale=card.scale, multiple=1,
        tile=max(64, tile // 2), overlap=OVERLAP, use_autocast=mixed, cancel=cancel,
        out_channels=1 if gray else 3, post=(lambda y: y.mean(dim=1, keepdim=True)) if gray else None,
        out_dtype=np.uint8 if image.bits == 8 else np.float32, stage=f"upscaling x{card.scale}")
    alpha = None
    if image.alpha is not None:
        size = (image.width * card.scale, image.height * card.scale)
        alpha = np.asarray(PILImage.fromarray(image.alpha, mode="F").resize(size, PILImage.LANCZOS))
        alpha = np.clip(alpha, 0, 1).astype(np.float32)
    return image.with_pixels(out, alpha)
