"""Super-resolution benchmark, the SR literature's protocol: the HR picture cropped to
a multiple of the scale, LR = its bicubic (antialiased) downscale, PSNR and SSIM on
the Y channel (BT.601) with `scale` border pixels cropped. Set5 and Set14, every
installed shipped upscaler through the product's own tiled op, bicubic in the same
run, and the published numbers beside them. Then speed on this machine (a 512x512
picture at x4) and peak memory of the command line upscaling a big picture x4.

    python benchmarks/sr.py [--no-card] [--big 2000x1500,4000x3000]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from common import DATASETS, ROOT, print_table, timed, update_card, write_result

import engine
from engine.jobs import run_job
from engine.metrics import psnr_y, ssim_y
from engine.training.sr import hr_lr, load_rgb
from engine.types import Image, RunOptions, UpscaleRequest

PUBLISHED = {  # ../shared/datasets/README.md (Y-channel PSNR)
    4: {"bicubic": (28.42, 26.00), "SRCNN": (30.48, 27.50), "FSRCNN": (30.72, 27.61), "VDSR": (31.35, 28.01),
        "SRResNet": (32.05, 28.49), "EDSR-baseline": (32.09, 28.58)},
    2: {"bicubic": (33.66, 30.24), "FSRCNN": (37.00, 32.63), "EDSR-baseline": (37.99, 33.57)},
}
SETS = ("Set5", "Set14")


def bicubic_up(lr: np.ndarray, scale: int) -> np.ndarray:
    h, w = lr.shape[:2]
    return np.asarray(PILImage.fromarray(lr).resize((w * scale, h * scale), PILImage.BICUBIC)).astype(np.float32) / 255


def upscaled(card, lr: np.ndarray, options: RunOptions) -> np.ndarray:
    """The product's upscale of a uint8 picture, as float RGB in [0, 1]."""
    image = Image(pixels=lr.astype(np.float32) / 255)
    out = run_job(engine.upscale(image, UpscaleRequest(scale=card.scale, model=card.name, options=options)))
    return out.float_pixels()


def score(pictures, scale: int, fn) -> tuple[float, float]:
    p, s = [], []
    for hr, lr in pictures:
        sr, ref = fn(lr), hr.astype(np.float32) / 255
        p.append(psnr_y(sr, ref, scale))
        s.append(ssim_y(sr, ref, scale))
    return float(np.mean(p)), float(np.mean(s))


def peak_memory_of_cli(width: int, height: int, scale: int) -> dict:
    """Run `main.py upscale` on a generated width x height photo-like picture in a child
    process; its peak resident memory, wall time, and whether a crop of the output file
    matches upscaling that crop on its own (within 2/255)."""
    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
    big = np.asarray(PILImage.fromarray(small).resize((width, height), PILImage.BICUBIC))
    big = np.clip(big.astype(np.int16) + rng.integers(-12, 13, big.shape, dtype=np.int16), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big.png"
        PILImage.fromarray(big).save(src, compress_level=1)
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "upscale", str(src), "-o",
                                 str(Path(tmp) / "out"), "--scale", str(scale), "--device", "cpu"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        errors = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)     # this child's own peak, not the largest of all children
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t
        peak_mb = usage.ru_maxrss / 1024
        if proc.returncode != 0:
            raise SystemExit(f"upscale of {width}x{height} failed:\n{errors}")
        out = Path(tmp) / "out" / "big.png"
        PILImage.MAX_IMAGE_PIXELS = None
        with PILImage.open(out) as im:
            size = im.size
            y0, x0 = height // 2, width // 2               # a crop across tile seams, checked alone
            n = min(96, height // 2 - 32, width // 2 - 32)  # with 32 px of context on every side
            crop = np.asarray(im.crop((x0 * scale, y0 * scale, (x0 + n) * scale, (y0 + n) * scale)))
        alone = upscaled(engine.find_model("upscale", scale), big[y0 - 32:y0 + n + 32, x0 - 32:x0 + n + 32],
                         RunOptions(device="cpu"))
        alone = np.round(alone[32 * scale:(32 + n) * scale, 32 * scale:(32 + n) * scale] * 255)
        diff = int(np.abs(alone - crop.astype(np.float32)).max())
    return {"input": f"{width}x{height}", "scale": scale, "output_size": f"{size[0]}x{size[1]}",
            "peak_rss_mb": round(peak_mb), "wall_s": round(wall, 1),
            "crop_max_diff_255": diff, "size_ok": size == (width * scale, height * scale)}


def figure(cards, data, path: Path) -> None:
    """Side by side crops at x4 (bicubic, each x4 model, the original) of a textured Set14 picture."""
    from PIL import ImageDraw

    hr, lr = hr_lr(PILImage.fromarray(data["Set14"][0]), 4)          # baboon: fur and whiskers
    y, x, n = 40, 60, 64                                               # an LR crop of n x n
    crops = [("bicubic", bicubic_up(lr, 4)[y * 4:(y + n) * 4, x * 4:(x + n) * 4])]
    for card in cards:
        out = upscaled(card, lr, RunOptions(device="cpu"))
        crops.append((card.name, out[y * 4:(y + n) * 4, x * 4:(x + n) * 4]))
    crops.append(("original", hr[y * 4:(y + n) * 4, x * 4:(x + n) * 4].astype(np.float32) / 255))
    side, label = n * 4, 18
    sheet = PILImage.new("RGB", (len(crops) * (side + 4) - 4, side + label), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, crop) in enumerate(crops):
        sheet.paste(PILImage.fromarray(np.round(np.clip(crop, 0, 1) * 255).astype(np.uint8)), (i * (side + 4), label))
        draw.text((i * (side + 4) + 4, 3), name, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=92)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-card", action="store_true", help="do not write the numbers into the model cards")
    ap.add_argument("--big", default="2000x1500,4000x3000",
                    help="input sizes for the peak-memory runs at x4, comma-separated ('' to skip)")
    args = ap.parse_args()
    cpu = RunOptions(device="cpu")
    cards = [c for c in engine.list_models("upscale") if c.source == "shipped"]
    if not cards:
        raise SystemExit("no upscaler is installed: train one with `make train-sr`")
    data = {s: [np.asarray(load_rgb(p)) for p in sorted((DATASETS / "sr" / s).glob("*.png"))] for s in SETS}
    res: dict = {"sets": {}, "models": {}}
    for scale in sorted({c.scale for c in cards}):
        pics = {s: [hr_lr(PILImage.fromarray(hr), scale) for hr in data[s]] for s in SETS}
        rows = []
        for label, (p5, p14) in PUBLISHED[scale].items():
            rows.append([f"{label} (published)", p5, "", p14, ""])
        bic = {s: score(pics[s], scale, lambda lr: bicubic_up(lr, scale)) for s in SETS}
        rows.append(["bicubic (this run)", bic["Set5"][0], bic["Set5"][1], bic["Set14"][0], bic["Set14"][1]])
        res["sets"][f"x{scale}_bicubic"] = bic
        for card in [c for c in cards if c.scale == scale]:
            numbers = {}
            for precision in ("fp32", "auto") if card.autocast else ("fp32",):
                opts = RunOptions(device="cpu", precision=precision)
                got = {s: score(pics[s], scale, lambda lr: upscaled(card, lr, opts)) for s in SETS}
                tag = "mixed" if precision == "auto" else "fp32"
                rows.append([f"{card.name} ({tag}, this run)", got["Set5"][0], got["Set5"][1],
                             got["Set14"][0], got["Set14"][1]])
                numbers.update({f"set5_psnr_{tag}": got["Set5"][0], f"set5_ssim_{tag}": got["Set5"][1],
                                f"set14_psnr_{tag}": got["Set14"][0], f"set14_ssim_{tag}": got["Set14"][1]})
            lr512 = np.asarray(PILImage.fromarray(data["Set14"][0]).resize((512, 512), PILImage.BICUBIC))
            secs = timed(lambda: upscaled(card, lr512, cpu), repeats=2)
            numbers["cpu_s_512_input"] = secs
            numbers["cpu_s_per_output_mp"] = secs / (512 * scale) ** 2 * 1e6
            res["models"][card.name] = numbers
        print(f"\nx{scale}: PSNR (dB) / SSIM on the Y channel")
        print_table(["method", "Set5 PSNR", "Set5 SSIM", "Set14 PSNR", "Set14 SSIM"], rows)
    print()
    print_table(["model", "512x512 in (s, CPU, default precision)", "s / output MP"],
                [[n, v["cpu_s_512_input"], v["cpu_s_per_output_mp"]] for n, v in res["models"].items()])
    x4 = [c for c in cards if c.scale == 4]
    if len(x4) > 1:
        shot = ROOT / "docs" / "images" / "sr_x4_crops.jpg"
        figure(x4, data, shot)
        print(f"wrote {shot}")
    res["big"] = []
    for size in filter(None, args.big.lower().split(",")):
        w, h = (int(v) for v in size.split("x"))
        res["big"].append(peak_memory_of_cli(w, h, 4))
        print(f"\nCLI upscale x4 of {size}: {res['big'][-1]}")
    print(f"\nwrote {write_result('sr', res)}")
    if not args.no_card:
        for name, v in res["models"].items():
            best = "mixed" if "set5_psnr_mixed" in v else "fp32"
            update_card(name, {k: round(x, 4) for k, x in v.items()},
                        {"Set5 dB": round(v[f"set5_psnr_{best}"], 2), "Set14 dB": round(v[f"set14_psnr_{best}"], 2),
                         "512px CPU s": round(v["cpu_s_512_input"], 2)},
                        "python benchmarks/sr.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
