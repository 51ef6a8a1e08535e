"""Fine-tuning benchmark (issue 7 acceptance): a kind of degradation the shipped
document model never saw in training, pages printed on strongly patterned, coloured
security paper (guilloche waves over a check pattern), slightly out of focus. The
script makes 16 training pairs and 8 held-out pairs of it, fine-tunes document-unet
for 300 steps on the CPU through `engine.finetune` (the code behind `python main.py
finetune` and the editor's dialog; 20% of the 16 pairs are its own validation
split), then restores the held-out pages with `engine.restore` and prints their
luminance RMSE: the input, the shipped model and the fine-tuned one.

    python benchmarks/finetune.py [--steps 300] [--lr 1e-3] [--pairs 16] [--held-out 8]

The fine-tuned model goes to a temporary user data folder, not yours; the numbers go
to benchmarks/results/finetune.json.
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage, ImageFilter

from common import print_table, write_result

import engine
from engine.ops.common import luminance
from engine.training.synth_docs import render_clean

PAGE = 256
SHIPPED = "document-unet"


def patterned_page(rng: np.random.Generator, size: int = PAGE) -> tuple[np.ndarray, np.ndarray]:
    """(photo HxWx3, clean HxW) float32: the page on coloured guilloche paper, blurred, with sensor noise."""
    clean = render_clean(rng, size).astype(np.float32) / 255
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle, period = rng.uniform(0, math.pi), rng.uniform(5, 12)
    wave = np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period
                  + rng.uniform(2, 5) * np.sin(2 * math.pi * yy / rng.uniform(40, 90)))
    cell = rng.uniform(10, 24)
    check = np.sign(np.sin(2 * math.pi * xx / cell) * np.sin(2 * math.pi * yy / cell))
    pattern = (0.6 * wave + 0.4 * check)[..., None]
    paper = rng.uniform(0.55, 0.9, 3) + rng.uniform(0.12, 0.22) * pattern * rng.uniform(-1, 1, 3)
    page = paper * (1 - (1 - clean)[..., None] * rng.uniform(0.8, 0.95))
    photo = PILImage.fromarray((np.clip(page, 0, 1) * 255 + 0.5).astype(np.uint8))
    photo = np.asarray(photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.7, 1.4))), np.float32) / 255
    photo = photo + rng.normal(0, 0.01, photo.shape)
    return np.clip(photo, 0, 1).astype(np.float32), clean


def pooled_rmse(outputs: list[np.ndarray], cleans: list[np.ndarray]) -> float:
    se = sum(float(((o.astype(np.float64) - c) ** 2).sum()) for o, c in zip(outputs, cleans))
    return (se / sum(c.size for c in cleans)) ** 0.5


def write_pairs(folder: Path, seeds: range) -> None:
    for seed in seeds:
        photo, clean = patterned_page(np.random.default_rng(seed))
        for sub, arr in (("degraded", photo), ("clean", clean)):
            (folder / sub).mkdir(parents=True, exist_ok=True)
            PILImage.fromarray((arr * 255 + 0.5).astype(np.uint8)).save(folder / sub / f"page{seed:04d}.png")


def restored(model: str, photos: list[np.ndarray]) -> list[np.ndarray]:
    request = engine.RestoreRequest(model=model, options=engine.RunOptions(device="cpu"))
    return [luminance(engine.run_job(engine.restore(engine.Image(pixels=p), request)).pixels) for p in photos]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=engine.FinetuneRequest("", "", Path()).lr)
    ap.add_argument("--pairs", type=int, default=16, help="training pairs (20%% of them validate)")
    ap.add_argument("--held-out", type=int, default=8, help="held-out pairs the table is measured on")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="restora-finetune-bench-") as folder:
        os.environ["RESTORA_DATA_DIR"] = str(Path(folder) / "data")     # keep the benchmark's model out of yours
        res = run(Path(folder), args)
    path = write_result("finetune", res)
    print(f"wrote {path}")
    return 0


def run(work: Path, args) -> dict:
    """Make the data, fine-tune, measure; returns the numbers."""
    write_pairs(work / "train", range(args.pairs))
    held_out = [patterned_page(np.random.default_rng(10_000 + i)) for i in range(args.held_out)]
    photos, cleans = [p for p, _ in held_out], [c for _, c in held_out]

    name = f"{SHIPPED}-patterned"
    request = engine.FinetuneRequest(SHIPPED, name, work / "train" / "clean", work / "train" / "degraded",
                                     steps=args.steps, lr=args.lr, device="cpu")
    t0 = time.time()

    def show(p) -> None:
        if isinstance(p, engine.FinetuneStatus) and p.value is not None:
            print(f"  step {p.done:4d}  validation RMSE {p.value:.4f}  ({time.time() - t0:.0f} s)", flush=True)

    result = engine.run_job(engine.finetune(request), show)
    train_seconds = time.time() - t0

    res = {"steps": args.steps, "lr": args.lr, "training_pairs": args.pairs, "held_out_pairs": args.held_out,
           "page": PAGE, "device": "cpu", "train_seconds": round(train_seconds, 1),
           "seconds_per_step": round(train_seconds / args.steps, 3),
           "finetune_validation_rmse_before": result.before, "finetune_validation_rmse_after": result.after,
           "best_step": result.best_step,
           "held_out_rmse_input": pooled_rmse([luminance(p) for p in photos], cleans),
           "held_out_rmse_shipped": pooled_rmse(restored(SHIPPED, photos), cleans),
           "held_out_rmse_finetuned": pooled_rmse(restored(name, photos), cleans)}
    print()
    print_table(["held-out patterned pages", "RMSE"], [
        ["input (luminance)", res["held_out_rmse_input"]], [f"{SHIPPED} (shipped)", res["held_out_rmse_shipped"]],
        [f"fine-tuned, {args.steps} steps on the CPU", res["held_out_rmse_finetuned"]]])
    print(f"\ntraining: {train_seconds:.0f} s ({res['seconds_per_step']:.2f} s/step), best at step {result.best_step}")
    return res


if __name__ == "__main__":
    raise SystemExit(main())
