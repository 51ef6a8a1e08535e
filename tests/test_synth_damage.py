"""engine/training/synth_damage.py: the synthetic damage generator and inpainting masks.

No datasets: the clean images are numpy gradients plus noise. Kept small (< 3 s).
"""
from __future__ import annotations

import numpy as np
import pytest

from engine.training import synth_damage as sd


def _clean(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A photo-like stand-in: smooth colour gradients, a ripple and a little texture."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / h, xx / w
    img = np.stack([0.2 + 0.6 * yy, 0.15 + 0.7 * xx, 0.5 + 0.3 * np.sin(7 * xx + 3 * yy)], 2)
    img = img + rng.normal(0, 0.03, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


@pytest.mark.parametrize("h,w", [(96, 96), (128, 80), (70, 150)])
def test_shapes_dtypes_ranges(h, w):
    rng = np.random.default_rng(h * 1000 + w)
    for _ in range(4):
        clean = _clean(rng, h, w)
        damaged, mask = sd.damage(rng, clean)
        assert damaged.shape == (h, w, 3) and damaged.dtype == np.float32
        assert mask.shape == (h, w) and mask.dtype == np.float32
        assert np.isfinite(damaged).all()
        assert damaged.min() >= 0.0 and damaged.max() <= 1.0
        assert set(np.unique(mask).tolist()) <= {0.0, 0.5, 1.0}


def test_outside_mask_unchanged_without_global_effects():
    rng = np.random.default_rng(1)
    for i in range(24):
        clean = _clean(rng, 96, 96)
        kinds = None if i < 12 else (sd.KINDS[i % len(sd.KINDS)],)
        damaged, mask = sd.damage(rng, clean, global_effects=False, kinds=kinds)
        diff = np.abs(damaged - clean).max(axis=2)
        assert diff[mask == 0].max(initial=0.0) <= sd.CHANGE_THRESHOLD + 1e-5


def test_damaged_pixels_changed_visibly_for_opaque_kinds():
    # 1 = visible change; the 5x5 local-mean exception is for stains/tape only
    rng = np.random.default_rng(2)
    kinds = tuple(k for k in sd.KINDS if k not in ("stains", "tape"))
    for _ in range(6):
        clean = _clean(rng, 96, 96)
        damaged, mask = sd.damage(rng, clean, global_effects=False, kinds=kinds)
        diff = np.abs(damaged - clean).max(axis=2)
        assert (mask == 1).sum() > 0
        assert diff[mask == 1].min() > sd.VISIBLE_THRESHOLD
        # unsure = faint change or the ring around damage: never far from visible damage or unchanged
        ring = (mask == 0.5) & (diff <= sd.CHANGE_THRESHOLD)
        assert sd._grow(mask == 1)[ring].all()


def test_unsure_band_is_thin_for_opaque_damage():
    rng = np.random.default_rng(12)
    sure = unsure = 0
    for _ in range(6):
        _, mask = sd.damage(rng, _clean(rng, 96, 96), global_effects=False, kinds=("holes", "ink", "torn"))
        sure, unsure = sure + (mask == 1).sum(), unsure + (mask == 0.5).sum()
    assert sure > 0 and unsure < 0.5 * sure


def test_tints_give_solid_masks():
    # stains/tape masks are regions, not salt-and-pepper: few isolated pixels
    rng = np.random.default_rng(3)
    for kind in ("stains", "tape"):
        total = isolated = 0
        for _ in range(4):
            _, mask = sd.damage(rng, _clean(rng, 96, 96), global_effects=False, kinds=(kind,))
            mask = (mask == 1).astype(np.float32)
            p = np.pad(mask, 1)
            nb = sum(p[1 + dy:97 + dy, 1 + dx:97 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)) - mask
            total += mask.sum()
            isolated += ((mask > 0) & (nb <= 1)).sum()
        assert total > 0
        assert isolated <= 0.02 * total


def test_no_damage_kinds_means_identity():
    rng = np.random.default_rng(4)
    clean = _clean(rng, 64, 64)
    damaged, mask = sd.damage(rng, clean, global_effects=False, kinds=())
    assert not mask.any()
    np.testing.assert_array_equal(damaged, clean)


def test_deterministic_for_same_seed():
    clean = _clean(np.random.default_rng(0), 96, 112)
    for seed in (0, 5, 17):
        d1, m1 = sd.damage(np.random.default_rng(seed), clean)
        d2, m2 = sd.damage(np.random.default_rng(seed), clean)
        np.testing.assert_array_equal(d1, d2)
        np.testing.assert_array_equal(m1, m2)
    h1 = sd.holes_mask(np.random.default_rng(9), 80, 96)
    h2 = sd.holes_mask(np.random.default_rng(9), 80, 96)
    np.testing.assert_array_equal(h1, h2)


def test_damage_present_in_most_images():
    rng = np.random.default_rng(6)
    clean = _clean(rng, 96, 96)
    n = 40
    damaged_count = sum(sd.damage(rng, clean)[1].any() for _ in range(n))
    assert damaged_count >= 0.75 * n


def test_each_kind_draws_something():
    rng = np.random.default_rng(7)
    for kind in sd.KINDS:
        hits = sum(sd.damage(rng, _clean(rng, 96, 96), global_effects=False, kinds=(kind,))[1].any()
                   for _ in range(3))
        assert hits >= 1, kind


def test_bad_input_rejected():
    rng = np.random.default_rng(8)
    with pytest.raises(ValueError):
        sd.damage(rng, np.zeros((32, 32), np.float32))
    with pytest.raises(ValueError):
        sd.damage(rng, np.zeros((32, 32, 3), np.float32), kinds=("fire",))


@pytest.mark.parametrize("h,w", [(96, 96), (128, 200), (256, 100)])
def test_holes_mask_coverage(h, w):
    rng = np.random.default_rng(h + w)
    covs = []
    for _ in range(8):
        m = sd.holes_mask(rng, h, w)
        assert m.shape == (h, w) and m.dtype == np.float32
        assert set(np.unique(m).tolist()) <= {0.0, 1.0}
        covs.append(m.mean())
    assert min(covs) >= 0.01 and max(covs) <= 0.30
    assert max(covs) - min(covs) > 0.02          # coverage varies between masks


def test_ageing_drains_colour_and_fades_without_damage():
    rng = np.random.default_rng(9)
    clean = _clean(rng, 64, 80)
    for _ in range(6):
        aged = sd.age(rng, clean)
        assert aged.shape == clean.shape and aged.dtype == np.float32
        assert 0 <= aged.min() and aged.max() <= 1
        chroma = lambda x: np.abs(x - x.mean(axis=2, keepdims=True)).mean()  # noqa: E731
        assert chroma(aged) < chroma(clean)                         # colour drained towards a tone
        assert aged.max() - aged.min() < clean.max() - clean.min()  # and faded
    assert np.array_equal(sd.age(np.random.default_rng(1), clean), sd.age(np.random.default_rng(1), clean))
