"""Document restoration benchmark: RMSE on the held-out real pages (never trained on)
for the noisy input, a classical baseline and the shipped U-Net (fp32 and mixed
precision), plus seconds per megapixel of page on this machine; the same pages
enlarged 2 and 3 times (bicubic, both the page and its clean target), as a scan at
about 250 and 400 dpi shows them (the Kaggle pages are about 130 dpi); and RGB
RMSE on synthetic colour photos of pages (blue ink, red stamp, yellowed paper),
whose first before/after pair is saved as docs/images/colour_page.jpg.

    python benchmarks/doc_restore.py [--no-card]
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image as PILImage, ImageFilter

from common import DATASETS, ROOT, print_table, timed, update_card, write_result

import engine
from engine.jobs import run_job
from engine.metrics import rmse
from engine.training.common import enlarged
from engine.training.restore import validation_pairs
from engine.training.synth_docs import colour_page
from engine.types import Image, RestoreRequest, RunOptions


SCAN_FACTORS = (2, 3)     # the validation pages also enlarged this many times (250-400 dpi)


def classical_baseline(noisy: np.ndarray) -> np.ndarray:
    """Background estimation by a large median filter, then division and a contrast stretch:
    the paper becomes white, ink stays dark."""
    img = PILImage.fromarray((noisy * 255).astype(np.uint8))
    bg = np.asarray(img.filter(ImageFilter.MedianFilter(15)).filter(ImageFilter.MedianFilter(15)),
                    np.float32) / 255
    ratio = np.clip(noisy / np.maximum(bg, 1e-3), 0, 1)
    return np.clip((ratio - 0.1) / 0.8, 0, 1)          # the ratio's ink floor and paper noise, stretched


def restore_gray(arr: np.ndarray, autocast: bool, device: str = "cpu") -> np.ndarray:
    options = RunOptions(device=device, precision="auto" if autocast else "fp32")
    out = run_job(engine.restore(Image(pixels=arr[..., None].astype(np.float32)), RestoreRequest(options=options)))
    return out.pixels[..., 0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-card", action="store_true", help="do not write the numbers into the model card")
    args = ap.parse_args()
    names, noisy8, clean8 = validation_pairs(DATASETS / "docs" / "dirty")
    noisy = [n.astype(np.float32) / 255 for n in noisy8]
    clean = [c.astype(np.float32) / 255 for c in clean8]

    def pooled(outputs, targets=clean):  # RMSE over all validation pixels together, as the competition scores
        se = sum(float(((o.astype(np.float64) - c) ** 2).sum()) for o, c in zip(outputs, targets))
        return (se / sum(c.size for c in targets)) ** 0.5

    res = {"pairs": len(names), "validation_names": names}
    res["rmse_noisy"] = pooled(noisy)
    res["rmse_baseline_median"] = pooled([classical_baseline(n) for n in noisy])
    res["rmse_model_fp32"] = pooled([restore_gray(n, autocast=False) for n in noisy])
    res["rmse_model_mixed"] = pooled([restore_gray(n, autocast=True) for n in noisy])
    for k in SCAN_FACTORS:
        big = [[enlarged(a, (k * a.shape[1], k * a.shape[0])).astype(np.float32) / 255 for a in pages]
               for pages in (noisy8, clean8)]
        res[f"rmse_noisy_x{k}"] = pooled(big[0], big[1])
        res[f"rmse_model_x{k}"] = pooled([restore_gray(n, autocast=True) for n in big[0]], big[1])

    photos = [colour_page(np.random.default_rng(100 + i), 512) for i in range(8)]
    restored = [run_job(engine.restore(Image(pixels=p), RestoreRequest(options=RunOptions(device="cpu")))).pixels
                for p, _ in photos]
    res["colour_rgb_rmse_photo"] = rmse(np.stack([p for p, _ in photos]), np.stack([c for _, c in photos]))
    res["colour_rgb_rmse_model"] = rmse(np.stack(restored), np.stack([c for _, c in photos]))
    figure = np.concatenate([photos[0][0], np.ones((512, 8, 3), np.float32), restored[0]], axis=1)
    (ROOT / "docs" / "images").mkdir(parents=True, exist_ok=True)
    PILImage.fromarray((figure * 255 + 0.5).astype(np.uint8)).save(ROOT / "docs" / "images" / "colour_page.jpg",
                                                                   quality=90)

    page = np.asarray(PILImage.fromarray((noisy[0] * 255).astype(np.uint8)).resize((2048, 1536)),
                      np.float32) / 255
    mp = page.size / 1e6
    res["cpu_s_per_mp_mixed"] = timed(lambda: restore_gray(page, True), 2) / mp
    res["cpu_s_per_mp_fp32"] = timed(lambda: restore_gray(page, False), 2) / mp
    import torch
    if torch.cuda.is_available():
        res["gpu_s_per_mp"] = timed(lambda: restore_gray(page, True, "cuda"), 3) / mp

    print_table(["method", "validation RMSE"], [
        ["noisy input", res["rmse_noisy"]], ["median background + normalise", res["rmse_baseline_median"]],
        ["document-unet (fp32)", res["rmse_model_fp32"]], ["document-unet (mixed precision)", res["rmse_model_mixed"]],
        *[[f"pages enlarged {k} times: noisy input / document-unet",
           f"{res[f'rmse_noisy_x{k}']:.4f} / {res[f'rmse_model_x{k}']:.4f}"] for k in SCAN_FACTORS]])
    print()
    print_table(["colour page photos (8, synthetic)", "RGB RMSE"], [["photo", res["colour_rgb_rmse_photo"]],
                                                                   ["document-unet", res["colour_rgb_rmse_model"]]])
    print()
    print_table(["speed", "s / megapixel"], [["CPU, mixed precision", res["cpu_s_per_mp_mixed"]],
                                             ["CPU, fp32", res["cpu_s_per_mp_fp32"]]]
                + ([["GPU", res["gpu_s_per_mp"]]] if "gpu_s_per_mp" in res else []))
    path = write_result("doc_restore", res)
    print(f"\nwrote {path}")
    if not args.no_card:
        update_card("document-unet", {k: round(v, 5) for k, v in res.items() if isinstance(v, float)},
                    {"validation RMSE": round(res["rmse_model_mixed"], 4),
                     f"pages enlarged x{SCAN_FACTORS[-1]}": round(res[f"rmse_model_x{SCAN_FACTORS[-1]}"], 4),
                     "CPU s/MP": round(res["cpu_s_per_mp_mixed"], 2)}, "python benchmarks/doc_restore.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
