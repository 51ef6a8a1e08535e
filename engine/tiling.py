"""Tiled inference: plan overlapping tiles, run a network one tile at a time,
stitch the tiles' cores. On out-of-memory the tile is halved and the run
restarted; at the floor it falls back to the CPU and says so.

Tile origins and core sizes are multiples of the network's `multiple` (its
pooling factor), so every tile sees the same pooling grid as the whole image;
with an overlap at least the network's receptive radius, the tiled output
equals the whole-image output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import numpy as np
import torch
import torch.nn.functional as F

from .device import autocast, is_out_of_memory, release_memory
from .imageio import to_uint8
from .types import CancelToken, Progress

MIN_TILE = 64


@dataclass(frozen=True)
class Tile:
    """Read rows y0:y1, cols x0:x1 of the input; keep the core cy0:cy1, cx0:cx1 (input coordinates)."""

    y0: int
    y1: int
    x0: int
    x1: int
    cy0: int
    cy1: int
    cx0: int
    cx1: int


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def plan_tiles(height: int, width: int, tile: int, overlap: int, multiple: int = 1) -> list[Tile]:
    """Cover a height x width image with tiles of at most `tile` px (plus padding to
    `multiple`): cores partition the image, each read with `overlap` px of context."""
    if height <= tile and width <= tile:       # fits whole: one tile, no context needed
        return [Tile(0, height, 0, width, 0, height, 0, width)]
    overlap = _round_up(max(0, overlap), multiple)
    core = max(multiple, (tile - 2 * overlap) // multiple * multiple)
    tiles = []
    for cy0 in range(0, height, core):
        cy1 = min(height, cy0 + core)
        for cx0 in range(0, width, core):
            cx1 = min(width, cx0 + core)
            tiles.append(Tile(max(0, cy0 - overlap), min(height, cy1 + overlap),
                              max(0, cx0 - overlap), min(width, cx1 + overlap), cy0, cy1, cx0, cx1))
    return tiles


def _to_output(arr: np.ndarray, dtype) -> np.ndarray:
    if dtype == np.uint8:
        return to_uint8(arr)
    return np.clip(arr, 0, 1).astype(dtype, copy=False)


def _run_tile(net, patch: np.ndarray, device: torch.device, multiple: int, scale: int,
              use_autocast: bool, post=None) -> np.ndarray:
    """One HxWxC float32 patch through the network -> (H*scale)x(W*scale)xC' float32."""
    h, w = patch.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(patch.transpose(2, 0, 1)))[None].to(device)
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(device, use_autocast):
        y = net(x)
    y = y[:, :, : h * scale, : w * scale].float()
    if post is not None:
        y = post(y)
    y = y[0].cpu().numpy()
    return y.transpose(1, 2, 0)


def run_tiled(net, image: np.ndarray, *, device: torch.device, scale: int = 1, multiple: int = 1,
              tile: int = 512, overlap: int = 32, out_channels: int | None = None,
              out_dtype=np.float32, use_autocast: bool = True, cancel: CancelToken | None = None,
              post=None, stage: str = "processing") -> Generator[Progress, None, np.ndarray]:
    """Run `net` over `image` (HxWxC float32) tile by tile; yields Progress per tile and
    returns the stitched output (H*scale)x(W*scale)xC' of `out_dtype` (clipped to [0, 1]).
    `post` maps the raw network output tensor before clipping (e.g. torch.sigmoid).
    The network must already be on `device`; it may be moved to the CPU on OOM."""
    h, w, c = image.shape
    out_channels = out_channels or c
    out = np.empty((h * scale, w * scale, out_channels), dtype=out_dtype)
    tile = max(MIN_TILE, tile)
    while True:
        tiles = plan_tiles(h, w, tile, overlap, multiple)
        try:
            for i, t in enumerate(tiles):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                res = _run_tile(net, image[t.y0:t.y1, t.x0:t.x1], device, multiple, scale, use_autocast, post)
                core = res[(t.cy0 - t.y0) * scale:(t.cy1 - t.y0) * scale,
                           (t.cx0 - t.x0) * scale:(t.cx1 - t.x0) * scale]
                out[t.cy0 * scale:t.cy1 * scale, t.cx0 * scale:t.cx1 * scale] = _to_output(core, out_dtype)
                yield Progress(i + 1, len(tiles), stage)
            return out
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not is_out_of_memory(exc):
                raise
            release_memory(device)
            if tile // 2 >= MIN_TILE:
                tile //= 2
                yield Progress(0, 1, f"out of memory on {device.type}: retrying with {tile} px tiles")
            elif device.type != "cpu":
                net.to("cpu")
                device, tile = torch.device("cpu"), max(tile, 512)
                yield Progress(0, 1, "out of GPU memory even with the smallest tiles: continuing on the CPU")
            else:
                raise
