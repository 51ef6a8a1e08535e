"""Damage benchmark on held-out pictures (never trained on): synthetic damage with a
known true mask over every validation picture of engine/training/damage.py, each
damaged `--draws` times (3) with different damage.

- masks: IoU of the damage class (the mean per image, and pooled over all pixels),
  the two-class mean IoU, and F1. The generator's "unsure" pixels (faint change
  and the 1-pixel ring around damage, see engine/training/synth_damage.py) count
  neither way, as PASCAL VOC's void band; the strict IoU counts them as clean;
- repair: PSNR inside the true mask for the repair U-Net with the true mask, end to
  end (the predicted mask), and OpenCV's Telea inpainting given the true mask; and
  with the true mask grown by 4 px, as a hand-painted mask or a Heal Brush stroke
  is: PSNR inside the damage and on the intact margin the mask also covers;
- seconds per megapixel for detection and repair on this machine;
- masks again on the same pictures first aged like old prints (toned, faded:
  engine/training/synth_damage.age), then damaged;
- per damage kind: IoU pooled over the pictures each damaged with that kind alone;
- false alarms: the share of an undamaged picture the detector marks (plain, aged,
  and under uneven, tinted light: engine.training.damage.shade);
- scan-size pictures: each picture damaged, then the damaged picture and its true
  mask enlarged SCAN_FACTOR times (a scan at a higher resolution of the same damaged
  print): IoU per image as the op detects (reduced to its working size, see
  engine/ops/segment.py) and at full resolution, and the false alarms of both on the
  enlarged undamaged pictures; and repair at scan size: each picture mirrored
  SCAN_MIRROR x SCAN_MIRROR times (large and still sharp) and damaged at that size,
  so that its stains, creases, holes and tears are several times wider than on the
  picture itself: PSNR inside the true mask, repair-unet as the op runs it (also
  filled reduced, see engine/ops/repair.py), at full size only, and Telea; with the
  true mask grown by 4 px, inside the damage and on the margin; and the same on pages
  at about 300 dpi (made as the scan-size pages below, other damage);
- scan-size pages: each held-out page of text mirrored 2x2 and enlarged SCAN_PAGE times
  (about 300 dpi) and damaged at that size: IoU per image as the op detects (a page is
  reduced until its text is about 100 dpi) and at the photo working size, with the false
  alarms of both on the undamaged pages; and the share of the held-out photos, enlarged
  SCAN_FACTOR times, the op takes for pages (engine/ops/segment.looks_like_page).

The mask and end-to-end numbers are measured when a damage detector is installed.

    python benchmarks/damage.py [--no-card] [--trial] [--draws N]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image as PILImage
from common import DATASETS, ROOT, print_table, update_card, write_result

import engine
from engine.errors import ModelNotInstalledError
from engine.jobs import run_job
from engine.metrics import damage_iou, damage_masks, iou, psnr_in
from engine.morphology import grow_mask
from engine.ops.segment import VIEWS, looks_like_page
from engine.training.common import enlarged as enlarged_uint8
from engine.training.damage import load_rgb, picture_paths, shade
from engine.training.synth_damage import KINDS, age, damage, old_photo
from engine.types import DETECT_WORK_SIDE, Image, MaskRequest, RepairRequest, RunOptions

CPU = RunOptions(device="cpu")
LOOSE_PX = 4        # how far past the damage a loose, hand-painted mask reaches
SCAN_FACTOR = 4     # scan-size pictures: the damaged pictures enlarged this many times
SCAN_MIRROR = 3     # scan-size repair: each picture mirrored this many times across and down
SCAN_PAGE = 2.4     # scan-size pages: each page (about 130 dpi) mirrored 2x2 and enlarged this many times


def detect(pixels: np.ndarray, scale: float | None = None) -> np.ndarray:
    """The shipped detector's 0/1 mask through the product op (`scale` as MaskRequest's)."""
    return run_job(engine.detect_damage(Image(pixels=pixels), MaskRequest(options=CPU, scale=scale)))


def enlarged(pixels: np.ndarray, factor: int, resample) -> np.ndarray:
    """HxW or HxWxC float32 `pixels` enlarged `factor` times with a Pillow filter, plane by plane."""
    if pixels.ndim == 3:
        return np.stack([enlarged(pixels[..., c], factor, resample) for c in range(pixels.shape[2])], -1)
    h, w = pixels.shape
    plane = PILImage.fromarray(np.ascontiguousarray(pixels, np.float32), "F")
    return np.asarray(plane.resize((w * factor, h * factor), resample), np.float32)


def mirrored(pixels: np.ndarray, n: int) -> np.ndarray:
    """An n x n picture made of `pixels` and its mirror images, each seam continuous: large
    and as sharp as the picture itself (an enlarged picture is soft)."""
    row = np.concatenate([pixels if c % 2 == 0 else pixels[:, ::-1] for c in range(n)], 1)
    return np.ascontiguousarray(np.concatenate([row if r % 2 == 0 else row[::-1] for r in range(n)], 0))


def scanned_page(page: np.ndarray) -> np.ndarray:
    """A held-out uint8 page (about 130 dpi) mirrored 2x2 and enlarged SCAN_PAGE times
    (about 300 dpi), as float32."""
    h, w = page.shape[:2]
    big = enlarged_uint8(mirrored(page, 2), (round(2 * w * SCAN_PAGE), round(2 * h * SCAN_PAGE)))
    return big.astype(np.float32) / 255


def _mean(values: list) -> float:
    """The mean of the values that were measured (a margin can be empty)."""
    return float(np.mean([v for v in values if v is not None]))


def _rounded(v):
    return {k: round(x, 4) for k, x in v.items()} if isinstance(v, dict) else round(v, 4)


def telea(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    out = cv2.inpaint(engine.to_uint8(img), (mask > 0.5).astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
    return out.astype(np.float32) / 255


FIGURE_PICTURE = DATASETS / "sr" / "BSD200" / "232038.png"   # a held-out picture


def figure(path) -> None:
    """Damaged / detected mask (red over the picture) / repaired / original, for an
    old-photo-like example the generator made from a held-out picture."""
    from PIL import ImageDraw

    clean = np.asarray(PILImage.open(FIGURE_PICTURE).convert("RGB"), np.float32) / 255
    toned, damaged, _ = old_photo(np.random.default_rng(7), clean)
    mask = detect(damaged)
    fixed = run_job(engine.repair(Image(pixels=damaged), RepairRequest(options=CPU), mask)).pixels
    overlay = np.where(mask[..., None] > 0.5, 0.35 * damaged + 0.65 * np.array([1.0, 0.1, 0.1]), damaged)
    panels = [("damaged", damaged), ("detected damage", overlay), ("repaired", fixed), ("original", toned)]
    h, w = clean.shape[:2]
    label = 18
    sheet = PILImage.new("RGB", (2 * w + 4, 2 * (h + label) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, img) in enumerate(panels):
        x, y = (i % 2) * (w + 4), (i // 2) * (h + label + 4)
        sheet.paste(PILImage.fromarray(engine.to_uint8(img)), (x, y + label))
        draw.text((x + 4, y + 3), name, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=92)
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-card", action="store_true", help="do not write the numbers into the model cards")
    ap.add_argument("--trial", action="store_true",
                    help="only print the numbers (no result file, cards or figure): to compare a candidate "
                         "installed as a user model, e.g. RESTORA_DATA_DIR=/tmp/try with /tmp/try/models/damage-unet.*")
    ap.add_argument("--draws", type=int, default=3, help="damaged versions of each picture (steadier means)")
    args = ap.parse_args()
    try:
        import cv2  # noqa: F401 - checked before the half hour of work that ends in the Telea rows
    except ImportError:
        ap.exit(2, "benchmarks/damage.py: OpenCV (the Telea baseline) is not installed: "
                   "pip install -e '.[bench]' (make bench does)\n")
    _, val_paths = picture_paths(DATASETS)
    pictures = [c for c in (p.astype(np.float32) / 255 for p in load_rgb(val_paths, 64)) for _ in range(args.draws)]
    is_page = [p.relative_to(DATASETS).parts[0] == "docs" for p in val_paths]
    pages = load_rgb([p for p, page in zip(val_paths, is_page) if page], 64)
    photos = load_rgb([p for p, page in zip(val_paths, is_page) if not page], 64)
    rng = np.random.default_rng(2024)
    try:
        engine.get_card(MaskRequest().model)
        has_mask = True
    except ModelNotInstalledError:
        has_mask = False        # then only the repair with the true mask is measured
    inter = union = tp = fp = fn = tn = 0
    ious, strict, p_model, p_e2e, p_telea = [], [], [], [], []
    p_loose, p_margin = {}, {}        # repair with the true mask grown by LOOSE_PX: inside the damage, the margin
    t_mask = t_repair = pixels = 0.0
    for clean in pictures:
        damaged, labels = damage(rng, clean)
        image = Image(pixels=damaged)
        pixels += labels.size
        g, unsure = labels == 1, labels == 0.5
        truth = g.astype(np.float32)
        if has_mask:
            t = time.perf_counter()
            pred = detect(damaged)
            t_mask += time.perf_counter() - t
            strict.append(iou(pred > 0.5, g))
            p = (pred > 0.5) & ~unsure
            ious.append(iou(p, g))
            i = int((p & g).sum())
            inter, union = inter + i, union + int((p | g).sum())
            tp, fp, fn = tp + i, fp + int((p & ~g).sum()), fn + int((~p & g).sum())
            tn += int((~p & ~g & ~unsure).sum())
        if not g.any():
            continue
        t = time.perf_counter()
        fixed = run_job(engine.repair(image, RepairRequest(options=CPU), truth)).pixels
        t_repair += time.perf_counter() - t
        p_model.append(psnr_in(truth, fixed, clean))
        p_telea.append(psnr_in(truth, telea(damaged, truth), clean))
        loose = grow_mask(truth, LOOSE_PX)
        margin = (loose > 0.5) & (labels == 0)
        for name, out in (("repair", run_job(engine.repair(image, RepairRequest(options=CPU), loose)).pixels),
                          ("telea", telea(damaged, loose)), ("input", damaged)):
            p_loose.setdefault(name, []).append(psnr_in(truth, out, clean))
            p_margin.setdefault(name, []).append(psnr_in(margin.astype(np.float32), out, clean))
        if has_mask:
            e2e = run_job(engine.repair(image, RepairRequest(options=CPU), pred)).pixels
            p_e2e.append(psnr_in(truth, e2e, clean))
    aged_ious = []
    for clean in pictures if has_mask else []:
        damaged, labels = damage(rng, age(rng, clean))
        aged_ious.append(damage_iou(detect(damaged), labels))
    per_kind, false_alarm = {}, {}
    if has_mask:
        once = pictures[::args.draws]
        for kind in KINDS:
            inter_k = union_k = 0
            for clean in once:
                damaged, labels = damage(rng, clean, kinds=(kind,))
                p, g = damage_masks(detect(damaged), labels)
                inter_k, union_k = inter_k + int((p & g).sum()), union_k + int((p | g).sum())
            per_kind[kind] = inter_k / max(union_k, 1)
        for name, prep in (("plain", lambda c: c), ("aged", lambda c: age(rng, c)),
                           ("shaded", lambda c: shade(rng, c))):
            false_alarm[name] = float(np.mean([detect(prep(c)).mean() for c in once]))
        scan = {k: [] for name in ("reduced", "full", "page", "photo") for k in (name, name + "_false")}
        for clean in once:
            damaged, labels = damage(rng, clean)
            big = np.clip(enlarged(damaged, SCAN_FACTOR, PILImage.BICUBIC), 0, 1)
            big_labels = enlarged(labels, SCAN_FACTOR, PILImage.NEAREST)
            big_clean = np.clip(enlarged(clean, SCAN_FACTOR, PILImage.BICUBIC), 0, 1)
            for name, scale in (("reduced", None), ("full", 1.0)):
                scan[name].append(damage_iou(detect(big, scale), big_labels))
                scan[name + "_false"].append(detect(big_clean, scale).mean())
        for page in pages:
            big = scanned_page(page)
            damaged, labels = damage(rng, big)
            for name, scale in (("page", None), ("photo", DETECT_WORK_SIDE / min(big.shape[:2]))):
                scan[name].append(damage_iou(detect(damaged, scale), labels))
                scan[name + "_false"].append(detect(big, scale).mean())
    p_scan = {}          # repair at scan size: as the op does, at full size only, Telea; with loose masks
    for clean in pictures[::args.draws]:
        big = mirrored(clean, SCAN_MIRROR)
        damaged, labels = damage(rng, big)
        truth = (labels == 1).astype(np.float32)
        if truth.any():
            loose = grow_mask(truth, LOOSE_PX)
            margin = ((loose > 0.5) & (labels == 0)).astype(np.float32)
            for name, scale in (("repair", None), ("full", 1.0)):
                request = RepairRequest(options=CPU, scale=scale)
                fixed = run_job(engine.repair(Image(pixels=damaged), request, truth)).pixels
                p_scan.setdefault(name, []).append(psnr_in(truth, fixed, big))
                fixed = run_job(engine.repair(Image(pixels=damaged), request, loose)).pixels
                p_scan.setdefault(name + "_loose", []).append(psnr_in(truth, fixed, big))
                p_scan.setdefault(name + "_margin", []).append(psnr_in(margin, fixed, big))
            p_scan.setdefault("telea", []).append(psnr_in(truth, telea(damaged, truth), big))
    for page in pages:   # repair on pages at about 300 dpi
        big = scanned_page(page)
        damaged, labels = damage(rng, big)
        truth = (labels == 1).astype(np.float32)
        if truth.any():
            for name, scale in (("page", None), ("page_full", 1.0)):
                fixed = run_job(engine.repair(Image(pixels=damaged), RepairRequest(options=CPU, scale=scale),
                                              truth)).pixels
                p_scan.setdefault(name, []).append(psnr_in(truth, fixed, big))
            p_scan.setdefault("page_telea", []).append(psnr_in(truth, telea(damaged, truth), big))
    res = {
        "images": len(pictures),
        "psnr_hole_repair_true_mask": float(np.mean(p_model)),
        "psnr_hole_telea_true_mask": float(np.mean(p_telea)),
        "psnr_hole_repair_loose_mask": float(np.mean(p_loose["repair"])),
        "psnr_hole_telea_loose_mask": float(np.mean(p_loose["telea"])),
        "psnr_margin_repair_loose_mask": _mean(p_margin["repair"]),
        "psnr_margin_telea_loose_mask": _mean(p_margin["telea"]),
        "psnr_margin_input_loose_mask": _mean(p_margin["input"]),
        "psnr_hole_repair_true_mask_scan_size": float(np.mean(p_scan["repair"])),
        "psnr_hole_repair_true_mask_scan_size_full_size_only": float(np.mean(p_scan["full"])),
        "psnr_hole_telea_true_mask_scan_size": float(np.mean(p_scan["telea"])),
        "psnr_hole_repair_loose_mask_scan_size": _mean(p_scan["repair_loose"]),
        "psnr_hole_repair_loose_mask_scan_size_full_size_only": _mean(p_scan["full_loose"]),
        "psnr_margin_repair_loose_mask_scan_size": _mean(p_scan["repair_margin"]),
        "psnr_margin_repair_loose_mask_scan_size_full_size_only": _mean(p_scan["full_margin"]),
        "psnr_hole_repair_true_mask_scan_size_pages": float(np.mean(p_scan["page"])),
        "psnr_hole_repair_true_mask_scan_size_pages_full_size_only": float(np.mean(p_scan["page_full"])),
        "psnr_hole_telea_true_mask_scan_size_pages": float(np.mean(p_scan["page_telea"])),
        "cpu_s_per_mp_repair": t_repair / (pixels / 1e6),
    }
    if has_mask:
        res.update({
            "detection_views": VIEWS,
            "iou_damage_pooled": inter / max(union, 1),
            "iou_damage_mean_per_image": float(np.mean(ious)),
            "iou_damage_strict_mean_per_image": float(np.mean(strict)),
            "iou_damage_aged_mean_per_image": float(np.mean(aged_ious)),
            "miou_two_class": 0.5 * (inter / max(union, 1) + tn / max(tn + fp + fn, 1)),
            "f1_damage": 2 * tp / max(2 * tp + fp + fn, 1),
            "iou_damage_pooled_per_kind": per_kind,
            "false_alarm_share_clean": false_alarm["plain"],
            "false_alarm_share_clean_aged": false_alarm["aged"],
            "false_alarm_share_clean_shaded": false_alarm["shaded"],
            "iou_damage_scan_size_mean_per_image": float(np.mean(scan["reduced"])),
            "iou_damage_scan_size_full_resolution_mean_per_image": float(np.mean(scan["full"])),
            "false_alarm_share_clean_scan_size": float(np.mean(scan["reduced_false"])),
            "false_alarm_share_clean_scan_size_full_resolution": float(np.mean(scan["full_false"])),
            "iou_damage_scan_size_pages_mean_per_image": float(np.mean(scan["page"])),
            "iou_damage_scan_size_pages_photo_working_size_mean_per_image": float(np.mean(scan["photo"])),
            "false_alarm_share_clean_scan_size_pages": float(np.mean(scan["page_false"])),
            "false_alarm_share_clean_scan_size_pages_photo_working_size": float(np.mean(scan["photo_false"])),
            "photos_taken_for_pages": float(np.mean([looks_like_page(enlarged_uint8(
                p, (p.shape[1] * SCAN_FACTOR, p.shape[0] * SCAN_FACTOR)).astype(np.float32) / 255) for p in photos])),
            "psnr_hole_repair_end_to_end": float(np.mean(p_e2e)),
            "cpu_s_per_mp_mask": t_mask / (pixels / 1e6),
        })
        print_table(["mask", "value"], [["damage IoU (mean per image)", res["iou_damage_mean_per_image"]],
                                        ["damage IoU (pooled)", res["iou_damage_pooled"]],
                                        ["strict damage IoU, unsure = clean (mean per image)",
                                         res["iou_damage_strict_mean_per_image"]],
                                        ["mean IoU (damage + background)", res["miou_two_class"]],
                                        ["damage IoU on aged prints (mean per image)",
                                         res["iou_damage_aged_mean_per_image"]],
                                        ["F1", res["f1_damage"]],
                                        ["undamaged pictures: share marked", res["false_alarm_share_clean"]],
                                        ["undamaged aged pictures: share marked",
                                         res["false_alarm_share_clean_aged"]],
                                        ["undamaged pictures under uneven light: share marked",
                                         res["false_alarm_share_clean_shaded"]]])
        print()
        print_table([f"scan-size pictures (enlarged x{SCAN_FACTOR})", "damage IoU (mean per image)",
                     "undamaged: share marked"],
                    [["as detected (reduced to the working size)", res["iou_damage_scan_size_mean_per_image"],
                      res["false_alarm_share_clean_scan_size"]],
                     ["at full resolution", res["iou_damage_scan_size_full_resolution_mean_per_image"],
                      res["false_alarm_share_clean_scan_size_full_resolution"]]])
        print()
        print_table([f"scan-size pages (about 300 dpi: mirrored 2x2, enlarged x{SCAN_PAGE})",
                     "damage IoU (mean per image)", "undamaged: share marked"],
                    [["as detected (a page reduced to about 100 dpi)",
                      res["iou_damage_scan_size_pages_mean_per_image"], res["false_alarm_share_clean_scan_size_pages"]],
                     ["reduced to the photo working size",
                      res["iou_damage_scan_size_pages_photo_working_size_mean_per_image"],
                      res["false_alarm_share_clean_scan_size_pages_photo_working_size"]],
                     ["held-out photos taken for pages (share)", res["photos_taken_for_pages"], ""]])
        print()
        print_table(["damage kind alone", "IoU (pooled)"], [[k, v] for k, v in per_kind.items()])
        print()
    print_table(["repair, PSNR inside the true mask", "dB"], [
        ["repair-unet, true mask", res["psnr_hole_repair_true_mask"]],
        *([["repair-unet, predicted mask (end to end)", res["psnr_hole_repair_end_to_end"]]] if has_mask else []),
        ["OpenCV Telea, true mask", res["psnr_hole_telea_true_mask"]]])
    print()
    print_table(["repair at scan size, PSNR inside the true mask", "repair-unet dB", "at full size only dB",
                 "Telea dB"], [
        [f"pictures mirrored {SCAN_MIRROR}x{SCAN_MIRROR}, damaged at that size",
         res["psnr_hole_repair_true_mask_scan_size"], res["psnr_hole_repair_true_mask_scan_size_full_size_only"],
         res["psnr_hole_telea_true_mask_scan_size"]],
        [f"the same, the true mask grown by {LOOSE_PX} px: inside the damage",
         res["psnr_hole_repair_loose_mask_scan_size"], res["psnr_hole_repair_loose_mask_scan_size_full_size_only"],
         ""],
        ["the same: on the intact margin", res["psnr_margin_repair_loose_mask_scan_size"],
         res["psnr_margin_repair_loose_mask_scan_size_full_size_only"], ""],
        [f"pages at about 300 dpi (mirrored 2x2, enlarged x{SCAN_PAGE}, damaged)",
         res["psnr_hole_repair_true_mask_scan_size_pages"],
         res["psnr_hole_repair_true_mask_scan_size_pages_full_size_only"],
         res["psnr_hole_telea_true_mask_scan_size_pages"]]])
    print()
    print_table([f"repair with the true mask grown by {LOOSE_PX} px (a loose, hand-painted mask), PSNR",
                 "damage dB", "intact margin dB"], [
        ["repair-unet", res["psnr_hole_repair_loose_mask"], res["psnr_margin_repair_loose_mask"]],
        ["OpenCV Telea", res["psnr_hole_telea_loose_mask"], res["psnr_margin_telea_loose_mask"]],
        ["the damaged input, left as it is", "", res["psnr_margin_input_loose_mask"]]])
    print()
    print_table(["speed (CPU)", "s / megapixel"], [
        *([["detect damage", res["cpu_s_per_mp_mask"]]] if has_mask else []),
        ["repair (true mask)", res["cpu_s_per_mp_repair"]]])
    if args.trial:
        return 0
    print(f"\nwrote {write_result('damage', res)}")
    if has_mask:
        figure(ROOT / "docs" / "images" / "damage_example.jpg")
    if not args.no_card:
        cmd = "python benchmarks/damage.py"
        if has_mask:
            mask_keys = ("detection_views", "iou", "miou", "f1", "false_alarm", "cpu_s_per_mp_mask")
            update_card("damage-unet", {k: _rounded(v) for k, v in res.items() if k.startswith(mask_keys)},
                        {"damage IoU": round(res["iou_damage_mean_per_image"], 3),
                         "F1": round(res["f1_damage"], 3)}, cmd)
        update_card("repair-unet", {k: round(v, 4) for k, v in res.items()
                                    if k.startswith(("psnr", "cpu_s_per_mp_repair"))},
                    {"hole PSNR dB": round(res["psnr_hole_repair_true_mask"], 2),
                     "Telea dB": round(res["psnr_hole_telea_true_mask"], 2)}, cmd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
