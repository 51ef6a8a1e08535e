"""Small random-weight models for tests: written as real model cards + safetensors
into a folder used as the user data folder (RESTORA_DATA_DIR), so every op can
run end to end without the shipped weights."""
from __future__ import annotations

from pathlib import Path

import torch

from engine.nets import build
from engine.training.common import export_model

TINY = {
    "test-restore": ("restore", "unet", {"in_channels": 1, "out_channels": 1, "width": 4, "depth": 2,
                                         "residual": True}, 1, ""),
    "test-mask": ("mask", "unet", {"in_channels": 3, "out_channels": 1, "width": 4, "depth": 2}, 1, ""),
    "test-repair": ("repair", "fillunet", {"width": 4, "depth": 2}, 1, ""),
    "test-sr-x2": ("upscale", "srgenerator", {"scale": 2, "width": 8, "blocks": 1}, 2, "faithful"),
    "test-sr-x4": ("upscale", "srgenerator", {"scale": 4, "width": 8, "blocks": 1}, 4, "faithful"),
}


def make_tiny_models(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Write every TINY model into `folder/models`; returns name -> weights path."""
    torch.manual_seed(seed)
    out = {}
    for name, (task, arch, params, scale, variant) in TINY.items():
        net = build(arch, **params)
        card = {"name": name, "task": task, "arch": arch, "params": params, "scale": scale,
                "channels": params.get("in_channels", 3), "variant": variant, "autocast": False,
                "title": f"random-weight {task} model for tests"}
        out[name] = export_model(net, Path(folder) / "models", card)
    return out
