"""Train the document-restoration U-Net on the real Kaggle pairs plus synthetic pages.

    python -m engine.training.restore --data ../shared/datasets/docs/dirty --steps 8000
    python -m engine.training.restore --run runs/restore-ft --init runs/restore/best.pt \
        --real-frac 1.0 --patch 256 --batch 8 --lr 3e-4 --steps 2000
    python -m engine.training.restore --run runs/restore-scale --init runs/restore-ft/best.pt \
        --real-frac 1.0 --patch 256 --batch 8 --lr 3e-4 --steps 2000 --scale-max 3

The second phase fine-tunes the first's best weights on whole-page-sized crops
of the real pairs; the third shows half of them enlarged up to 3 times, since a
page scanned at 300 dpi shows its text and stains two to three times larger than
the Kaggle pages (about 130 dpi) do, and a network that never saw that thins the
strokes (benchmarks/doc_restore.py, pages enlarged 2 and 3 times). Resumable:
re-running a command continues from RUN/last.pt.
The validation pairs (every 6th real pair by sorted name) are never trained on.
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
from .common import Checkpoints, CsvLog, cosine_lr, enlarged, export_model, uses_bf16
from .synth_docs import synth_page

ARCH = {"arch": "unet", "params": {"in_channels": 1, "out_channels": 1, "width": 16, "depth": 4,
                                   "max_width": 256, "norm": "batch", "residual": True}}
SYNTH_SIZE = 256


def real_pairs(root: str | Path) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Sorted names with (noisy, clean) uint8 arrays from root/train and root/train_cleaned."""
    from PIL import Image

    root = Path(root)
    names = sorted(p.name for p in (root / "train").iterdir() if p.suffix.lower() == ".png")
    noisy = [np.asarray(Image.open(root / "train" / n).convert("L")) for n in names]
    clean = [np.asarray(Image.open(root / "train_cleaned" / n).convert("L")) for n in names]
    return names, noisy, clean


def split_indices(n: int) -> tuple[list[int], list[int]]:
    """(train, validation) indices: every 6th pair is held out for validation."""
    val = [i for i in range(n) if i % 6 == 0]
    return [i for i in range(n) if i % 6 != 0], val


def validation_pairs(root: str | Path) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """The held-out real pairs (shared with benchmarks/doc_restore.py)."""
    names, noisy, clean = real_pairs(root)
    _, val = split_indices(len(names))
    return [names[i] for i in val], [noisy[i] for i in val], [clean[i] for i in val]


def synth_pool(n: int, seed: int, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """n synthetic (dirty, clean) uint8 pages, cached on disk between runs."""
    path = cache_dir / f"synth_docs_s{seed}_n{n}_{SYNTH_SIZE}.npz"
    if path.exists():
        z = np.load(path)
        return z["dirty"], z["clean"]
    rng = np.random.default_rng(seed)
    dirty = np.empty((n, SYNTH_SIZE, SYNTH_SIZE), np.uint8)
    clean = np.empty_like(dirty)
    t0 = time.time()
    for i in range(n):
        d, c = synth_page(rng, SYNTH_SIZE)
        dirty[i] = np.round(d * 255)
        clean[i] = np.round(c * 255)
        if i % 200 == 0:
            print(f"synthetic pages {i}/{n} ({time.time() - t0:.0f}s)", file=sys.stderr, flush=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(path, dirty=dirty, clean=clean)
    return dirty, clean


def _crop(rng, a: np.ndarray, b: np.ndarray, size: int):
    h, w = a.shape
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    a, b = a[y:y + size, x:x + size], b[y:y + size, x:x + size]
    if rng.random() < 0.5:
        a, b = a[:, ::-1], b[:, ::-1]
    if rng.random() < 0.5:
        a, b = a[::-1], b[::-1]
    return a, b


def make_batch(rng, real, synth, batch: int, size: int, real_frac: float, scale_max: float = 1.0):
    """A float tensor pair (noisy, clean) of shape Bx1xSxS. With `scale_max` > 1, half the
    crops show the page enlarged 1 to `scale_max` times (a smaller crop, enlarged), as a
    scan at 250-400 dpi shows text and stains larger than the Kaggle pages (130 dpi) do."""
    xs, ys = [], []
    for _ in range(batch):
        src = real if rng.random() < real_frac else synth
        i = int(rng.integers(len(src[0])))
        k = rng.uniform(1.0, scale_max) if scale_max > 1 and rng.random() < 0.5 else 1.0
        a, b = _crop(rng, src[0][i], src[1][i], round(size / k))
        if a.shape[0] != size:
            a, b = enlarged(a, (size, size)), enlarged(b, (size, size))
        xs.append(a)
        ys.append(b)
    to_t = lambda arr: torch.from_numpy(np.stack(arr).astype(np.float32) / 255)[:, None]  # noqa: E731
    return to_t(xs), to_t(ys)


@torch.inference_mode()
def evaluate_rmse(net, noisy: list[np.ndarray], clean: list[np.ndarray], device) -> float:
    """Pixel RMSE over whole validation pages (padded to the network's multiple)."""
    net.eval()
    se, count = 0.0, 0
    m = net.multiple
    for a, b in zip(noisy, clean):
        h, w = a.shape
        x = torch.from_numpy(a.astype(np.float32) / 255)[None, None].to(device)
        x = F.pad(x, (0, (-w) % m, 0, (-h) % m), mode="replicate")
        y = net(x)[0, 0, :h, :w].clamp(0, 1).float().cpu().numpy()
        se += float(((y - b.astype(np.float32) / 255) ** 2).sum())
        count += h * w
    net.train()
    return (se / count) ** 0.5


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/datasets/docs/dirty", help="folder with train/ and train_cleaned/")
    ap.add_argument("--run", default="runs/restore", help="checkpoints and logs go here")
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--synth", type=int, default=1500, help="number of synthetic pages")
    ap.add_argument("--real-frac", type=float, default=0.6)
    ap.add_argument("--scale-max", type=float, default=1.0,
                    help="half the crops show the page enlarged up to this many times (see make_batch); the "
                         "best checkpoint is then the one with the lowest mean RMSE on the validation pages "
                         "as they are and enlarged twice")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--init", default=None, help="start from this checkpoint's weights (a new schedule)")
    ap.add_argument("--export", default="resources/models", help="where the best model is exported at the end")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    run = Path(args.run)

    names, noisy, clean = real_pairs(args.data)
    tr, va = split_indices(len(names))
    real = ([noisy[i] for i in tr], [clean[i] for i in tr])
    val = ([noisy[i] for i in va], [clean[i] for i in va])
    val_2x = tuple([enlarged(a, (2 * a.shape[1], 2 * a.shape[0])) for a in pages] for pages in val)
    synth = synth_pool(args.synth, seed=1, cache_dir=Path("build/cache"))

    net = build(ARCH["arch"], **ARCH["params"]).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    ckpts = Checkpoints(run, vars(args), args.init)
    if ckpts.init_model:
        net.load_state_dict(ckpts.init_model)
    step, best = ckpts.resume(model=net, opt=opt) or (0, float("inf"))
    rng = np.random.default_rng(1000 + step)
    log = CsvLog(run / "log.csv", ["step", "lr", "loss", "val_rmse", "val_rmse_2x", "sec_per_step"])
    use_bf16 = uses_bf16(device)
    net.train()
    t0, losses = time.time(), []
    while step < args.steps:
        lr = cosine_lr(step, args.steps, args.lr, warmup=200)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = make_batch(rng, real, synth, args.batch, args.patch, args.real_frac, args.scale_max)
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        y = y.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            out = net(x)
        out = out.float().clamp(0, 1)
        loss = F.l1_loss(out, y) + F.mse_loss(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % args.eval_every == 0 or step == args.steps:
            rmse, rmse_2x = evaluate_rmse(net, *val, device), evaluate_rmse(net, *val_2x, device)
            score = (rmse + rmse_2x) / 2 if args.scale_max > 1 else rmse
            if score < best:
                best = score
                ckpts.save_best(net, step, val_rmse=rmse, val_rmse_2x=rmse_2x)
            log.write(step=step, lr=lr, loss=float(np.mean(losses)), val_rmse=rmse, val_rmse_2x=rmse_2x,
                      sec_per_step=(time.time() - t0) / len(losses))
            losses, t0 = [], time.time()
            ckpts.save_last(step, best, model=net, opt=opt)
    best_ckpt = ckpts.load_best(net)
    card = {
        "name": "document-unet", "task": "restore", "title": "Document restoration U-Net",
        **ARCH, "scale": 1, "channels": 1, "autocast": True,
        "training": {
            "command": "make train-restore",
            "data": f"{len(tr)} real pairs of Kaggle 'Denoising Dirty Documents' (validation: "
                    f"{len(va)} held-out pairs, every 6th by name) + {args.synth} synthetic pages "
                    f"(engine/training/synth_docs.py)",
            "phases": best_ckpt["history"],
            "loss": "L1 + MSE", "best_step": best_ckpt["step"], "val_rmse_at_export": best_ckpt["val_rmse"],
            "val_rmse_2x_at_export": best_ckpt.get("val_rmse_2x"),
            "validation_names": [names[i] for i in va],
        },
    }
    path = export_model(net, args.export, card)
    print(f"exported {path} (val RMSE {best_ckpt['val_rmse']:.5f})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
