"""Super-resolution x2/x4 with an SRResNet-family generator, tiled; alpha is
resized with Lanczos alongside."""
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


def upscale(image: Image, request: UpscaleRequest = UpscaleRequest(),
            cancel: CancelToken | None = None) -> Generator[Progress, None, Image]:
    """Yields Progress per tile; returns the Image enlarged `request.scale` times."""
    if request.scale not in (2, 4):
        raise RestoraError(f"scale must be 2 or 4, not {request.scale}")
    card = get_card(request.model) if request.model else find_model("upscale", request.scale, request.variant)
    if card.scale != request.scale:
        raise RestoraError(f"model {card.name!r} upscales x{card.scale}, not x{request.scale}")
    net, device, tile, mixed = prepare(card, "upscale", request.options)
    out = yield from run_tiled(net, as_rgb(image.pixels), device=device, scale=card.scale, multiple=1,
                               tile=max(64, tile // card.scale), overlap=24, use_autocast=mixed,
                               cancel=cancel, stage=f"upscaling x{card.scale}")
    if image.channels == 1:
        out = out.mean(axis=2, keepdims=True)
    alpha = None
    if image.alpha is not None:
        size = (image.width * card.scale, image.height * card.scale)
        alpha = np.asarray(PILImage.fromarray(image.alpha, mode="F").resize(size, PILImage.LANCZOS))
        alpha = np.clip(alpha, 0, 1).astype(np.float32)
    return image.with_pixels(out, alpha)
