import numpy as np
import pytest

from engine.metrics import damage_iou, iou, psnr_in, psnr_y, rmse, ssim_y


def test_iou_and_the_unsure_band():
    truth = np.zeros((4, 4), bool)
    truth[:2] = True
    pred = np.zeros((4, 4), bool)
    pred[1:3] = True
    assert iou(pred, truth) == pytest.approx(4 / 12)
    assert iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    labels = np.where(truth, 1.0, 0.0)
    labels[2] = 0.5                                   # the wrongly found row is unsure: not counted
    assert damage_iou(pred.astype(np.float32), labels) == pytest.approx(4 / 8)
    assert damage_iou(np.zeros((4, 4)), labels) == 0.0


def test_psnr_in_and_rmse():
    a, b = np.zeros((4, 4, 3)), np.zeros((4, 4, 3))
    b[0] = 0.1
    mask = np.zeros((4, 4, 3))
    assert psnr_in(mask, a, b) is None
    mask[:2] = 1
    assert psnr_in(mask, a, b) == pytest.approx(10 * np.log10(1 / 0.005))
    assert rmse(a, b) == pytest.approx(np.sqrt(0.01 / 4))


def test_y_channel_psnr_and_ssim():
    rng = np.random.default_rng(0)
    hr = np.repeat(np.linspace(0.2, 0.8, 32)[None, :, None], 32, 0).repeat(3, 2)   # a smooth ramp
    assert ssim_y(hr, hr, 4) == pytest.approx(1.0, abs=1e-3) and psnr_y(hr, hr, 4) > 40   # only the 8-bit rounding
    noisy = np.clip(hr + rng.normal(0, 0.05, hr.shape), 0, 1)
    assert ssim_y(noisy, hr, 4) < 0.9 and psnr_y(noisy, hr, 4) < psnr_y(hr, hr, 4) - 10
    assert ssim_y(hr, hr, 0) == pytest.approx(1.0, abs=1e-3)         # no border to crop
