"""Average the weights of models of one architecture, a "model soup" (Wortsman et al.,
2022): two fine-tunes of one network that err in different ways often average to one
better than either. Batch-norm statistics are averaged like the weights.

    python -m engine.training.average OUT_DIR resources/models/damage-unet.json runs/export/damage-unet.json

Writes OUT_DIR/NAME.safetensors and NAME.json: the first card's network, its training
record listing the averaged models' own records. Benchmark the result before shipping it.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from torch import nn

from ..errors import ModelError
from ..models import load_network, read_card
from ..nets import build
from .common import export_model


def average(card_paths: list[str]) -> tuple[nn.Module, dict]:
    """(network holding the mean weights, card of the average) of the models whose cards are given."""
    cards = [read_card(p) for p in card_paths]
    first = cards[0]
    for card in cards[1:]:
        if (card.name, card.arch, card.params) != (first.name, first.arch, first.params):
            raise ValueError(f"{card.card_path}: {card.name} {card.arch} {card.params} cannot be averaged with "
                             f"{first.card_path}: {first.name} {first.arch} {first.params}")
    states = [load_network(card).state_dict() for card in cards]
    mean = {k: sum(s[k] for s in states) / len(states) if v.is_floating_point() else v
            for k, v in states[0].items()}
    net = build(first.arch, **first.params)
    net.load_state_dict(mean)
    card = {k: v for k, v in asdict(first).items()
            if k not in ("weights", "sha256", "card_path", "source", "benchmarks", "training")}
    card["training"] = {
        "method": f"mean of the weights (and batch-norm statistics) of {len(cards)} models",
        "averaged": [c.training for c in cards],
    }
    return net, card


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("cards", nargs="+", help="model cards (.json) of the models to average")
    args = ap.parse_args(argv)
    try:
        net, card = average(args.cards)
    except (ValueError, ModelError) as exc:
        ap.error(str(exc))
    command = "python -m engine.training.average " + " ".join(sys.argv[1:] if argv is None else argv)
    card["training"] = {"command": command, **card["training"]}
    print(f"exported {export_model(net, args.out_dir, card)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
