"""Train the damage models on synthetic damage over clean pictures:

    python -m engine.training.damage --task mask     # segmentation U-Net (BCE + Dice)
    python -m engine.training.damage --task repair   # repair U-Net (damaged image + mask -> clean)

Clean pictures: T91, General100, BSD200 and the clean document pages, P_AGED of
them first aged like an old print (synth_damage.age: toned, faded), damaged whole
and cut into training crops. Every 10th picture (by sorted path) is held out for
validation and never trained on; the validation set is a fixed, seeded set of
crops of those pictures, damaged the same way.
Resumable: re-running continues from runs/<task>/last.pt.

The segmenter learns the generator's visible damage; its "unsure" pixels (faint
change, the 1-pixel ring around damage) count neither way in the loss nor in the
validation IoU. The repair network sees the damaged picture itself plus the mask,
so it can take a stain's tint off or restore a crease rather than invent what is
under it; where the damage replaced the content (holes, ink, opaque scratches) it
inpaints. It trains on the generator's damage with its mask (the visible part, or
visible + unsure, at random) and on random damage-like masks over flat fills.
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..device import resolve_device
from ..morphology import grow_mask
from ..nets import build
from .common import Checkpoints, CsvLog, cosine_lr, enlarged, export_model, uses_bf16
from .synth_damage import age, damage, holes_mask
from .synth_docs import smooth_field

SOURCES = ("sr/T91", "sr/General100", "sr/BSD200", "docs/dirty/train_cleaned")
ARCH = {
    "mask": {"arch": "unet", "params": {"in_channels": 3, "out_channels": 1, "width": 16, "depth": 4,
                                        "max_width": 256, "norm": "batch", "residual": False}},
    "repair": {"arch": "fillunet", "params": {"width": 16, "depth": 4, "max_width": 256, "norm": "batch"}},
}
NAMES = {"mask": "damage-unet", "repair": "repair-unet"}
P_AGED = 0.35       # share of clean pictures first aged (toned, faded) like an old print
CROPS_PER_PICTURE = 2   # training crops cut from each damaged picture (default of --crops)


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


def _crop_box(rng, shape, size: int) -> tuple[slice, slice]:
    h, w = shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return slice(y, y + size), slice(x, x + size)


def repair_sample(rng, clean: np.ndarray, p_loose: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(damaged float HxWx3, region to repair HxW bool) for the repair network. `p_loose`
    of the regions are grown by 1-8 px, as a hand-painted mask or a Heal Brush stroke
    covers some intact pixels around the damage, which the network should then keep."""
    if rng.random() < 0.2:          # a mask of any damage-like shape over a flat, noisy fill
        h, w = clean.shape[:2]
        region = holes_mask(rng, h, w) > 0.5
        fill = rng.uniform(0, 1, 3) + rng.normal(0, rng.uniform(0, 0.05), (h, w, 3))
        damaged = np.where(region[..., None], np.clip(fill, 0, 1), clean).astype(np.float32)
    else:
        damaged, mask = damage(rng, clean)
        region = mask > 0.75 if rng.random() < 0.5 else mask > 0.25
    if p_loose and rng.random() < p_loose:
        region = grow_mask(region, int(rng.integers(1, 9)))
    return damaged, region


def recolour(rng, clean: np.ndarray) -> np.ndarray:
    """The picture with its hues rotated by a random angle about the grey axis and its
    saturation scaled: a brown board or an orange truck can then be any colour, so the
    detector cannot take a colour for a stain."""
    theta = rng.uniform(0, 2 * np.pi)
    k = np.full(3, 1 / np.sqrt(3))
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rot = np.cos(theta) * np.eye(3) + np.sin(theta) * cross + (1 - np.cos(theta)) * np.outer(k, k)
    grey = clean.mean(axis=2, keepdims=True)
    out = grey + rng.uniform(0.6, 1.4) * (clean @ rot.T.astype(np.float32) - grey)
    return np.clip(out, 0, 1).astype(np.float32)


def shade(rng, clean: np.ndarray) -> np.ndarray:
    """The picture under uneven, tinted light: a smooth random gain, a few cells across,
    on its brightness and a little on each colour. Soft shadows, vignettes and coloured
    light are the picture, not damage, yet the detectors trained so far mark some of it
    (docs/damage-training.md)."""
    h, w = clean.shape[:2]
    cells = int(rng.integers(2, 6))
    gain = 1 + rng.uniform(0.1, 0.35) * smooth_field(rng, h, w, cells)[..., None]
    tint = 1 + rng.uniform(0.0, 0.15) * np.stack([smooth_field(rng, h, w, cells) for _ in range(3)], axis=2)
    return np.clip(clean * gain * tint, 0, 1).astype(np.float32)


def enlarge(rng, clean: np.ndarray) -> np.ndarray:
    """The picture enlarged 1.5-4 times (bicubic), as a scan at a higher resolution shows
    it: the damage then drawn over it is sized by the larger picture, so its creases,
    stains and holes are several times wider than on the picture itself, as on a scan of
    several megapixels (docs/damage-training.md, "Repair at scan size")."""
    h, w = clean.shape[:2]
    k = rng.uniform(1.5, 4.0)
    return enlarged(np.round(clean * 255).astype(np.uint8), (round(w * k), round(h * k))).astype(np.float32) / 255


def make_pool(rng, pictures: list[np.ndarray], n: int, size: int, task: str, crops: int = CROPS_PER_PICTURE,
              p_recolour: float = 0.0, p_shade: float = 0.0, p_loose: float = 0.0, p_enlarge: float = 0.0):
    """n samples (input uint8 HxWx3, mask uint8 HxW, clean uint8 HxWx3) of synthetic damage;
    the mask is stored doubled: 0/1/2 = clean/unsure/damaged (task mask), 0/2 = keep/repair.
    `p_recolour` of the clean pictures are first recoloured (`recolour`), `p_shade` shaded (`shade`);
    `p_loose` of the repair regions are grown (`repair_sample`); `p_enlarge` of the pictures
    are enlarged first (`enlarge`; as many more crops are cut from them as they are times larger).

    The damage is drawn over the whole picture and then cropped (`crops` crops of `size`
    from each), so it has the scale it has on a whole photo: the generator
    sizes holes, stains, tears and creases by the picture's shorter side, and a 128 px
    crop damaged on its own would only ever see small ones."""
    xs = np.empty((n, size, size, 3), np.uint8)
    ms = np.empty((n, size, size), np.uint8)
    cs = np.empty((n, size, size, 3), np.uint8)
    t0, i = time.time(), 0
    while i < n:
        clean = pictures[int(rng.integers(len(pictures)))].astype(np.float32) / 255
        if p_recolour and rng.random() < p_recolour:
            clean = recolour(rng, clean)
        if p_shade and rng.random() < p_shade:
            clean = shade(rng, clean)
        if rng.random() < P_AGED:
            clean = age(rng, clean)
        cuts = crops
        if p_enlarge and rng.random() < p_enlarge:
            big = enlarge(rng, clean)
            cuts, clean = crops * round(big.shape[0] / clean.shape[0]), big
        if task == "mask":
            damaged, mask = damage(rng, clean)
            mask = np.round(mask * 2)
        else:
            damaged, region = repair_sample(rng, clean, p_loose)
            mask = region * 2
        damaged, clean = (np.round(a * 255).astype(np.uint8) for a in (damaged, clean))
        for _ in range(min(cuts, n - i)):
            box = _crop_box(rng, clean.shape, size)
            xs[i], ms[i], cs[i] = damaged[box], mask[box], clean[box]
            i += 1
            if i % 1000 == 0:
                print(f"{task} pool {i}/{n} ({time.time() - t0:.0f}s)", file=sys.stderr, flush=True)
    return xs, ms, cs


_PICTURES: list[np.ndarray] = []     # the training pictures, inherited by forked pool workers


def _pool_part(job):
    seed, n, *pool_args = job
    return make_pool(np.random.default_rng(seed), _PICTURES, n, *pool_args)


class PoolMaker:
    """Training pools of synthetic damage. With workers, the next pool is generated in
    background processes while the GPU trains on the current one, and swapped in as soon
    as it is ready; without, a new pool is made every `refresh` steps."""

    def __init__(self, pictures, n: int, size: int, task: str, workers: int, crops: int = CROPS_PER_PICTURE,
                 p_recolour: float = 0.0, p_shade: float = 0.0, p_loose: float = 0.0, p_enlarge: float = 0.0):
        global _PICTURES
        self.n, self.workers = n, workers
        self.pool_args = (size, task, crops, p_recolour, p_shade, p_loose, p_enlarge)   # make_pool's arguments after n
        self.pictures, self.pending = pictures, None
        if workers:     # fork before CUDA starts; the children only run numpy
            _PICTURES = pictures
            self.procs = multiprocessing.get_context("fork").Pool(workers)

    def _jobs(self, seed: int):
        k = self.workers
        return [(seed * 1000 + j, self.n // k + (j < self.n % k), *self.pool_args) for j in range(k)]

    def first(self, seed: int):
        if not self.workers:
            return make_pool(np.random.default_rng(seed), self.pictures, self.n, *self.pool_args)
        pool = self._join(self.procs.map(_pool_part, self._jobs(seed)))
        self.pending = self.procs.map_async(_pool_part, self._jobs(seed + 1))
        return pool

    def refreshed(self, pool, step: int, refresh: int):
        """The pool to train on at `step`: `pool`, or a fresh one."""
        if not self.workers:
            return self.first(step + 1) if step % refresh == 0 else pool
        if not self.pending.ready():
            return pool
        fresh = self._join(self.pending.get())
        self.pending = self.procs.map_async(_pool_part, self._jobs(step + 1))
        return fresh

    @staticmethod
    def _join(parts):
        return tuple(np.concatenate(a) for a in zip(*parts))


def to_input(task: str, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Network input: the damaged image (mask), or the damaged image + the region to repair (repair)."""
    return x if task == "mask" else torch.cat([x, m], dim=1)


def batch_tensors(xs, ms, cs, idx, device):
    x = torch.from_numpy(xs[idx]).to(device).permute(0, 3, 1, 2).float().div(255)
    m = torch.from_numpy(ms[idx]).to(device).float()[:, None] / 2
    c = torch.from_numpy(cs[idx]).to(device).permute(0, 3, 1, 2).float().div(255)
    return x, m, c


def loss_fn(task: str, out, m, c):
    if task == "mask":       # m: 0 / 0.5 / 1 = clean / unsure / damaged; unsure pixels are ignored
        valid, truth = (m != 0.5).float(), (m > 0.75).float()
        bce = F.binary_cross_entropy_with_logits(out, truth, weight=valid, reduction="sum") / valid.sum().clamp(min=1)
        prob = torch.sigmoid(out) * valid
        inter = (prob * truth).sum((1, 2, 3))
        dice = 1 - (2 * inter + 1) / (prob.sum((1, 2, 3)) + truth.sum((1, 2, 3)) + 1)
        return bce + dice.mean()
    # the repair matters inside the region; a little weight outside keeps the output calibrated
    err = (out - c).abs()
    return (err * m).sum() / (m.sum() * 3).clamp(min=1) + 0.1 * err.mean()


def train_mode(net, freeze_bn: bool) -> None:
    """Training mode; with `freeze_bn` the batch-norm layers normalise with their running
    statistics and stop updating them (a batch of 8 gives too noisy statistics)."""
    net.train()
    if freeze_bn:
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()


@torch.inference_mode()
def evaluate(task: str, net, val, device) -> dict:
    """mask: mean IoU per image over the pixels that are not unsure (an empty truth and
    an empty prediction count as 1); repair: PSNR inside the region. Leaves every layer in
    the mode it found it in (frozen batch norm stays frozen)."""
    modes = [(layer, layer.training) for layer in net.modules()]
    net.eval()
    xs, ms, cs = val
    scores = []
    for i in range(0, len(xs), 16):
        idx = np.arange(i, min(i + 16, len(xs)))
        x, m, c = batch_tensors(xs, ms, cs, idx, device)
        out = net(to_input(task, x, m)).float()
        if task == "mask":
            pred, truth = (out > 0) & (m != 0.5), m > 0.75
            inter = (pred & truth).sum((1, 2, 3)).float()
            union = (pred | truth).sum((1, 2, 3)).float()
            scores += torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).tolist()
        else:
            fix = out.clamp(0, 1)
            se = ((fix - c) ** 2 * m).sum((1, 2, 3)) / (m.sum((1, 2, 3)) * 3).clamp(min=1)
            scores += (10 * torch.log10(1 / se.clamp(min=1e-10)))[m.sum((1, 2, 3)) > 0].tolist()
    for layer, mode in modes:
        layer.training = mode
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
    ap.add_argument("--crops", type=int, default=CROPS_PER_PICTURE,
                    help="training crops cut from each damaged picture (raise it when the generator "
                         "cannot keep up with a GPU)")
    ap.add_argument("--recolour", type=float, default=0.0,
                    help="share of clean pictures whose hues are rotated first (colour variety; it also teaches "
                         "the detector to take soft, darker patches for stains: docs/damage-training.md)")
    ap.add_argument("--shade", type=float, default=0.0,
                    help="share of clean pictures first put under uneven, tinted light (see shade)")
    ap.add_argument("--loose", type=float, default=0.0,
                    help="repair: share of regions grown by 1-8 px, so intact pixels under a loose mask are kept")
    ap.add_argument("--enlarge", type=float, default=0.0,
                    help="share of clean pictures enlarged 1.5-4 times before the damage is drawn (scan-size "
                         "damage, see enlarge)")
    ap.add_argument("--workers", type=int, default=0,
                    help="processes that generate the next pool while training (for a GPU; 0: none)")
    ap.add_argument("--minutes", type=float, default=0,
                    help="stop after this much training time, the schedule fitted to it (0: run all steps)")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--val", type=int, default=200, help="fixed validation samples (256x256)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--export", default="resources/models")
    ap.add_argument("--init", default=None, help="start from these weights (a checkpoint .pt or a model card .json)")
    ap.add_argument("--freeze-bn", action="store_true",
                    help="keep the batch-norm statistics fixed (fine-tuning at a small batch)")
    ap.add_argument("--width", type=int, default=None, help="channels at full resolution (default: ARCH's)")
    ap.add_argument("--depth", type=int, default=None, help="down-sampling levels (default: ARCH's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    task, device = args.task, resolve_device(args.device)
    torch.backends.cudnn.benchmark = True     # fixed input sizes: let cuDNN pick the fastest convolutions
    run = Path(args.run or f"runs/{task}")
    train_paths, val_paths = picture_paths(Path(args.datasets))
    pictures = load_rgb(train_paths, args.patch)
    print(f"training on {len(pictures)} of {len(train_paths)} pictures (the others are smaller than "
          f"--patch {args.patch})", file=sys.stderr)
    pools = PoolMaker(pictures, args.pool, args.patch, task, args.workers, args.crops, args.recolour, args.shade,
                      args.loose, args.enlarge)
    val = make_pool(np.random.default_rng(12345), load_rgb(val_paths, 256), args.val, 256, task)

    sizes = {k: v for k, v in (("width", args.width), ("depth", args.depth)) if v}
    spec = {"arch": ARCH[task]["arch"], "params": {**ARCH[task]["params"], **sizes}}
    net = build(spec["arch"], **spec["params"]).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    ckpts = Checkpoints(run, vars(args), args.init)
    if ckpts.init_model:
        net.load_state_dict(ckpts.init_model)
    step, best = ckpts.resume(model=net, opt=opt) or (0, -float("inf"))
    metric = "iou" if task == "mask" else "psnr_hole"
    log = CsvLog(run / "log.csv", ["step", "lr", "loss", metric, "sec_per_step"])
    pool, bf16 = None, uses_bf16(device)
    train_mode(net, args.freeze_bn)
    t0, losses = time.time(), []
    start, done = time.time(), step >= args.steps
    while not done:
        pool = pools.first(step + 1) if pool is None else pools.refreshed(pool, step, args.refresh)
        rng = np.random.default_rng(10_000_000 + step)
        # with a time budget, the schedule runs on the larger of step and time progress
        spent = (time.time() - start) / 60 / args.minutes if args.minutes else 0
        lr = cosine_lr(max(step, int(spent * args.steps)), args.steps, args.lr, warmup=200)
        for g in opt.param_groups:
            g["lr"] = lr
        x, m, c = batch_tensors(*pool, rng.integers(0, len(pool[0]), args.batch), device)
        k, flip = int(rng.integers(4)), rng.random() < 0.5     # a fresh view of a reused sample
        x, m, c = (t.rot90(k, (2, 3)).flip(3) if flip else t.rot90(k, (2, 3)) for t in (x, m, c))
        inp = to_input(task, x, m).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = net(inp)
        loss = loss_fn(task, out.float(), m, c)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        done = step >= args.steps or bool(args.minutes) and time.time() - start >= args.minutes * 60
        if step % args.eval_every == 0 or done:
            score = evaluate(task, net, val, device)[metric]
            if score > best:
                best = score
                ckpts.save_best(net, step, **{metric: score})
            log.write(step=step, lr=lr, loss=float(np.mean(losses)), **{metric: score},
                      sec_per_step=(time.time() - t0) / len(losses))
            losses, t0 = [], time.time()
            ckpts.save_last(step, best, model=net, opt=opt)
    best_ckpt = ckpts.load_best(net)
    card = {
        "name": NAMES[task], "task": task, **spec, "scale": 1, "channels": 3, "autocast": True,
        "title": "Damage segmentation U-Net" if task == "mask" else "Damage repair (inpainting) U-Net",
        "training": {
            "command": "python -m engine.training.damage " + " ".join(sys.argv[1:] if argv is None else argv),
            "data": f"synthetic damage (engine/training/synth_damage.py) over {len(pictures)} whole clean "
                    f"pictures from {', '.join(SOURCES)}, cut into {args.patch} px crops; every 10th "
                    f"picture held out for validation",
            "steps": step, "batch": args.batch, "patch": args.patch, "lr": args.lr,
            "loss": "BCE-with-logits + Dice, unsure pixels ignored" if task == "mask"
                    else "L1 inside the repaired region + 0.1 L1 overall",
            "phases": best_ckpt["history"],
            "best_step": best_ckpt["step"], f"val_{metric}_at_export": best_ckpt[metric],
        },
    }
    path = export_model(net, args.export, card)
    print(f"exported {path} ({metric} {best_ckpt[metric]:.4f})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
