"""Fine-tuning benchmark (issue 7 acceptance): a kind of degradation or picture a shipped
model never saw in training, made into 16 training pairs and 8 held-out pairs; the model is
fine-tuned for 300 steps on the CPU through `engine.finetune` (the code behind `python
main.py finetune` and the editor's dialog; 20% of the 16 pairs are its own validation
split), three times with different seeds, then the held-out pairs are measured through
the product op, shipped model against the fine-tuned ones (their mean: one detector
fine-tune at lr 1e-3 gave IoU 0.41 on the new kind, another with another seed 0.32).

- document-unet: pages printed on strongly patterned, coloured security paper
  (guilloche waves over a check pattern), slightly out of focus; luminance RMSE of
  `engine.restore` against the clean page (and of the input).
- damage-unet: mould, fuzzy whitish or greenish spots in colonies, over the damage
  benchmark's held-out photos (16 pictures to train on, 8 others to measure); damage
  IoU per image of `engine.detect_damage` against the mould's mask, and on the same 8
  pictures with the project's own synthetic damage, to see what the fine-tune forgot.
- repair-unet: the patterned pages' colour photos as clean pictures only (the fine-tune
  draws the damage); PSNR inside the damage of `engine.repair` given the true region, on
  8 other pages damaged as the repair network is trained.

    python benchmarks/finetune.py [--model document-unet|damage-unet|repair-unet] [--steps 300] [--lr LR]
                                  [--patch 96] [--seeds 3] [--pairs 16] [--held-out 8]

The fine-tuned model goes to a temporary user data folder, not yours; the numbers go to
benchmarks/results/finetune.json (document-unet), finetune-damage.json or finetune-repair.json.
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

from common import DATASETS, print_table, write_result

import engine
from engine.metrics import damage_iou, psnr_in
from engine.ops.common import luminance
from engine.training.damage import load_rgb, picture_paths, repair_sample
from engine.training.synth_damage import damage
from engine.training.synth_docs import render_clean, smooth_field

PAGE = 256
CPU = engine.RunOptions(device="cpu")


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


def mould(rng: np.random.Generator, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(damaged HxWx3 float32, mask HxW float32 0/1): one to three mould colonies over `clean`
    (HxWx3 float32 in [0, 1]), each of 3-11 round spots with ragged edges and mottled insides,
    whitish grey or greenish; the mask is where the mould's opacity passes 0.2."""
    h, w = clean.shape[:2]
    s = min(h, w)
    alpha = np.zeros((h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx, r = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w, s * rng.uniform(0.06, 0.2)
        for _ in range(int(rng.integers(3, 12))):
            d = np.hypot(yy - cy - rng.normal(0, r), xx - cx - rng.normal(0, r)) / (r * rng.uniform(0.15, 0.5))
            d = d * (1 + 0.35 * smooth_field(rng, h, w, int(rng.integers(8, 20))))
            alpha = np.maximum(alpha, np.clip((1.1 - d) / rng.uniform(0.2, 0.6), 0, 1))
    alpha *= (0.75 + 0.25 * smooth_field(rng, h, w, max(8, s // 6))) * rng.uniform(0.7, 0.95)
    colour = np.array([0.86, 0.88, 0.84]) if rng.random() < 0.6 else np.array([0.62, 0.68, 0.5])
    colour = np.clip(colour * rng.uniform(0.85, 1.1, 3), 0, 1)
    damaged = clean * (1 - alpha[..., None]) + colour * alpha[..., None]
    return np.clip(damaged, 0, 1).astype(np.float32), (alpha > 0.2).astype(np.float32)


def save_pairs(folder: Path, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Pairs (input, target) as PNGs in folder/degraded and folder/clean, matched by name (no
    input: clean pictures only)."""
    for i, pair in enumerate(pairs):
        for sub, arr in zip(("degraded", "clean"), pair):
            if arr is None:
                continue
            (folder / sub).mkdir(parents=True, exist_ok=True)
            PILImage.fromarray((arr * 255 + 0.5).astype(np.uint8)).save(folder / sub / f"pair{i:04d}.png")


def pooled_rmse(outputs: list[np.ndarray], cleans: list[np.ndarray]) -> float:
    se = sum(float(((o.astype(np.float64) - c) ** 2).sum()) for o, c in zip(outputs, cleans))
    return (se / sum(c.size for c in cleans)) ** 0.5


def restored(model: str, photos: list[np.ndarray]) -> list[np.ndarray]:
    request = engine.RestoreRequest(model=model, options=CPU)
    return [luminance(engine.run_job(engine.restore(engine.Image(pixels=p), request)).pixels) for p in photos]


def detector_iou(model: str, pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over `pairs` (damaged, labels) of the IoU of the damage the op finds with `model`
    (labels 1 damaged, 0 intact, 0.5 unsure: not counted, as in benchmarks/damage.py)."""
    request = engine.MaskRequest(model=model, options=CPU)
    return float(np.mean([damage_iou(engine.run_job(engine.detect_damage(engine.Image(pixels=damaged), request)),
                                     truth) for damaged, truth in pairs]))


def document_case(args) -> tuple[list, dict]:
    """(training pairs, {"measure": model name -> its numbers on the held-out pairs,
    "input": the same numbers for the inputs themselves, where they mean something})."""
    train = [patterned_page(np.random.default_rng(seed)) for seed in range(args.pairs)]
    held_out = [patterned_page(np.random.default_rng(10_000 + i)) for i in range(args.held_out)]
    photos, cleans = [p for p, _ in held_out], [c for _, c in held_out]

    def measure(model: str) -> dict:
        return {"held_out_rmse": pooled_rmse(restored(model, photos), cleans)}
    return train, {"measure": measure, "input": {
        "held_out_rmse": pooled_rmse([luminance(p) for p in photos], cleans)}}


def damage_case(args) -> tuple[list, dict]:
    _, val_paths = picture_paths(DATASETS)
    photos = load_rgb([p for p in val_paths if p.relative_to(DATASETS).parts[0] != "docs"], 96)
    if len(photos) < args.pairs + args.held_out:
        raise SystemExit(f"{DATASETS}: {len(photos)} held-out photos, {args.pairs + args.held_out} needed")
    pictures = [p.astype(np.float32) / 255 for p in photos]
    rng = np.random.default_rng(7)
    train = [mould(rng, c) for c in pictures[:args.pairs]]
    others = pictures[args.pairs:args.pairs + args.held_out]
    held_mould = [mould(rng, c) for c in others]
    held_general = [damage(rng, c) for c in others]

    def measure(model: str) -> dict:
        return {"held_out_mould_iou": detector_iou(model, held_mould),
                "held_out_general_damage_iou": detector_iou(model, held_general)}
    return train, {"measure": measure, "input": {}}


def repair_case(args) -> tuple[list, dict]:
    """Clean pictures only (the patterned pages' photos, in colour); measured on 8 others with
    the repair trainer's synthetic damage, filled with the true region."""
    train = [(None, patterned_page(np.random.default_rng(seed))[0]) for seed in range(args.pairs)]
    rng = np.random.default_rng(7)
    held_out = []
    for i in range(args.held_out):
        clean = patterned_page(np.random.default_rng(10_000 + i))[0]
        damaged, region = repair_sample(rng, clean)
        if region.any():
            held_out.append((damaged, region.astype(np.float32), clean))

    def measure(model: str) -> dict:
        request = engine.RepairRequest(model=model, options=CPU)
        return {"held_out_psnr_in_region": float(np.mean([
            psnr_in(region, engine.run_job(engine.repair(engine.Image(pixels=d), request, region)).pixels, c)
            for d, region, c in held_out]))}
    return train, {"measure": measure, "input": {
        "held_out_psnr_in_region": float(np.mean([psnr_in(r, d, c) for d, r, c in held_out]))}}


CASES = {"document-unet": (document_case, "finetune", "patterned"),
         "damage-unet": (damage_case, "finetune-damage", "mould"),
         "repair-unet": (repair_case, "finetune-repair", "patterned")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(CASES), default="document-unet")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, help="peak learning rate (default: the fine-tune's for the model's task)")
    ap.add_argument("--patch", type=int, default=engine.FinetuneRequest("", "", Path()).patch, help="crop side")
    ap.add_argument("--pairs", type=int, default=16, help="training pairs (20%% of them validate)")
    ap.add_argument("--held-out", type=int, default=8, help="held-out pairs the table is measured on")
    ap.add_argument("--seeds", type=int, default=3, help="fine-tunes (seeds 0, 1, ...) the numbers are the mean of")
    args = ap.parse_args()
    args.lr = args.lr or engine.FINETUNE_DEFAULT_LR[engine.get_card(args.model).task]
    with tempfile.TemporaryDirectory(prefix="restora-finetune-bench-") as folder:
        os.environ["RESTORA_DATA_DIR"] = str(Path(folder) / "data")     # keep the benchmark's model out of yours
        res = run(Path(folder), args)
    path = write_result(CASES[args.model][1], res)
    print(f"wrote {path}")
    return 0


def run(work: Path, args) -> dict:
    """Make the data, fine-tune once per seed, measure; returns the numbers (means over the seeds,
    and each run's)."""
    make_case, _, kind = CASES[args.model]
    train, case = make_case(args)
    save_pairs(work / "train", train)
    shipped, runs = case["measure"](args.model), []
    for seed in range(args.seeds):
        name = f"{args.model}-{kind}-{seed}"
        degraded = work / "train" / "degraded" if train[0][0] is not None else None
        request = engine.FinetuneRequest(args.model, name, work / "train" / "clean", degraded,
                                         steps=args.steps, lr=args.lr, patch=args.patch, device="cpu", seed=seed)
        t0 = time.time()

        def show(p) -> None:
            if isinstance(p, engine.FinetuneStatus) and p.value is not None:
                print(f"  seed {seed}  step {p.done:4d}  validation {p.metric} {p.value:.4f}  "
                      f"({time.time() - t0:.0f} s)", flush=True)

        result = engine.run_job(engine.finetune(request), show)
        train_seconds = time.time() - t0
        print(f"  best at step {result.best_step}{result.known_damage_note()}", flush=True)
        runs.append({"seed": seed, "train_seconds": round(train_seconds, 1), "best_step": result.best_step,
                     "finetune_validation_before": result.before, "finetune_validation_after": result.after,
                     "finetune_known_damage": result.known_damage, **case["measure"](name)})
    tuned = {k: float(np.mean([r[k] for r in runs])) for k in shipped}
    seconds = float(np.mean([r["train_seconds"] for r in runs]))
    res = {"model": args.model, "steps": args.steps, "lr": args.lr, "patch": args.patch, "seeds": args.seeds,
           "training_pairs": args.pairs, "held_out_pairs": args.held_out, "device": "cpu",
           "train_seconds": round(seconds, 1), "seconds_per_step": round(seconds / args.steps, 3),
           "validation_metric": result.metric,
           **{f"{k}_input": v for k, v in case["input"].items()},
           **{f"{k}_shipped": v for k, v in shipped.items()}, **{f"{k}_finetuned": v for k, v in tuned.items()},
           "runs": runs}
    print()
    rows = [["input", *case["input"].values()]] if case["input"] else []
    print_table([f"held-out {kind} pairs", *shipped], [
        *rows, [f"{args.model} (shipped)", *shipped.values()],
        [f"fine-tuned, {args.steps} steps at lr {args.lr:g} (mean of {args.seeds} seeds)", *tuned.values()]])
    print(f"\ntraining: {seconds:.0f} s a run ({res['seconds_per_step']:.2f} s/step)")
    return res


if __name__ == "__main__":
    raise SystemExit(main())
