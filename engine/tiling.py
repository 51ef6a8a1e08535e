"""Tiled inference: plan overlapping tiles, run a network one tile at a time,
stitch the tiles' cores. On out-of-memory the tile is halved and the run
restarted; at the floor it falls back to the CPU and says so.

Tile origins and core sizes are multiples of the network's `multiple` (its
pooling factor), so every tile sees the same pooling grid as the whole image;
with an overlap at least the network's receptive radius, the tiled output
equals the whole-image output. Where it cannot (a repair filling a hole wider
than the overlap sees different surroundings from each tile), `blend` fades
each tile into the next across their overlap instead of cutting at the core's
edge, so no seam shows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import numpy as np
import torch
import torch.nn.functional as F

from .device import autocast, ensure_host_memory, is_out_of_memory, release_memory
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


def _band(tiles: list[Tile]) -> int:
    """How far either side of a core edge tiles are blended: the overlap, at most half a core."""
    overlap = max(max(t.cy0 - t.y0, t.cx0 - t.x0) for t in tiles)
    core = max(max(t.cy1 - t.cy0, t.cx1 - t.cx0) for t in tiles)
    return min(overlap, core // 2)


def _ramp(start: int, stop: int, core0: int, core1: int, length: int, band: int, scale: int) -> np.ndarray:
    """A tile's blending weight along one axis, at output positions start*scale .. stop*scale:
    1 inside its core, falling linearly to 0 over `band` px either side of a core edge
    inside the image; a neighbour's weight rises as this one falls, so they sum to 1."""
    p = (np.arange(start * scale, stop * scale, dtype=np.float32) + 0.5) / scale
    w = np.ones_like(p)
    if core0 > 0:
        w *= np.clip((p - core0 + band) / (2 * band), 0, 1)
    if core1 < length:
        w *= np.clip((core1 + band - p) / (2 * band), 0, 1)
    return w


def as_tensor(a: np.ndarray) -> torch.Tensor:
    """A CPU tensor of the array's values, sharing its memory when it can. numpy counts an
    array with a reversed axis of length 1 (a mirrored or turned picture one pixel wide)
    as contiguous, but torch refuses its negative stride: that one is copied."""
    a = np.ascontiguousarray(a)
    return torch.from_numpy(a.copy() if min(a.strides, default=0) < 0 else a)


def _run_tile(net, patch: np.ndarray, device: torch.device, multiple: int, scale: int,
              use_autocast: bool, post=None) -> np.ndarray:
    """One HxWxC float32 patch through the network -> (H*scale)x(W*scale)xC' float32."""
    h, w = patch.shape[:2]
    x = as_tensor(patch.transpose(2, 0, 1))[None].to(device)
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
              post=None, stage: str = "processing", blend: bool = False) -> Generator[Progress, None, np.ndarray]:
    """Run `net` over `image` (HxWxC float32) tile by tile; yields Progress per tile and
    returns the stitched output (H*scale)x(W*scale)xC' of `out_dtype` (clipped to [0, 1]).
    `post` maps the raw network output tensor before clipping (e.g. torch.sigmoid).
    `blend` fades neighbouring tiles into each other across their overlap (float32 output only).
    The network must already be on `device`; it may be moved to the CPU on OOM. Raises
    RestoraError before the first tile when the host has not the memory for the output."""
    h, w, c = image.shape
    out_channels = out_channels or c
    if blend and out_dtype != np.float32:
        raise ValueError("blended tiles are stitched in float32")
    ensure_host_memory(h * scale * w * scale * out_channels * np.dtype(out_dtype).itemsize,
                       f"the {w * scale}x{h * scale} result")
    out = np.empty((h * scale, w * scale, out_channels), dtype=out_dtype)
    tile = max(MIN_TILE, tile)
    while True:
        tiles = plan_tiles(h, w, tile, overlap, multiple)
        band = _band(tiles) if blend else 0
        if band:
            out.fill(0)
        try:
            for i, t in enumerate(tiles):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                res = _run_tile(net, image[t.y0:t.y1, t.x0:t.x1], device, multiple, scale, use_autocast, post)
                if band:
                    weight = np.outer(_ramp(t.y0, t.y1, t.cy0, t.cy1, h, band, scale),
                                      _ramp(t.x0, t.x1, t.cx0, t.cx1, w, band, scale))
                    out[t.y0 * scale:t.y1 * scale, t.x0 * scale:t.x1 * scale] += weight[..., None] * res
                else:
                    core = res[(t.cy0 - t.y0) * scale:(t.cy1 - t.y0) * scale,
                               (t.cx0 - t.x0) * scale:(t.cx1 - t.x0) * scale]
                    out[t.cy0 * scale:t.cy1 * scale, t.cx0 * scale:t.cx1 * scale] = _to_output(core, out_dtype)
                yield Progress(i + 1, len(tiles), stage)
            return np.clip(out, 0, 1, out=out) if band else out
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
