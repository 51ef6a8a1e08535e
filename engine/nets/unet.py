"""A configurable U-Net: double 3x3 conv blocks, max-pool down, transposed-conv up,
skip connections by concatenation, optional residual output.

BatchNorm is the default normalisation because in eval mode it is a fixed
per-channel affine map, so a tiled run gives the same result as a whole-image
run (instance or group statistics would change from tile to tile).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


class DoubleConv(nn.Sequential):
    """(3x3 conv -> norm -> activation) twice."""

    def __init__(self, cin: int, cout: int, norm: str = "batch"):
        bias = norm == "none"
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=bias), _norm(norm, cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=bias), _norm(norm, cout), nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """U-Net with `depth` down-sampling steps; channel width doubles per level
    (capped at `max_width`). With `residual`, the output is input[:, :out] + net(x).
    Input height and width must be multiples of `self.multiple` (= 2**depth)."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 16,
                 depth: int = 3, max_width: int = 256, norm: str = "batch", residual: bool = False):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth, self.residual = depth, residual
        self.multiple = 2 ** depth
        widths = [min(width * 2 ** i, max_width) for i in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths:
            self.down.append(DoubleConv(cin, w, norm))
            cin = w
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(depth, 0, -1):
            self.up.append(nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2))
            self.dec.append(DoubleConv(widths[i - 1] * 2, widths[i - 1], norm))
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for i, block in enumerate(self.down):
            h = block(h)
            if i < self.depth:
                skips.append(h)
                h = self.pool(h)
        for up, dec in zip(self.up, self.dec):
            h = dec(torch.cat([up(h), skips.pop()], dim=1))
        out = self.head(h)
        if self.residual:
            out = out + x[:, : self.out_channels]
        return out


def pull_push_fill(img: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Fill the pixels where `hole` (Bx1xHxW, 1 = missing) from the known ones:
    a pull-push pyramid (each level the known-weighted 2x2 mean of the one below;
    a missing pixel takes the bilinear upsampling of the coarser level). Smooth, and
    the same at any size; known pixels are returned unchanged."""
    known = 1.0 - hole
    if bool((known > 0).all()) or min(img.shape[-2:]) <= 1:
        return img
    total = F.avg_pool2d(img * known, 2, ceil_mode=True)
    weight = F.avg_pool2d(known, 2, ceil_mode=True)
    coarse = pull_push_fill(total / weight.clamp(min=1e-6), (weight <= 0).to(img.dtype))
    up = F.interpolate(coarse, size=img.shape[-2:], mode="bilinear", align_corners=False)
    return torch.where(known > 0, img, up)


class FillUNet(nn.Module):
    """Repair network: input = damaged RGB + hole mask (4 channels). The holes are
    first filled by `pull_push_fill`; a U-Net sees the damaged picture, the mask and
    that fill, and its output is added to the fill (so it starts from a smooth
    inpainting and learns what is missing: texture, edges, and how to take a
    translucent stain's tint off the pixels still visible under it)."""

    def __init__(self, width: int = 16, depth: int = 4, max_width: int = 256, norm: str = "batch"):
        super().__init__()
        self.in_channels, self.out_channels = 4, 3
        self.unet = UNet(7, 3, width, depth, max_width, norm)
        self.multiple = self.unet.multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        img, hole = x[:, :3], x[:, 3:4]
        fill = pull_push_fill(img.float(), hole.float()).to(img.dtype)
        return fill + self.unet(torch.cat([img, hole, fill], dim=1))
