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
