"""Pieces every training loop shares: a run folder's resumable checkpoints written
atomically, the learning-rate schedule, a CSV log, and exporting a trained network as a
shipped model (fp16 safetensors + model card with the weights' SHA-256)."""
from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..device import cpu_has_fast_bf16
from ..models import load_network, read_card, sha256_file


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """torch.save to a temporary file beside `path`, fsync, rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike):
    """The checkpoint dict at `path`, or None when there is none yet. A model card (.json)
    counts as a checkpoint of its verified weights, its training as the one earlier phase."""
    path = Path(path)
    if not path.exists():
        return None
    if path.suffix == ".json":
        card = read_card(path)
        return {"model": load_network(card).state_dict(), "history": [card.training]}
    return torch.load(path, map_location="cpu", weights_only=True)


class Checkpoints:
    """A run folder's checkpoints: last.pt holds everything needed to resume (the state of
    each model and optimiser, the step, the best score); best.pt the best weights so far,
    their step and scores, and `history`: the settings of every training phase that led
    to them (the phases of the --init checkpoint, then this one's)."""

    def __init__(self, run: str | os.PathLike, settings: dict, init: str | os.PathLike | None = None):
        """`init`: a best.pt or a model card to start from; its weights are `self.init_model`."""
        self.run = Path(run)
        start = load_checkpoint(init) if init else None
        if init and start is None:
            raise FileNotFoundError(f"--init {init}: no such checkpoint")
        self.init_model = start["model"] if start else None
        self.history = [*(start.get("history", []) if start else []), settings]

    def resume(self, **stateful) -> tuple[int, float] | None:
        """Load last.pt into the named objects (model=net, opt=optimiser, ...) and return
        (step, best score); None when the run has not started yet."""
        ckpt = load_checkpoint(self.run / "last.pt")
        if ckpt is None:
            return None
        for key, obj in stateful.items():
            obj.load_state_dict(ckpt[key])
        print(f"resumed {self.run} at step {ckpt['step']} (best {ckpt['best']:.5g})", file=sys.stderr)
        return ckpt["step"], ckpt["best"]

    def save_last(self, step: int, best: float, **stateful) -> None:
        atomic_torch_save({**{k: v.state_dict() for k, v in stateful.items()}, "step": step, "best": best},
                          self.run / "last.pt")

    def save_best(self, model: torch.nn.Module, step: int, **scores) -> None:
        atomic_torch_save({"model": model.state_dict(), "step": step, **scores, "history": self.history},
                          self.run / "best.pt")

    def load_best(self, model: torch.nn.Module) -> dict:
        """Load best.pt's weights into `model`; the checkpoint (step, scores, history)."""
        ckpt = load_checkpoint(self.run / "best.pt")
        model.load_state_dict(ckpt["model"])
        ckpt.setdefault("history", [])          # written before runs kept their phases
        return ckpt


def enlarged(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A uint8 picture (HxW or HxWx3 numpy array) resized, bicubic, to `size` (w, h): as
    a scan at a higher resolution shows it."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(a)).resize(size, Image.BICUBIC))


def uses_bf16(device: torch.device) -> bool:
    """Train under bf16 autocast where the hardware runs it natively (emulated bf16 is far
    slower than fp32)."""
    if device.type == "cpu":
        return cpu_has_fast_bf16()
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def cosine_lr(step: int, total: int, base: float, warmup: int = 100, floor: float = 0.01) -> float:
    """Linear warm-up, then cosine decay from `base` to `floor * base`."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


class CsvLog:
    """Appends rows to a CSV file (header written once) and echoes them to stderr."""

    def __init__(self, path: str | os.PathLike, fields: list[str]):
        self.path, self.fields = Path(path), fields
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        self._f = open(self.path, "a", newline="")
        self._w = csv.DictWriter(self._f, fieldnames=fields)
        if new:
            self._w.writeheader()
        self.t0 = time.time()

    def write(self, **row) -> None:
        self._w.writerow({k: row.get(k, "") for k in self.fields})
        self._f.flush()
        print(" ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
              f"t={time.time() - self.t0:.0f}s", file=sys.stderr, flush=True)


def _compact(t: torch.Tensor) -> torch.Tensor:
    """fp16 for a float tensor that fits (weights); fp32 for one that would overflow (a
    batch-norm running variance can exceed fp16's 65504)."""
    if not t.is_floating_point():
        return t
    half = t.half()
    return half if torch.isfinite(half).all() else t.float()


def export_model(model: torch.nn.Module, out_dir: str | os.PathLike, card: dict) -> Path:
    """Write `NAME.safetensors` (fp16) and `NAME.json` (card + sha256) into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = card["name"]
    weights = out_dir / f"{name}.safetensors"
    tensors = {k: _compact(v).contiguous().cpu()
               for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    tmp = weights.with_name(f".{weights.name}.tmp")
    save_file(tensors, str(tmp), metadata={"name": name})
    os.replace(tmp, weights)
    card = dict(card, weights=weights.name, sha256=sha256_file(weights))
    card_path = out_dir / f"{name}.json"
    old = json.loads(card_path.read_text()) if card_path.exists() else {}
    if "benchmarks" in old and "benchmarks" not in card:
        card["benchmarks"] = old["benchmarks"]
    tmp = card_path.with_name(f".{card_path.name}.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, card_path)
    return weights
