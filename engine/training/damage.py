"""Train the damage models on synthetic damage over clean pictures:

    python -m engine.training.damage --task mask     # segmentation U-Net (BCE + Dice)
    python -m engine.training.damage --task repair   # inpainting U-Net (image + mask -> fill)

Clean pictures: T91, General100, BSD200 and the clean document pages. Every 10th
picture (by sorted path) is held out for validation and never trained on; the
validation set is a fixed, seeded set of damaged crops of those pictures.
Resumable: re-running continues from runs/<task>/last.pt.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..device import resolve_device
from ..nets import build
from .common import CsvLog, atomic_torch_save, cosine_lr, export_model, load_checkpoint
from .synth_damage import damage, holes_mask

SOURCES = ("sr/T91", "sr/General100", "sr/BSD200", "docs/dirty/train_cleaned")
ARCH = {
    "mask": {"arch": "unet", "params": {"in_channels": 3, "out_channels": 1, "width": 16, "depth": 4,
                                        "max_width": 256, "norm": "batch", "residual": False}},
    "repair": {"arch": "unet", "params": {"in_channels": 4, "out_channels": 3, "width": 16, "depth": 4,
                                          "max_width": 256, "norm": "batch", "residual": False}},
}
NAMES = {"mask": "damage-unet", "repair": "repair-unet"}


def picture_paths(datasets: Path) -> tuple[list[Path], list[Path]]:
    """(train, validation) clean pictures: every 10th of each source, by sorted name, is held out."""
    train, val = [], []
    for src in SOURCES:
        files = sorted(p for p in (datasets / src).iterdir() if p.suffix.lower() in (".png", ".bmp", ".jpg"))
        for i, p in enumerate(files):
            (val if i % 10 == 0 else train).append(p)
    return train, val


def load_rgb(paths: list[Path], min_side: int) -> list[np.ndarray]:
    """uint8 HxWx3 arrays, skipping pictures smaller than `min_side`."""
    from PIL import Image

    out = []
    for p in paths:
        a = np.asarray(Image.open(p).convert("RGB"))
        if min(a.shape[:2]) >= min_side:
            out.append(a)
    return out


def _crop(rng, img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    c = img[y:y + size, x:x + size]
    if rng.random() < 0.5:
        c = c[:, ::-1]
    if rng.random() < 0.3:
        c = np.rot90(c)
    return np.ascontiguousarray(c)


def make_pool(rng, pictures: list[np.ndarray], n: int, size: int, task: str):
    """n samples (input uint8 HxWx3, mask uint8 HxW, clean uint8 HxWx3) of synthetic damage."""
    xs = np.empty((n, size, size, 3), np.uint8)
    ms = np.empty((n, size, size), np.uint8)
    cs = np.empty((n, size, size, 3), np.uint8)
    t0 = time.time()
    for i in range(n):
        clean = _crop(rng, pictures[int(rng.integers(len(pictures)))], size)
        if task == "mask":
            damaged, mask = damage(rng, clean.astype(np.float32) / 255)
            xs[i] = np.round(damaged * 255)
        else:
            mask = holes_mask(rng, size, size)
            xs[i] = clean
        ms[i] = mask > 0.5
        cs[i] = clean
        if i % 1000 == 0:
            print(f"{task} pool {i}/{n} ({time.time() - t0:.0f}s)", file=sys.stderr, flush=True)
    return xs, ms, cs


def to_input(task: str, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Network input: the damaged image (mask), or the image with holes blanked + the hole mask (repair)."""
    if task == "mask":
        return x
    return torch.cat([x * (1 - m), m], dim=1)


def batch_tensors(xs, ms, cs, idx, device):
    x = torch.from_numpy(xs[idx]).permute(0, 3, 1, 2).float().div(255)
    m = torch.from_numpy(ms[idx]).float()[:, None]
    c = torch.from_numpy(cs[idx]).permute(0, 3, 1, 2).float().div(255)
    return x.to(device), m.to(device), c.to(device)


def loss_fn(task: str, out, m, c):
    if task == "mask":
        prob = torch.sigmoid(out)
        inter = (prob * m).sum((1, 2, 3))
        dice = 1 - (2 * inter + 1) / (prob.sum((1, 2, 3)) + m.sum((1, 2, 3)) + 1)
        return F.binary_cross_entropy_with_logits(out, m) + dice.mean()
    # the fill matters inside the hole; a little weight outside keeps the output calibrated
    err = (out - c).abs()
    return (err * m).sum() / m.sum().clamp(min=1) + 0.1 * err.mean()


@torch.inference_mode()
def evaluate(task: str, net, val, device) -> dict:
    """mask: mean IoU per image (an empty truth and empty prediction count as 1); repair: PSNR in the hole."""
    net.eval()
    xs, ms, cs = val
    scores = []
    for i in range(0, len(xs), 16):
        idx = np.arange(i, min(i + 16, len(xs)))
        x, m, c = batch_tensors(xs, ms, cs, idx, device)
        out = net(to_input(task, x, m)).float()
        if task == "mask":
            pred = out > 0
            truth = m > 0.5
            inter = (pred & truth).sum((1, 2, 3)).float()
            union = (pred | truth).sum((1, 2, 3)).float()
            scores += torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).tolist()
        else:
            fill = out.clamp(0, 1)
            se = ((fill - c) ** 2 * m).sum((1, 2, 3)) / (m.sum((1, 2, 3)) * 3).clamp(min=1)
            scores += (10 * torch.log10(1 / se.clamp(min=1e-10))).tolist()
    net.train()
    return {"iou" if task == "mask" else "psnr_hole": float(np.mean(scores))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=("mask", "repair"), required=True)
    ap.add_argument("--datasets", default="../shared/datasets")
    ap.add_argument("--run", default=None, help="checkpoints and logs (default runs/<task>)")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--pool", type=int, default=6000, help="synthetic samples, regenerated each `--refresh` steps")
    ap.add_argument("--refresh", type=int, default=2000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--val", type=int, default=200, help="fixed validation samples (256x256)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--export", default="resources/models")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    task, device = args.task, resolve_device(args.device)
    run = Path(args.run or f"runs/{task}")
    train_paths, val_paths = picture_paths(Path(args.datasets))
    pictures = load_rgb(train_paths, args.patch)
    val = make_pool(np.random.default_rng(12345), load_rgb(val_paths, 256), args.val, 256, task)

    spec = ARCH[task]
    net = build(spec["arch"], **spec["params"]).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    ckpt = load_checkpoint(run / "last.pt")
    step, best = 0, -float("inf")
    if ckpt:
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        step, best = ckpt["step"], ckpt["best"]
        print(f"resumed at step {step} (best {best:.4f})", file=sys.stderr)
    metric = "iou" if task == "mask" else "psnr_hole"
    log = CsvLog(run / "log.csv", ["step", "lr", "loss", metric, "sec_per_step"])
    pool = None
    net.train()
    t0, losses = time.time(), []
    while step < args.steps:
        if pool is None or step % args.refresh == 0:
            pool = make_pool(np.random.default_rng(step + 1), pictures, args.pool, args.patch, task)
        rng = np.random.default_rng(10_000_000 + step)
        lr = cosine_lr(step, args.steps, args.lr, warmup=200)
        for g in opt.param_groups:
            g["lr"] = lr
        x, m, c = batch_tensors(*pool, rng.integers(0, len(pool[0]), args.batch), device)
        inp = to_input(task, x, m).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = net(inp)
        loss = loss_fn(task, out.float(), m, c)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % args.eval_every == 0 or step == args.steps:
            score = evaluate(task, net, val, device)[metric]
            if score > best:
                best = score
                atomic_torch_save({"model": net.state_dict(), "step": step, metric: score}, run / "best.pt")
            log.write(step=step, lr=lr, loss=float(np.mean(losses)), **{metric: score},
                      sec_per_step=(time.time() - t0) / len(losses))
            losses, t0 = [], time.time()
            atomic_torch_save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step, "best": best},
                              run / "last.pt")
    best_ckpt = load_checkpoint(run / "best.pt")
    net.load_state_dict(best_ckpt["model"])
    card = {
        "name": NAMES[task], "task": task, **spec, "scale": 1, "channels": 3, "autocast": True,
        "title": "Damage segmentation U-Net" if task == "mask" else "Damage repair (inpainting) U-Net",
        "training": {
            "command": f"make train-damage (python -m engine.training.damage --task {task})",
            "data": f"synthetic damage (engine/training/synth_damage.py) over {len(pictures)} clean pictures "
                    f"from {', '.join(SOURCES)}; every 10th picture held out for validation",
            "steps": args.steps, "batch": args.batch, "patch": args.patch, "lr": args.lr,
            "loss": "BCE-with-logits + Dice" if task == "mask" else "L1 inside the hole + 0.1 L1 overall",
            "best_step": best_ckpt["step"], f"val_{metric}_at_export": best_ckpt[metric],
        },
    }
    path = export_model(net, args.export, card)
    print(f"exported {path} ({metric} {best_ckpt[metric]:.4f})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
