"""What every op does before its tiles run: pick the device, load the network, size the tiles."""
from __future__ import annotations

from ..device import resolve_device
from ..errors import ModelError
from ..models import ModelCard, load_network
from ..types import RunOptions

DEFAULT_TILE = {"cpu": 1024, "cuda": 1024, "mps": 512}


def prepare(card: ModelCard, task: str, options: RunOptions):
    """(network, device, tile size, use mixed precision) for running `card` under `options`."""
    if card.task != task:
        raise ModelError(f"model {card.name!r} is a {card.task} model, not a {task} model")
    device = resolve_device(options.device)
    net = load_network(card, device)
    tile = options.tile or DEFAULT_TILE.get(device.type, 512)
    return net, device, tile, card.autocast and options.precision == "auto"


def luminance(rgb):
    """Rec. 601 luma of an HxWx3 array, as HxW."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
