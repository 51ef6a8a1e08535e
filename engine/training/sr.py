"""Train the super-resolution generators: `faithful` with an L1 pixel loss, then
`sharp` by fine-tuning the faithful weights adversarially (SRGAN) with a
discriminator-feature-matching term in place of SRGAN's VGG loss.

    python -m engine.training.sr --scale 4 --steps 16000
    python -m engine.training.sr --scale 4 --variant sharp --init runs/sr-faithful-x4/best.pt

Data: ../shared/datasets/sr/{T91,General100,BSD200}, each picture also at 0.8 and
0.6 of its size; LR is the bicubic (antialiased) downscale, as in the benchmark
protocol; random crops, flips and 90-degree turns. Every 20th picture of each
folder (by sorted name) is held out for validation and never trained on.
Resumable: re-running a command continues from RUN/last.pt.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..device import resolve_device
from ..metrics import psnr_y
from ..nets import build
from .common import Checkpoints, CsvLog, cosine_lr, export_model, uses_bf16

FOLDERS = ("T91", "General100", "BSD200")
ARCH = {"arch": "srgenerator", "params": {"width": 48, "blocks": 8}}
DISC = {"width": 32, "stages": 4}
SIZES = (1.0, 0.8, 0.6)


def picture_paths(root: str | Path) -> tuple[list[Path], list[Path]]:
    """(train, validation) picture paths: every 20th of each folder is validation."""
    train, val = [], []
    for folder in FOLDERS:
        paths = sorted(p for p in (Path(root) / folder).iterdir()
                       if p.suffix.lower() in (".png", ".bmp", ".jpg", ".jpeg"))
        for i, p in enumerate(paths):
            (val if i % 20 == 0 else train).append(p)
    return train, val


def load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def hr_lr(img: Image.Image, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The HR picture cropped to a multiple of `scale` and its bicubic LR, both uint8 HxWx3."""
    w, h = img.width // scale * scale, img.height // scale * scale
    hr = img.crop((0, 0, w, h))
    lr = hr.resize((w // scale, h // scale), Image.BICUBIC)
    return np.asarray(hr), np.asarray(lr)


def training_pairs(paths: list[Path], scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for p in paths:
        img = load_rgb(p)
        for f in SIZES:
            sized = img if f == 1.0 else img.resize((round(img.width * f), round(img.height * f)), Image.BICUBIC)
            pairs.append(hr_lr(sized, scale))
    return pairs


def make_batch(rng, pairs, weights, batch: int, lr_patch: int, scale: int):
    """(LR, HR) float tensors Bx3xPxP and Bx3x(sP)x(sP), random crops in one of 8 orientations."""
    xs, ys = [], []
    idx = rng.choice(len(pairs), size=batch, p=weights)
    for i in idx:
        hr, lr = pairs[i]
        h, w = lr.shape[:2]
        y, x = int(rng.integers(0, h - lr_patch + 1)), int(rng.integers(0, w - lr_patch + 1))
        a = lr[y:y + lr_patch, x:x + lr_patch]
        b = hr[y * scale:(y + lr_patch) * scale, x * scale:(x + lr_patch) * scale]
        k = int(rng.integers(4))
        a, b = np.rot90(a, k), np.rot90(b, k)
        if rng.random() < 0.5:
            a, b = a[:, ::-1], b[:, ::-1]
        xs.append(a)
        ys.append(b)
    to_t = lambda arr: torch.from_numpy(np.stack(arr).astype(np.float32) / 255).permute(0, 3, 1, 2)  # noqa: E731
    return to_t(xs), to_t(ys)


@torch.inference_mode()
def super_resolve(net, lr: np.ndarray, device, mixed: bool = False) -> np.ndarray:
    """One uint8 LR picture through the generator, whole -> float RGB in [0, 1]."""
    x = torch.from_numpy(lr.astype(np.float32) / 255).permute(2, 0, 1)[None].to(device)
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed):
        y = net(x)
    return y[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def evaluate(net, pairs, scale: int, device) -> float:
    """Mean Y-PSNR over the validation pictures."""
    net.eval()
    out = float(np.mean([psnr_y(super_resolve(net, lr, device), hr.astype(np.float32) / 255, scale)
                         for hr, lr in pairs]))
    net.train()
    return out


def gan_losses(gen, disc, x, y, fm_weight: float, adv_weight: float):
    """(generator loss, discriminator loss) for one batch: L1 + feature matching on the
    discriminator's intermediate maps + the non-saturating adversarial term."""
    fake = gen(x).float()
    feats_fake = disc.features(fake)
    with torch.no_grad():
        feats_real = disc.features(y)
    logit_fake = disc.classifier(feats_fake[-1])
    fm = sum(F.l1_loss(a, b) for a, b in zip(feats_fake, feats_real)) / len(feats_fake)
    g_loss = (F.l1_loss(fake, y) + fm_weight * fm
              + adv_weight * F.binary_cross_entropy_with_logits(logit_fake, torch.ones_like(logit_fake)))
    d_real, d_fake = disc(y), disc(fake.detach())
    d_loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
              + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    return g_loss, d_loss


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/datasets/sr")
    ap.add_argument("--scale", type=int, choices=(2, 4), default=4)
    ap.add_argument("--variant", choices=("faithful", "sharp"), default="faithful")
    ap.add_argument("--run", default=None, help="checkpoints and logs (default runs/sr-VARIANT-xSCALE)")
    ap.add_argument("--steps", type=int, default=16000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=0, help="LR patch size (default 48 at x4, 64 at x2)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--fm-weight", type=float, default=1.0, help="sharp: feature-matching weight")
    ap.add_argument("--adv-weight", type=float, default=5e-3, help="sharp: adversarial weight")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--init", default=None, help="start from this checkpoint's generator (a new schedule); "
                                                 "its tail is skipped when its scale differs")
    ap.add_argument("--export", default="resources/models", help="where the best model is exported at the end")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name = f"sr-{args.variant}-x{args.scale}"
    run = Path(args.run or f"runs/{name}")
    patch = args.patch or (48 if args.scale == 4 else 64)
    sharp = args.variant == "sharp"

    train_paths, val_paths = picture_paths(args.data)
    pairs = [(hr, lr) for hr, lr in training_pairs(train_paths, args.scale) if min(lr.shape[:2]) >= patch]
    areas = np.array([lr.shape[0] * lr.shape[1] for _, lr in pairs], np.float64)
    weights = areas / areas.sum()
    val = [hr_lr(load_rgb(p), args.scale) for p in val_paths]
    print(f"{len(train_paths)} training pictures ({len(pairs)} with the smaller sizes), "
          f"{len(val_paths)} validation", file=sys.stderr)

    gen = build(ARCH["arch"], scale=args.scale, **ARCH["params"]).to(device).to(memory_format=torch.channels_last)
    disc = build("discriminator", **DISC).to(device).to(memory_format=torch.channels_last) if sharp else None
    params = list(gen.parameters())
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.5, 0.99)) if sharp else None
    ckpts = Checkpoints(run, vars(args), args.init)
    if ckpts.init_model:
        own = gen.state_dict()
        usable = {k: v for k, v in ckpts.init_model.items() if k in own and own[k].shape == v.shape}
        gen.load_state_dict(usable, strict=False)
        print(f"initialised {len(usable)}/{len(own)} tensors from {args.init}", file=sys.stderr)
    state = dict(model=gen, opt=opt, disc=disc, opt_d=opt_d) if sharp else dict(model=gen, opt=opt)
    step, best = ckpts.resume(**state) or (0, -float("inf"))
    rng = np.random.default_rng(2000 + step)
    log = CsvLog(run / "log.csv", ["step", "lr", "loss", "d_loss", "val_psnr", "sec_per_step"])
    mixed = uses_bf16(device)
    gen.train()
    t0, losses, d_losses = time.time(), [], []
    while step < args.steps:
        lr = cosine_lr(step, args.steps, args.lr, warmup=0 if sharp else 300)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = make_batch(rng, pairs, weights, args.batch, patch, args.scale)
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        y = y.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed):
            if sharp:
                loss, d_loss = gan_losses(gen, disc, x, y, args.fm_weight, args.adv_weight)
            else:
                loss = F.l1_loss(gen(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sharp:
            for g in opt_d.param_groups:
                g["lr"] = lr
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            d_losses.append(d_loss.item())
        losses.append(loss.item())
        step += 1
        if step % args.eval_every == 0 or step == args.steps:
            psnr = evaluate(gen, val, args.scale, device)
            # the sharp variant is kept at its last step: its PSNR is bound to fall a little
            if psnr > best or sharp:
                best = psnr
                ckpts.save_best(gen, step, val_psnr=psnr)
            log.write(step=step, lr=lr, loss=float(np.mean(losses)),
                      d_loss=float(np.mean(d_losses)) if d_losses else "", val_psnr=psnr,
                      sec_per_step=(time.time() - t0) / len(losses))
            losses, d_losses, t0 = [], [], time.time()
            ckpts.save_last(step, best, **state)
    best_ckpt = ckpts.load_best(gen)
    loss_text = ("L1" if not sharp else
                 f"L1 + {args.fm_weight} x discriminator feature matching (L1 between the discriminator's "
                 f"intermediate maps of the output and of the HR picture; no pretrained VGG is available) "
                 f"+ {args.adv_weight} x adversarial (non-saturating BCE)")
    card = {
        "name": name, "task": "upscale", "variant": args.variant, "scale": args.scale, "channels": 3,
        "title": f"Super-resolution x{args.scale} ({args.variant})",
        "arch": ARCH["arch"], "params": dict(ARCH["params"], scale=args.scale), "autocast": True,
        "training": {
            "command": f"make train-sr (python -m engine.training.sr --scale {args.scale} --variant {args.variant})",
            "data": f"{len(train_paths)} pictures of {', '.join(FOLDERS)} at sizes {SIZES}; validation: "
                    f"{len(val_paths)} held-out pictures (every 20th of each folder by name)",
            "phases": best_ckpt["history"], "loss": loss_text,
            "best_step": best_ckpt["step"], "val_psnr_y_at_export": round(best_ckpt["val_psnr"], 3),
            "discriminator": DISC if sharp else None,
        },
    }
    path = export_model(gen, args.export, card)
    print(f"exported {path} (val PSNR {best_ckpt['val_psnr']:.3f} dB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
