"""SRResNet-family generator (residual blocks at low resolution, pixel-shuffle
upsampling, x2 or x4) and an SRGAN-style discriminator.

All the generator's convolutions run at the input's resolution: the last one
predicts scale x scale sub-pixels per channel and one pixel shuffle puts them in
place (as ESPCN and the lightweight SR nets do), which is several times cheaper
on a CPU than SRGAN's convolutions at 2x and 4x. The output is added to a
bicubic upsample of the input, so the network only learns the missing detail;
this trains faster and keeps colours stable.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """conv-ReLU-conv with a scaled identity skip (no BatchNorm, as in EDSR)."""

    def __init__(self, ch: int, res_scale: float = 1.0):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x), inplace=True))


class SRGenerator(nn.Module):
    """Input RGB in [0,1] at LR, output RGB at `scale` x LR (not clamped)."""

    def __init__(self, scale: int = 4, channels: int = 3, width: int = 64, blocks: int = 16,
                 res_scale: float = 1.0):
        super().__init__()
        if scale not in (2, 4):
            raise ValueError("scale must be 2 or 4")
        self.scale = scale
        self.multiple = 1
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlock(width, res_scale) for _ in range(blocks)])
        self.body_tail = nn.Conv2d(width, width, 3, padding=1)
        self.tail = nn.Sequential(nn.Conv2d(width, channels * scale * scale, 3, padding=1),
                                  nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        h = self.head(x)
        h = h + self.body_tail(self.body(h))
        return base + self.tail(h)


class Discriminator(nn.Module):
    """SRGAN discriminator: strided conv stack -> global pooling -> logit.
    `features(x)` returns the intermediate maps used for feature matching."""

    def __init__(self, channels: int = 3, width: int = 32, stages: int = 4):
        super().__init__()
        layers: list[nn.Module] = []
        cin = channels
        for i in range(stages):
            w = width * 2 ** i
            layers.append(nn.Sequential(
                nn.Conv2d(cin, w, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(w, w, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)))
            cin = w
        self.stages = nn.ModuleList(layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                        nn.Linear(cin, cin), nn.LeakyReLU(0.2, inplace=True),
                                        nn.Linear(cin, 1))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x)[-1])
