"""engine.training.finetune with tiny random-weight models: the new model is saved
with its card and listed at once, shipped names are refused, cancel keeps the best
weights; the pairing, the validation split and the `finetune` verb."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import engine
from engine.cli import main
from engine.jobs import run_job
from engine.training import finetune as finetune_module
from engine.training.finetune import finetune, finetune_dir
from engine.training.finetune_data import FinetuneRequest, check_new_name, find_pairs, split_validation

FAST = {"steps": 3, "patch": 32, "batch": 2, "device": "cpu"}


@pytest.fixture
def tiny(own_tiny_models):      # fine-tuning adds models: a private folder
    return own_tiny_models


def write_pages(folder: Path, count: int, size=(56, 48), rgb=False, dim=1.0, seed=0) -> Path:
    """`count` random pages p0.png ... (the same pages for the same seed), darkened by `dim`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        page = rng.integers(0, 256, (size[1], size[0], 3) if rgb else (size[1], size[0])).astype(np.float32)
        PILImage.fromarray((page * dim).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


@pytest.fixture
def pairs(tmp_path):
    return write_pages(tmp_path / "degraded", 5, dim=0.6), write_pages(tmp_path / "clean", 5)


def test_finetune_saves_a_user_model_that_is_listed_at_once(tiny, pairs):
    degraded, clean = pairs
    statuses = []
    result = run_job(finetune(FinetuneRequest("test-restore", "my-pages", clean, degraded, **FAST)), statuses.append)
    assert [s.done for s in statuses if s.loss is not None] == [1, 2, 3]
    starting = [s for s in statuses if s.done == 0 and s.value is not None]
    assert len(starting) == 1 and starting[0].preview[0].shape == (48, 48, 1)
    assert result.metric == "rmse" and result.steps_done == 3 and result.after <= result.before

    card = engine.get_card("my-pages")
    assert card.source == "user" and card.task == "restore" and card.card_path == result.card_path
    base = engine.get_card("test-restore")
    assert (card.arch, card.params, card.channels, card.scale) == (base.arch, base.params, base.channels, base.scale)
    training = card.training
    assert training["base_model"] == "test-restore" and training["steps"] == 3 and not training["cancelled"]
    assert training["lr"] == finetune_module.DEFAULT_LR["restore"] and " --lr 0.001 " in training["command"]
    assert training["data"]["degraded"] == str(degraded) and training["data"]["clean"] == str(clean)
    assert training["data"]["train"] == ["p0", "p1", "p3", "p4"] and training["data"]["validation"] == ["p2"]
    assert training["command"].startswith("python main.py finetune --model test-restore --degraded ")
    numbers = card.benchmarks["validation"]
    assert numbers == {"metric": "rmse", "before": result.before, "after": result.after, "images": 1}
    assert "validation RMSE" in card.summary()

    image = engine.Image(pixels=np.full((20, 24, 1), 0.5, np.float32))
    restored = run_job(engine.restore(image, engine.RestoreRequest("my-pages", engine.RunOptions(device="cpu"))))
    assert restored.pixels.shape == (20, 24, 1)


@pytest.mark.parametrize("model", ["test-mask", "test-repair"])
def test_clean_only_data_trains_damage_models(tiny, tmp_path, model):
    clean = write_pages(tmp_path / "clean", 3, rgb=True)
    result = run_job(finetune(FinetuneRequest(model, f"{model}-mine", clean, **FAST)))
    card = engine.get_card(f"{model}-mine")
    assert card.source == "user" and card.task == model.removeprefix("test-")
    assert card.training["data"]["synthetic_inputs"].startswith(
        ("engine.training.synth_damage.", "engine.training.damage."))
    assert result.metric == {"test-mask": "iou", "test-repair": "psnr_hole"}[model]


def test_mask_model_pairs_images_with_masks(tiny, tmp_path):
    images = write_pages(tmp_path / "images", 3, rgb=True)
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(3):
        mask = np.zeros((48, 56), np.uint8)
        mask[10:20, 5:40] = 255
        PILImage.fromarray(mask).save(masks / f"p{i}.png")
    statuses = []
    result = run_job(finetune(FinetuneRequest("test-mask", "masks-mine", masks, images, **FAST)), statuses.append)
    card = engine.get_card("masks-mine")
    assert statuses[-1].metric == "iou" and card.training["data"]["degraded"] == str(images)
    assert card.training["data"]["rehearsal"] == finetune_module.REHEARSAL
    assert card.training["lr"] == finetune_module.DEFAULT_LR["mask"] == 1e-4      # the task's own default
    before, after = result.known_damage          # the project's damage over the validation picture
    assert card.benchmarks["known_damage"] == {"metric": "iou", "before": before, "after": after, "images": 1}
    assert f"IoU {before:.3g} -> {after:.3g}" in result.known_damage_note()

    # rehearsal: part of the training samples add the project's damage to the person's mask
    # (here empty); the validation samples are their pairs as they are
    empty = tmp_path / "empty"
    empty.mkdir()
    for i in range(3):
        PILImage.fromarray(np.zeros((48, 56), np.uint8)).save(empty / f"p{i}.png")
    data = finetune_module._Data("mask", 3, find_pairs(empty, images), 32)
    rng = np.random.default_rng(0)
    added = [bool(sample[1].max() > 0) for sample in (data.sample(rng, 0, 32) for _ in range(40))]
    assert 10 < sum(added) < 30
    x, m, _ = data.validation_set(1, 48)
    assert np.array_equal(x[0], np.asarray(PILImage.open(images / "p0.png"))[:48, 4:52]) and not m.any()


def test_finetune_keeps_the_batch_norm_statistics(tiny, pairs, monkeypatch):
    """A few pictures of one kind must not replace the statistics the model was trained with."""
    degraded, clean = pairs
    trained = []
    real = finetune_module._trainable
    monkeypatch.setattr(finetune_module, "_trainable", lambda *a: trained.append(real(*a)) or trained[-1])
    run_job(finetune(FinetuneRequest("test-restore", "my-pages", clean, degraded, **FAST)))
    norms = [m for m in trained[0].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    base = engine.models.load_network(engine.get_card("test-restore"))
    assert norms and all(not m.training for m in norms)
    assert all(torch.equal(a.running_mean, b.running_mean)
               for a, b in zip(norms, (m for m in base.modules() if isinstance(m, torch.nn.BatchNorm2d))))


def test_names_that_cannot_be_used(tiny, pairs):
    shipped = [c.name for c in engine.list_models() if c.source == "shipped"]
    for name in shipped:
        with pytest.raises(engine.RestoraError, match="shipped model"):
            check_new_name(name, overwrite=True)
    for name in ("", "../escape", ".hidden", "a/b", "x" * 65):
        with pytest.raises(engine.RestoraError, match="cannot be a model name"):
            check_new_name(name)
    with pytest.raises(engine.RestoraError, match="exists already"):
        check_new_name("test-restore")
    check_new_name("test-restore", overwrite=True)
    degraded, clean = pairs
    if shipped:
        with pytest.raises(engine.RestoraError, match="shipped model"):
            next(finetune(FinetuneRequest("test-restore", shipped[0], clean, degraded, **FAST)))
    with pytest.raises(engine.RestoraError, match="restore, mask, repair"):
        next(finetune(FinetuneRequest("test-sr-x2", "sr-mine", clean, degraded, **FAST)))
    for lr in (0.0, -1e-3):
        with pytest.raises(engine.RestoraError, match="learning rate positive"):
            next(finetune(FinetuneRequest("test-restore", "mine", clean, degraded, lr=lr, **FAST)))


@pytest.fixture
def scripted_validation(monkeypatch):
    """Validation values by call: the start 1.0, then step 1 is best (0.5), later steps worse."""
    values = iter([1.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99])
    monkeypatch.setattr(finetune_module, "_validate", lambda *args: next(values))


@pytest.mark.parametrize("how", ["token", "close"])
def test_cancel_keeps_and_saves_the_best_weights(tiny, pairs, scripted_validation, how):
    degraded, clean = pairs
    token = engine.CancelToken()
    job = finetune(FinetuneRequest("test-restore", "stopped", clean, degraded, steps=50, eval_every=1, patch=32,
                                   batch=2, device="cpu"), token)
    if how == "close":                  # the editor's worker closes the job after a cancel
        for status in job:
            if status.done == 3:
                job.close()
    else:
        with pytest.raises(engine.Cancelled):
            for status in job:
                if status.done == 3:
                    token.cancel()
    checkpoint = torch.load(finetune_dir("stopped") / "best.pt", weights_only=True)
    assert checkpoint["step"] == 1 and checkpoint["rmse"] == 0.5
    card = engine.get_card("stopped")
    assert card.training["cancelled"] and card.training["best_step"] == 1 and card.training["steps_done"] == 3
    assert card.benchmarks["validation"]["after"] == 0.5
    from safetensors.torch import load_file
    saved = load_file(str(card.weights))
    for key, value in checkpoint["model"].items():
        if value.is_floating_point():
            torch.testing.assert_close(saved[key].float(), value.half().float())


def test_cancel_without_saving_keeps_only_the_checkpoint(tiny, pairs, scripted_validation):
    degraded, clean = pairs
    token = engine.CancelToken()
    job = finetune(FinetuneRequest("test-restore", "unsaved", clean, degraded, steps=50, eval_every=1, patch=32,
                                   batch=2, device="cpu", save_on_cancel=False), token)
    with pytest.raises(engine.Cancelled):
        for status in job:
            if status.done == 2:
                token.cancel()
    assert (finetune_dir("unsaved") / "best.pt").is_file()
    assert "unsaved" not in [c.name for c in engine.list_models()]


def test_pairs_by_stem_and_the_validation_split(tmp_path):
    degraded = write_pages(tmp_path / "d", 4)
    clean = write_pages(tmp_path / "c", 3)
    (degraded / "notes.txt").write_text("not an image")
    pairs = find_pairs(clean, degraded)
    assert [(p.stem, p.clean.parent.name, p.degraded.parent.name) for p in pairs] == [
        ("p0", "c", "d"), ("p1", "c", "d"), ("p2", "c", "d")]
    assert [p.degraded for p in find_pairs(clean)] == [None] * 3
    PILImage.new("L", (4, 4)).save(clean / "p0.jpg")
    with pytest.raises(engine.RestoraError, match="same name stem"):
        find_pairs(clean, degraded)
    with pytest.raises(engine.RestoraError, match="not a folder"):
        find_pairs(tmp_path / "missing")
    many = [engine.TrainingPair(f"{i:02d}", Path(f"{i}.png")) for i in range(16)]
    for n, held_out in ((16, 3), (5, 1), (2, 1), (10, 2)):
        train, val = split_validation(many[:n], 0.2)
        assert len(val) == held_out and len(train) == n - held_out and not set(train) & set(val)
    with pytest.raises(engine.RestoraError, match="at least 2"):
        split_validation(many[:1], 0.2)


def test_finetune_verb(tiny, pairs, tmp_path, capsys):
    degraded, clean = pairs
    args = ["finetune", "--model", "test-restore", "--degraded", str(degraded), "--clean", str(clean),
            "--name", "cli-pages", "--steps", "2", "--patch", "32", "--batch", "2", "--device", "cpu"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "saved model cli-pages: validation RMSE" in err and "step 2/2: validation RMSE" in err
    assert main(["models"]) == 0 and "cli-pages" in capsys.readouterr().out
    assert main(args) == 2 and "exists already" in capsys.readouterr().err
    assert main(["finetune", "--model", "test-restore", "--degraded", str(degraded), "--name", "x"]) == 2
    assert main(["finetune", "--model", "test-restore", "--clean-only", str(clean), "--name", "document-unet"]) == 2
    card = json.loads((tmp_path / "data" / "models" / "cli-pages.json").read_text())
    assert card["training"]["steps"] == 2 and card["sha256"]
