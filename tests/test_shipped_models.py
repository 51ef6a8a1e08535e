"""The shipped weights: every card's weights load and match their SHA-256, and the
trained models do their job far better than doing nothing (fails if untrained)."""
import numpy as np
import pytest

import engine
from engine import models
from engine.jobs import run_job
from engine.training.synth_docs import degrade, render_clean
from engine.types import Image, RestoreRequest, RunOptions

SHIPPED = [c for c in models.list_models() if c.source == "shipped"]


@pytest.mark.parametrize("card", SHIPPED, ids=[c.name for c in SHIPPED])
def test_shipped_weights_load_and_hash_matches(card):
    assert models.sha256_file(card.weights) == card.sha256
    net = models.load_network(card)
    assert sum(p.numel() for p in net.parameters()) > 0


def test_document_model_cleans_a_page():
    rng = np.random.default_rng(7)
    clean = render_clean(rng, 256).astype(np.float32) / 255
    dirty = degrade(rng, clean)
    out = run_job(engine.restore(Image(pixels=dirty[..., None]), RestoreRequest(options=RunOptions(device="cpu"))))
    rmse_in = float(np.sqrt(np.mean((dirty - clean) ** 2)))
    rmse_out = float(np.sqrt(np.mean((out.pixels[..., 0] - clean) ** 2)))
    assert rmse_out < 0.4 * rmse_in, (rmse_in, rmse_out)


def _damaged_photo(seed: int):
    from engine.training.synth_damage import damage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:192, 0:256].astype(np.float32)
    clean = np.stack([0.5 + 0.3 * np.sin(xx / 23), 0.4 + 0.2 * np.cos(yy / 17), 0.3 + 0.2 * np.sin((xx + yy) / 31)], 2)
    clean = np.clip(clean + rng.normal(0, 0.02, clean.shape), 0, 1).astype(np.float32)
    return clean, *damage(rng, clean, kinds=("scratches", "dust", "holes"), global_effects=False)


def test_damage_model_finds_damage():
    ious = []
    for seed in range(3):
        _, damaged, truth = _damaged_photo(seed)
        pred = run_job(engine.detect_damage(Image(pixels=damaged), engine.MaskRequest(options=RunOptions("cpu"))))
        p, g = pred > 0.5, truth > 0.5
        ious.append((p & g).sum() / max((p | g).sum(), 1))
    assert np.mean(ious) > 0.5, ious            # an all-empty mask scores 0


def test_repair_model_fills_only_the_mask_and_beats_grey():
    clean, damaged, truth = _damaged_photo(5)
    out = run_job(engine.repair(Image(pixels=damaged), engine.RepairRequest(options=RunOptions("cpu")), truth)).pixels
    hole = truth > 0.5
    assert np.array_equal(out[~hole], damaged[~hole])
    err_model = np.sqrt(np.mean((out[hole] - clean[hole]) ** 2))
    err_grey = np.sqrt(np.mean((0.5 - clean[hole]) ** 2))
    assert err_model < 0.5 * err_grey, (err_model, err_grey)
