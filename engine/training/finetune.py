"""Fine-tuning a shipped or user model on a person's own material, shared by
`python main.py finetune` and the editor's Fine-tune dialog.

`finetune(request, cancel)` is a job generator (ARCHITECTURE section 4): it yields
`FinetuneStatus` (a Progress carrying the loss, the validation metric and a preview)
and returns a `FinetuneResult`. It starts from the named model's weights, holds out a
validation share of the pairs, trains on random patches (bf16 autocast where the CPU
or GPU runs it natively, channels_last), validates every `eval_every` steps on the
central square of each held-out image, and keeps the best weights: in memory, and
on disk as an atomic checkpoint `<user data>/finetune/NAME/best.pt`. At the end the
best weights become the user model NAME (weights + card) beside the other user
models, so the model list shows them at once.

A mask model given pairs also sees, in half its samples, the project's synthetic
damage drawn over the person's picture and added to their mask (REHEARSAL), so that
learning their kind of damage does not unlearn the kinds it found before.

Cancel (the token set, the driver closing the job as the editor's worker does, or
Ctrl-C): the best checkpoint stays on disk, and with `save_on_cancel` (the default)
the best weights so far are also saved as the model, provided a validation after
training began improved on the starting model (otherwise there is nothing new to
save). The job then stops as cancelled.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Generator

import numpy as np
import torch
import torch.nn.functional as F

from ..device import resolve_device
from ..errors import Cancelled, RestoraError
from ..imageio import load_image, to_uint8
from ..models import ModelCard, get_card, load_network, user_models_dir
from ..ops.common import luminance
from ..types import CancelToken, Progress
from .common import atomic_torch_save, cosine_lr, export_model, uses_bf16
from .damage import batch_tensors, evaluate, loss_fn, repair_sample, to_input, train_mode
from .finetune_data import (
    DEFAULT_LR,
    METRIC_LABELS,
    METRICS,
    TASKS,
    FinetuneRequest,
    FinetuneResult,
    FinetuneStatus,
    TrainingPair,
    check_new_name,
    find_pairs,
    split_validation,
)
from .restore import evaluate_rmse
from .synth_damage import damage
from .synth_docs import degrade

VAL_SIZE = 384           # validation runs on the central square of this side (or the largest that fits)
# mask pairs: the share of training samples that also get the project's synthetic damage over
# the user's picture (labelled with it), so the detector keeps finding it (benchmarks/finetune.py)
REHEARSAL = 0.5
LOSSES = {"restore": "L1 + MSE", "mask": "BCE-with-logits + Dice",
          "repair": "L1 inside the repaired region + 0.1 L1 overall"}
SYNTHETIC = {"restore": "engine.training.synth_docs.degrade", "mask": "engine.training.synth_damage.damage",
             "repair": "engine.training.damage.repair_sample"}


def finetune_dir(name: str) -> Path:
    """Where the run `name` keeps its best checkpoint: <user data>/finetune/NAME."""
    return user_models_dir().parent / "finetune" / name


def check_request(req: FinetuneRequest) -> tuple[ModelCard, list[TrainingPair], list[TrainingPair]]:
    """(base model card, training pairs, validation pairs), or RestoraError saying what to change."""
    card = get_card(req.model)
    if card.task not in TASKS:
        raise RestoraError(f"model {card.name!r} is a {card.task} model; fine-tuning supports "
                           f"{', '.join(TASKS)} models")
    if card.task == "restore" and card.params.get("in_channels", 1) != 1:
        raise RestoraError(f"model {card.name!r}: restore models clean the luminance and take one channel")
    if card.task == "repair" and req.degraded_dir is not None:
        raise RestoraError("a repair model is fine-tuned on clean images only (the damage is synthetic)")
    if req.steps < 1 or req.batch < 1 or (req.lr is not None and req.lr <= 0) or not 0 < req.validation_fraction < 1:
        raise RestoraError("steps and batch must be at least 1, the learning rate positive and the "
                           "validation fraction between 0 and 1")
    multiple = 2 ** card.params.get("depth", 3)     # the U-Net's input multiple
    if req.patch < multiple or req.patch % multiple:
        raise RestoraError(f"the patch size must be a multiple of {multiple} for model {card.name!r}")
    check_new_name(req.name, req.overwrite)
    train, val = split_validation(find_pairs(req.clean_dir, req.degraded_dir), req.validation_fraction)
    return card, train, val


def _load(path: Path, channels: int, as_mask: bool = False) -> np.ndarray:
    """uint8 HxWxC pixels of `path`: luminance for one channel, RGB for three; a mask as 0/255."""
    image = load_image(path)
    px = image.pixels
    if as_mask:
        level = px.mean(axis=2) * (1 if image.alpha is None else image.alpha)
        return np.where(level > 0.5, 255, 0).astype(np.uint8)[..., None]
    if channels == 1 and image.channels == 3:
        px = luminance(px)[..., None]
    elif channels == 3 and image.channels == 1:
        px = np.repeat(px, 3, axis=2)
    return to_uint8(px)


def _pad_to(a: np.ndarray, size: int) -> np.ndarray:
    """Edge-pad an HxWxC array so both sides are at least `size`."""
    h, w = a.shape[:2]
    return np.pad(a, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="edge")


class _Data:
    """Training and validation images in memory (uint8), and the samples drawn from them:
    (input HxWxC, mask HxW, target HxWxC) float32 arrays in [0, 1]."""

    def __init__(self, task: str, channels: int, pairs: list[TrainingPair], patch: int):
        self.task, self.channels = task, channels
        self.clean_only = pairs[0].degraded is None
        self.images: list[tuple[np.ndarray | None, np.ndarray]] = []
        for pair in pairs:
            target = _load(pair.clean, channels, as_mask=task == "mask" and not self.clean_only)
            source = None if self.clean_only else _load(pair.degraded, channels)
            if source is not None and source.shape[:2] != target.shape[:2]:
                raise RestoraError(f"{pair.degraded}: {source.shape[1]}x{source.shape[0]} pixels, but its partner "
                                   f"{pair.clean} has {target.shape[1]}x{target.shape[0]}")
            self.images.append((None if source is None else _pad_to(source, patch), _pad_to(target, patch)))

    def sample(self, rng: np.random.Generator, index: int, size: int, centre: bool = False,
               rehearse: bool | None = None):
        """A (size x size) sample of image `index`: a random crop with random flips, or the central crop.
        Mask pairs: `rehearse` adds the project's damage (None: to a REHEARSAL share of random crops)."""
        source, target = self.images[index]
        h, w = target.shape[:2]
        y, x = ((h - size) // 2, (w - size) // 2) if centre else \
            (int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1)))
        crops = [a[y:y + size, x:x + size] for a in (source, target) if a is not None]
        if not centre:
            if rng.random() < 0.5:
                crops = [a[:, ::-1] for a in crops]
            if rng.random() < 0.5:
                crops = [a[::-1] for a in crops]
        crops = [a.astype(np.float32) / 255 for a in crops]
        if self.task == "restore":
            clean = crops[-1]
            noisy = degrade(rng, clean[..., 0])[..., None] if self.clean_only else crops[0]
            return noisy, np.zeros((size, size), np.float32), clean
        if self.task == "mask":
            if self.clean_only:
                damaged, mask = damage(rng, crops[0])
                return damaged, mask, crops[0]
            mask = crops[1][..., 0]
            if rehearse is None:
                rehearse = not centre and rng.random() < REHEARSAL
            if rehearse:
                damaged, extra = damage(rng, crops[0])
                # validating (centre) measures the project's damage alone: the person's marks are unsure
                return damaged, np.maximum(extra, 0.5 * mask) if centre else np.maximum(mask, extra), crops[0]
            return crops[0], mask, crops[0]
        damaged, region = repair_sample(rng, crops[0])
        return damaged, region.astype(np.float32), crops[0]

    def batch(self, rng: np.random.Generator, count: int, size: int, device) -> tuple[torch.Tensor, ...]:
        """(input, mask, target) tensors Bx{C,1,C}xSxS of `count` random samples."""
        xs, ms, cs = zip(*(self.sample(rng, int(rng.integers(len(self.images))), size) for _ in range(count)))
        x = torch.from_numpy(np.ascontiguousarray(np.stack(xs))).permute(0, 3, 1, 2)
        m = torch.from_numpy(np.stack(ms))[:, None]
        c = torch.from_numpy(np.ascontiguousarray(np.stack(cs))).permute(0, 3, 1, 2)
        return x.to(device), m.to(device), c.to(device)

    def validation_set(self, seed: int, size: int, rehearse: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fixed central samples of every image in the layout the damage trainer validates on:
        uint8 inputs NxSxSxC (0-255), masks NxSxS (0/1), targets NxSxSxC (0-255)."""
        rng = np.random.default_rng(seed)   # clean-only: the same synthetic damage at every validation
        xs, ms, cs = zip(*(self.sample(rng, i, size, centre=True, rehearse=rehearse) for i in range(len(self.images))))
        to8 = lambda arrays: np.round(np.stack(arrays) * 255).astype(np.uint8)  # noqa: E731
        return to8(xs), np.round(np.stack(ms) * 2).astype(np.uint8), to8(cs)


def _network_input(task: str, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return x if task == "restore" else to_input(task, x, m)


def _loss(task: str, out: torch.Tensor, m: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    if task == "restore":
        out = out.clamp(0, 1)
        return F.l1_loss(out, c) + F.mse_loss(out, c)
    return loss_fn(task, out, m, c)


def _validate(task: str, net, val, device) -> float:
    """The task's validation metric over the fixed validation samples."""
    xs, ms, cs = val
    if task == "restore":
        return evaluate_rmse(net, list(xs[..., 0]), list(cs[..., 0]), device)
    return evaluate(task, net, val, device)[METRICS[task][0]]


@torch.inference_mode()
def _preview(task: str, net, val, device) -> tuple[np.ndarray, np.ndarray]:
    """(input, output) of the first validation sample as HxWxC float32 images: the cleaned
    page, the damage probability, or the filled image."""
    net.eval()
    x, m, c = batch_tensors(*val, np.array([0]), device)
    out = net(_network_input(task, x, m)).float()
    train_mode(net, freeze_bn=True)
    if task == "mask":
        out = torch.sigmoid(out)
    elif task == "repair":
        out = out.clamp(0, 1) * m + c * (1 - m)
    as_image = lambda t: t[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy().astype(np.float32)  # noqa: E731
    return as_image(x), as_image(out)


def _snapshot(net: torch.nn.Module) -> dict:
    """A CPU copy of the network's weights that later steps do not change."""
    return {k: v.detach().clone().cpu() for k, v in net.state_dict().items()}


def _trainable(card: ModelCard, device: torch.device) -> torch.nn.Module:
    """A trainable copy of the card's network (the registry's copy is frozen and shared). Its
    batch norm keeps the statistics of the model's own training: a few pictures of one kind
    would otherwise replace them within a few hundred steps."""
    net = copy.deepcopy(load_network(card, "cpu")).to(device).to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(True)
    train_mode(net, freeze_bn=True)
    return net


@dataclass
class _Best:
    """The best weights so far and the validation numbers that chose them."""

    metric: str
    before: float                        # the starting model's value
    value: float
    step: int                            # 0: the starting weights
    state: dict


def _save(req: FinetuneRequest, base: ModelCard, net: torch.nn.Module, best: _Best, data: dict, device: torch.device,
          steps_done: int, cancelled: bool = False, known_damage: tuple[float, float] | None = None) -> Path:
    """Export `net`, holding the best weights, as the user model `req.name` with its card;
    returns the card's path."""
    card = {
        "name": req.name, "task": base.task, "title": f"{base.title or base.name}, fine-tuned ({req.name})",
        "arch": base.arch, "params": base.params, "scale": base.scale, "channels": base.channels,
        "variant": base.variant, "autocast": base.autocast,
        "training": {
            "command": req.command_line(), "base_model": base.name, "base_sha256": base.sha256, "data": data,
            "steps": req.steps, "steps_done": steps_done, "batch": req.batch, "patch": req.patch, "lr": req.lr,
            "device": device.type, "loss": LOSSES[base.task], "best_step": best.step, "cancelled": cancelled,
            "date": time.strftime("%Y-%m-%d %H:%M"),
        },
        "benchmarks": {
            "headline": {f"validation {METRIC_LABELS[best.metric]}": round(best.value, 4),
                         "before": round(best.before, 4)},
            "validation": {"metric": best.metric, "before": best.before, "after": best.value,
                           "images": len(data["validation"])},
            **({"known_damage": {"metric": best.metric, "before": known_damage[0], "after": known_damage[1],
                                 "images": len(data["validation"])}} if known_damage else {}),
        },
    }
    weights = export_model(net, user_models_dir(), card)
    return weights.with_suffix(".json")


def _data_record(req: FinetuneRequest, task: str, train: list[TrainingPair], val: list[TrainingPair],
                 val_size: int) -> dict:
    """What the model card says about the training data."""
    return {"clean": str(req.clean_dir), "degraded": None if req.degraded_dir is None else str(req.degraded_dir),
            "synthetic_inputs": SYNTHETIC[task] if req.degraded_dir is None else None,
            "rehearsal": REHEARSAL if task == "mask" and req.degraded_dir is not None else None,
            "train": [p.stem for p in train], "validation": [p.stem for p in val],
            "validation_crop": f"central {val_size}x{val_size}"}


def finetune(req: FinetuneRequest, cancel: CancelToken | None = None) -> Generator[Progress, None, FinetuneResult]:
    """Fine-tune `req.model` into the user model `req.name`; yields FinetuneStatus, returns
    FinetuneResult. RestoraError (before any training) when the request cannot run."""
    base, train_pairs, val_pairs = check_request(req)
    task = base.task
    if req.lr is None:
        req = dataclasses.replace(req, lr=DEFAULT_LR[task])
    metric, higher_is_better = METRICS[task]
    label = METRIC_LABELS[metric]

    def status(done: int, stage: str, **numbers) -> FinetuneStatus:
        return FinetuneStatus(done, req.steps, stage, metric=metric, **numbers)

    yield status(0, f"loading {len(train_pairs) + len(val_pairs)} images")
    channels = 1 if task == "restore" else 3
    train = _Data(task, channels, train_pairs, req.patch)
    held_out = _Data(task, channels, val_pairs, req.patch)
    smallest = min(min(target.shape[:2]) for _, target in held_out.images)
    val_size = max(16, min(VAL_SIZE, smallest) // 16 * 16)
    val = held_out.validation_set(req.seed + 1, val_size)
    # mask pairs: what the fine-tune does to the kinds of damage the model found before
    known = held_out.validation_set(req.seed + 2, val_size, rehearse=True) \
        if task == "mask" and req.degraded_dir is not None else None
    data = _data_record(req, task, train_pairs, val_pairs, val_size)
    device = resolve_device(req.device)
    net = _trainable(base, device)
    yield status(0, "measuring the starting model")
    before = _validate(task, net, val, device)
    known_before = None if known is None else _validate(task, net, known, device)
    best = _Best(metric, before, before, 0, _snapshot(net))
    yield status(0, f"starting: validation {label} {before:.4g}", value=before, before=before,
                 preview=_preview(task, net, val, device))
    eval_every = req.eval_every or max(1, req.steps // 10)
    opt = torch.optim.AdamW(net.parameters(), lr=req.lr, weight_decay=0.0)
    rng = np.random.default_rng(req.seed)
    use_bf16 = uses_bf16(device)
    step = 0
    try:
        while step < req.steps:
            if cancel is not None:
                cancel.raise_if_cancelled()
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, req.steps, req.lr, warmup=max(1, req.steps // 20))
            x, m, c = train.batch(rng, req.batch, req.patch, device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                out = net(_network_input(task, x, m).contiguous(memory_format=torch.channels_last))
            loss = _loss(task, out.float(), m, c)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            value = preview = None
            if step % eval_every == 0 or step == req.steps:
                value = _validate(task, net, val, device)
                preview = _preview(task, net, val, device)
                if value > best.value if higher_is_better else value < best.value:
                    best = _Best(metric, before, value, step, _snapshot(net))
                    atomic_torch_save({"model": best.state, "step": step, metric: value, "base_model": base.name},
                                      finetune_dir(req.name) / "best.pt")
            loss_value = loss.item()
            yield status(step, f"step {step}/{req.steps}: loss {loss_value:.4g}, best validation {label} "
                               f"{best.value:.4g} (start {before:.4g})",
                         loss=loss_value, value=value, before=before, preview=preview)
    except (Cancelled, GeneratorExit, KeyboardInterrupt):
        if req.save_on_cancel and best.step > 0:
            net.load_state_dict(best.state)
            _save(req, base, net, best, data, device, step, cancelled=True)
        raise
    net.load_state_dict(best.state)
    known_damage = None if known is None else (known_before, _validate(task, net, known, device))
    path = _save(req, base, net, best, data, device, step, known_damage=known_damage)
    return FinetuneResult(req.name, path, metric, before, best.value, best.step, step, known_damage=known_damage)
