"""The quality measures the benchmarks, the tests and the training scripts report:
IoU of damage masks, PSNR inside a region, RMSE, and PSNR / SSIM on the Y channel as
the super-resolution literature computes them. Images are numpy arrays in [0, 1]."""
from __future__ import annotations

import numpy as np


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of two boolean masks; both empty counts as 1."""
    union = int((pred | truth).sum())
    return int((pred & truth).sum()) / union if union else 1.0


def damage_masks(prob: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(found, true) damage as boolean masks: `prob` > threshold against a generator's labels
    (1 damaged, 0 intact, 0.5 unsure: those pixels count neither way, as PASCAL VOC's void band)."""
    return (prob > threshold) & (labels != 0.5), labels == 1


def damage_iou(prob: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of the damage class, the unsure pixels not counted (`damage_masks`)."""
    return iou(*damage_masks(prob, labels, threshold))


def psnr_in(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> float | None:
    """PSNR (peak 1) of image `a` against `b` over the pixels where `mask` > 0.5; None if there are none."""
    m = mask > 0.5
    if not m.any():
        return None
    mse = float(np.mean((a[m].astype(np.float64) - b[m]) ** 2))
    return 10 * np.log10(1 / max(mse, 1e-10))


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def y_channel(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma in [16, 235] of RGB in [0, 1] (MATLAB's rgb2ycbcr), float64."""
    rgb = rgb.astype(np.float64)
    return 16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def _y_cropped(sr: np.ndarray, hr: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    """The Y channels of SR (rounded to 8 bits first, as a saved image would be) and HR with
    `border` pixels cropped."""
    a, b = y_channel(np.round(np.clip(sr, 0, 1) * 255) / 255), y_channel(hr)
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return a, b


def psnr_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """PSNR on the Y channel with `border` pixels cropped (the SR literature's protocol);
    both RGB float in [0, 1]."""
    a, b = _y_cropped(sr, hr, border)
    mse = float(np.mean((a - b) ** 2))
    return 10 * np.log10(255 ** 2 / max(mse, 1e-10))


def ssim_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """SSIM (Gaussian window 11, sigma 1.5) on the Y channel, border cropped, as in the SR papers."""
    import torch
    import torch.nn.functional as F

    a, b = _y_cropped(sr, hr, border)
    g = torch.exp(-(torch.arange(11, dtype=torch.float64) - 5) ** 2 / (2 * 1.5 ** 2))
    win = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    x, y = (torch.from_numpy(np.ascontiguousarray(v))[None, None] for v in (a, b))
    mu_x, mu_y = F.conv2d(x, win), F.conv2d(y, win)
    sxx = F.conv2d(x * x, win) - mu_x ** 2
    syy = F.conv2d(y * y, win) - mu_y ** 2
    sxy = F.conv2d(x * y, win) - mu_x * mu_y
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return float(s.mean())
