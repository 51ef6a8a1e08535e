"""Document restoration: the U-Net cleans the page's luminance; a colour page keeps
the colour of its content (ink, stamps) while the paper becomes neutral white."""
from __future__ import annotations

from typing import Generator

import numpy as np

from ..device import ensure_host_memory
from ..models import get_card
from ..tiling import run_tiled
from ..types import CancelToken, Image, Progress, RestoreRequest
from .common import luminance, prepare

BYTES_PER_PIXEL = 24  # the op's peak memory past its input: 21 measured on 12-48 MP (its full-size float copies)


def recolor(rgb: np.ndarray, y_in: np.ndarray, y_out: np.ndarray) -> np.ndarray:
    """Put the chroma of `rgb` back on the restored luminance `y_out`, only where there
    is content (dark output); the background's tint (yellowing, stains) is dropped."""
    weight = np.clip((1.0 - y_out) * 2.0, 0.0, 1.0)                   # content
    weight *= np.clip(y_out / np.maximum(y_in, 1e-3), 0.0, 2.0)        # gain
    out = np.subtract(rgb, y_in[..., None], dtype=np.float32)          # chroma, made in place: one full-size copy
    out *= weight[..., None]
    out += y_out[..., None]
    return np.clip(out, 0.0, 1.0, out=out)


def restore(image: Image, request: RestoreRequest = RestoreRequest(),
            cancel: CancelToken | None = None) -> Generator[Progress, None, Image]:
    """Clean a scanned page. Yields Progress per tile; returns the restored Image."""
    card = get_card(request.model)
    w, h = image.width, image.height
    ensure_host_memory((BYTES_PER_PIXEL + image.float_cost()) * w * h, f"restoring the {w}x{h} page")
    net, device, tile, mixed = prepare(card, "restore", request.options)
    px = image.float_pixels()
    y_in = px[..., 0] if image.channels == 1 else luminance(px)
    y_out = yield from run_tiled(net, np.ascontiguousarray(y_in[..., None]), device=device,
                                 multiple=net.multiple, tile=tile, overlap=32, use_autocast=mixed,
                                 cancel=cancel, stage="restoring")
    y_out = y_out[..., 0]
    out = y_out[..., None] if image.channels == 1 else recolor(px, y_in, y_out)
    return image.with_pixels(out)
