"""Bare network architectures (torch only). Built from a config dict by `build`."""
from __future__ import annotations

from torch import nn

from .srgan import Discriminator, SRGenerator
from .unet import FillUNet, UNet

ARCHITECTURES = {"unet": UNet, "fillunet": FillUNet, "srgenerator": SRGenerator, "discriminator": Discriminator}


def build(arch: str, **params) -> nn.Module:
    """Instantiate architecture `arch` with keyword hyper-parameters."""
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}") from None
    return cls(**params)


__all__ = ["UNet", "FillUNet", "SRGenerator", "Discriminator", "ARCHITECTURES", "build"]
