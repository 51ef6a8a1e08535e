"""A configurable U-Net: double 3x3 conv blocks, max-pool down, transposed-conv up,
skip connections by concatenation, optional residual output.

BatchNorm is the default normalisation because in eval mode it is a fixed
per-channel affine map, so a tiled run gives the same result as a whole-image
run (instance or group statistics would change from tile to tile).
"""
from __future__ import annotations

import torch
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
