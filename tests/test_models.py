"""The model registry: cards are listed, hashes are checked, damage is named."""
import json

import pytest

from engine import models
from engine.errors import ModelError, ModelNotInstalledError


@pytest.fixture
def user_dir(own_tiny_models):      # these tests damage the weights: a private folder
    return own_tiny_models


def test_user_models_are_listed(user_dir):
    names = {c.name for c in models.list_models() if c.source == "user"}
    assert {"test-restore", "test-mask", "test-repair", "test-sr-x2", "test-sr-x4"} <= names
    assert {c.name for c in models.list_models("upscale") if c.source == "user"} == {"test-sr-x2", "test-sr-x4"}


def test_load_checks_hash_and_caches(user_dir):
    card = models.get_card("test-restore")
    net = models.load_network(card)
    assert models.load_network(card) is net
    assert not any(p.requires_grad for p in net.parameters())


def test_corrupted_weights_are_named(user_dir):
    card = models.get_card("test-mask")
    data = bytearray(card.weights.read_bytes())
    data[-1] ^= 0xFF
    card.weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"test-mask\.safetensors.*corrupted"):
        models.load_network(card)


def test_missing_weights_are_named(user_dir):
    card = models.get_card("test-repair")
    card.weights.unlink()
    assert not card.installed
    with pytest.raises(ModelNotInstalledError, match=r"test-repair\.safetensors.*missing"):
        models.load_network(card)


def test_unknown_model_and_task():
    with pytest.raises(ModelNotInstalledError, match="not installed"):
        models.get_card("no-such-model")
    with pytest.raises(ModelNotInstalledError, match="no trained model for upscale x4"):
        models.find_model("upscale", 4, "does-not-exist")


def test_broken_card_is_reported_not_fatal(user_dir):
    (user_dir / "models" / "junk.json").write_text("{not json")
    assert models.get_card("test-restore")
    assert any("junk.json" in m for m in models.broken_cards())


def test_deleting_a_model_of_ones_own(user_dir):
    card = models.get_card("test-sr-x2")
    models.delete_user_model("test-sr-x2")
    assert not card.card_path.exists() and not card.weights.exists()
    assert "test-sr-x2" not in {c.name for c in models.list_models()}
    assert models.get_card("test-sr-x4").installed                      # the others stay
    with pytest.raises(ModelError, match="no model of your own is called 'test-sr-x2'"):
        models.delete_user_model("test-sr-x2")
    shipped = next(c for c in models.list_models() if c.source == "shipped")
    with pytest.raises(ModelError, match="shipped with Restora and cannot be deleted"):
        models.delete_user_model(shipped.name)
    assert shipped.card_path.is_file()


def test_card_records_sha256(user_dir):
    raw = json.loads((user_dir / "models" / "test-sr-x4.json").read_text())
    assert raw["sha256"] == models.sha256_file(user_dir / "models" / "test-sr-x4.safetensors")


def test_export_keeps_values_beyond_fp16_range(tmp_path):
    """Weights ship as fp16, but a batch-norm variance over 65504 must not turn into inf."""
    import torch
    from safetensors.torch import load_file

    from engine.training.common import export_model

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4)).eval()
    net[1].running_var.copy_(torch.tensor([1.0, 2.0, 4e5, 1e6]))
    card = {"name": "wide", "task": "mask", "arch": "unet", "params": {}, "scale": 1, "channels": 3}
    tensors = load_file(str(export_model(net, tmp_path, card)))
    assert tensors["0.weight"].dtype == torch.float16
    assert tensors["1.running_var"].dtype == torch.float32
    assert torch.equal(tensors["1.running_var"], net[1].running_var)
