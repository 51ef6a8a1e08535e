"""Starting a phase from a shipped model card, and averaging models' weights
(engine.training.average): the mean of each tensor, a card recording both models'
training, and a clear refusal to average different networks."""
import json

import pytest
import torch
from model_factory import make_tiny_models
from safetensors.torch import load_file

from engine.training import average as average_tool
from engine.training.common import Checkpoints


def test_a_phase_can_start_from_a_model_card(tmp_path):
    weights = make_tiny_models(tmp_path / "a")["test-repair"]
    ckpts = Checkpoints(tmp_path / "run", {"lr": 1e-4}, weights.with_suffix(".json"))
    shipped = load_file(str(weights))
    assert all(torch.equal(ckpts.init_model[k], shipped[k].float()) for k in shipped)
    assert ckpts.history == [{}, {"lr": 1e-4}]       # the card's (empty) training record, then this phase's


def test_average_exports_the_mean_weights_with_both_training_records(tmp_path):
    a = make_tiny_models(tmp_path / "a", seed=0)["test-repair"]
    b = make_tiny_models(tmp_path / "b", seed=1)["test-repair"]
    for path, lr in ((a, 1e-3), (b, 1e-4)):          # give each card a training record of its own
        card_path = path.with_suffix(".json")
        card = json.loads(card_path.read_text())
        card["training"] = {"lr": lr}
        card_path.write_text(json.dumps(card))
    assert average_tool.main([str(tmp_path / "out"), str(a.with_suffix(".json")), str(b.with_suffix(".json"))]) == 0
    wa, wb = load_file(str(a)), load_file(str(b))
    out = load_file(str(tmp_path / "out" / "test-repair.safetensors"))
    assert out.keys() == wa.keys()
    for k in wa:
        assert torch.allclose(out[k].float(), (wa[k].float() + wb[k].float()) / 2, atol=1e-3), k
    assert any(not torch.allclose(out[k].float(), wa[k].float(), atol=1e-3) for k in wa)
    card = json.loads((tmp_path / "out" / "test-repair.json").read_text())
    assert [t["lr"] for t in card["training"]["averaged"]] == [1e-3, 1e-4]
    assert card["arch"] == "fillunet" and "benchmarks" not in card


def test_average_refuses_different_networks(tmp_path):
    models = make_tiny_models(tmp_path / "a")
    mask, repair = (str(models[n].with_suffix(".json")) for n in ("test-mask", "test-repair"))
    with pytest.raises(SystemExit):
        average_tool.main([str(tmp_path / "out"), mask, repair])
    assert not (tmp_path / "out").exists()
