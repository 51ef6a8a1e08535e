"""engine.training.damage end to end on a tiny made-up picture collection: both tasks
train a few steps (with and without background pool workers), keep the held-out split,
export a loadable model with its card, and resume from the last checkpoint."""
import json

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from engine.training import damage as damage_training
from engine.training.damage import (SOURCES, PoolMaker, enlarge, load_rgb, make_pool, picture_paths, recolour,
                                    repair_sample, shade)


@pytest.fixture
def datasets(tmp_path):
    """Every source folder with 11 pictures: p00 (held out, 256 px) and ten to train on."""
    rng = np.random.default_rng(0)
    for src in SOURCES:
        folder = tmp_path / src
        folder.mkdir(parents=True)
        for i in range(11):
            side = 256 if i == 0 else 80
            smooth = rng.random((side // 8, side // 8, 3))
            pic = np.kron(smooth, np.ones((8, 8, 1))) * 255
            PILImage.fromarray(pic.astype(np.uint8)).save(folder / f"p{i:02d}.png")
    return tmp_path


def test_every_tenth_picture_is_held_out(datasets):
    train, val = picture_paths(datasets)
    assert [p.name for p in val] == ["p00.png", "p10.png"] * len(SOURCES)
    assert len(train) == 9 * len(SOURCES) and not set(train) & set(val)


def test_crops_are_cut_from_one_damaged_picture_each():
    pictures = [np.full((96, 96, 3), 5 * i, np.uint8) for i in range(50)]     # one flat colour each
    _, _, cs = make_pool(np.random.default_rng(0), pictures, 7, 32, "mask", crops=3)
    colour = [tuple(c[0, 0]) for c in cs]
    assert colour[0] == colour[1] == colour[2] and colour[3] == colour[4] == colour[5]
    assert len({colour[0], colour[3], colour[6]}) == 3


def test_enlarged_pictures_give_more_crops_each():
    rng = np.random.default_rng(1)
    pic = rng.uniform(0, 1, (40, 60, 3)).astype(np.float32)
    sides = [enlarge(rng, pic).shape[:2] for _ in range(20)]
    assert all(1.5 * 40 - 1 <= h <= 4 * 40 + 1 and abs(w / h - 1.5) < 0.05 for h, w in sides)
    pictures = [np.full((96, 96, 3), 5 * i, np.uint8) for i in range(50)]     # one flat colour each
    _, _, cs = make_pool(np.random.default_rng(0), pictures, 12, 32, "repair", crops=1, p_enlarge=1.0)
    colour = [tuple(c[0, 0]) for c in cs]
    assert colour[0] == colour[1] and 3 <= len(set(colour)) <= 6      # 2-4 crops from each


def test_recolour_turns_hues_and_keeps_brightness_and_greys():
    rng = np.random.default_rng(3)
    pic = rng.uniform(0.35, 0.65, (16, 16, 3)).astype(np.float32)     # nothing clipped by the saturation change
    outs = [recolour(rng, pic) for _ in range(4)]
    for out in outs:
        np.testing.assert_allclose(out.mean(axis=2), pic.mean(axis=2), atol=1e-5)
    assert min(np.abs(out - pic).max() for out in outs) > 0.01
    grey = np.full((4, 4, 3), 0.3, np.float32)
    np.testing.assert_allclose(recolour(rng, grey), grey, atol=1e-6)


def test_loose_repair_regions_grow_over_intact_pixels():
    clean = np.random.default_rng(5).uniform(0, 1, (96, 96, 3)).astype(np.float32)
    for seed in range(6):
        damaged, region = repair_sample(np.random.default_rng(seed), clean)
        loose_damaged, loose = repair_sample(np.random.default_rng(seed), clean, p_loose=1.0)
        np.testing.assert_array_equal(loose_damaged, damaged)       # the same damage, a wider region
        assert np.all(loose[region]) and (loose.sum() > region.sum() or not region.any())


def test_shade_is_uneven_light_without_edges():
    rng = np.random.default_rng(4)
    pic = np.full((120, 160, 3), 0.5, np.float32)
    gains = [shade(rng, pic) / pic for _ in range(6)]
    for gain in gains:
        assert np.abs(np.diff(gain, axis=0)).max() < 0.05 and np.abs(np.diff(gain, axis=1)).max() < 0.05
    assert min(gain.max() - gain.min() for gain in gains) > 0.05


def test_background_workers_make_the_same_kind_of_pool(datasets):
    pictures = load_rgb(picture_paths(datasets)[0], 64)
    maker = PoolMaker(pictures, 6, 64, "mask", workers=2)
    xs, ms, cs = maker.first(1)
    assert xs.shape == (6, 64, 64, 3) and ms.shape == (6, 64, 64) and cs.shape == (6, 64, 64, 3)
    assert set(np.unique(ms)) <= {0, 1, 2}
    maker.pending.wait(60)
    fresh = maker.refreshed((xs, ms, cs), 5, refresh=1000)
    assert fresh[0].shape == xs.shape and not np.array_equal(fresh[0], xs)
    maker.procs.terminate()


@pytest.mark.parametrize("task, workers", [("mask", 0), ("repair", 1)])
def test_training_exports_a_model_and_resumes(datasets, tmp_path, task, workers):
    run, export = tmp_path / "run", tmp_path / "export"
    args = ["--task", task, "--datasets", str(datasets), "--run", str(run), "--export", str(export),
            "--steps", "3", "--batch", "2", "--patch", "64", "--pool", "4", "--val", "2",
            "--eval-every", "2", "--device", "cpu", "--workers", str(workers)]
    assert damage_training.main(args) == 0
    name = damage_training.NAMES[task]
    card = json.loads((export / f"{name}.json").read_text())
    assert card["training"]["steps"] == 3 and card["training"]["command"].endswith(" ".join(args))
    assert (export / f"{name}.safetensors").exists()
    log = (run / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["2", "3"]

    assert damage_training.main([*args, "--steps", "4"]) == 0     # resumes at step 3
    log = (run / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["2", "3", "4"]


def test_a_phase_started_from_another_lists_both_in_its_card(datasets, tmp_path):
    common = ["--task", "mask", "--datasets", str(datasets), "--batch", "2", "--patch", "64", "--pool", "2",
              "--val", "2", "--device", "cpu", "--steps", "1", "--export", str(tmp_path / "export")]
    assert damage_training.main([*common, "--run", str(tmp_path / "a"), "--lr", "1e-3"]) == 0
    assert damage_training.main([*common, "--run", str(tmp_path / "b"), "--lr", "1e-4",
                                 "--init", str(tmp_path / "a" / "best.pt")]) == 0
    card = json.loads((tmp_path / "export" / "damage-unet.json").read_text())
    assert [phase["lr"] for phase in card["training"]["phases"]] == [1e-3, 1e-4]


def test_width_and_depth_options_reach_the_card(datasets, tmp_path):
    export = tmp_path / "export"
    assert damage_training.main(["--task", "mask", "--datasets", str(datasets), "--run", str(tmp_path / "run"),
                                 "--export", str(export), "--steps", "1", "--batch", "2", "--patch", "64",
                                 "--pool", "2", "--val", "2", "--device", "cpu", "--width", "8", "--depth", "3"]) == 0
    card = json.loads((export / "damage-unet.json").read_text())
    assert card["params"]["width"] == 8 and card["params"]["depth"] == 3
    assert card["params"]["max_width"] == damage_training.ARCH["mask"]["params"]["max_width"]


def test_frozen_batch_norm_keeps_its_statistics(datasets, tmp_path):
    args = ["--task", "mask", "--datasets", str(datasets), "--export", str(tmp_path / "export"), "--steps", "2",
            "--batch", "2", "--patch", "64", "--pool", "2", "--val", "2", "--device", "cpu",
            "--eval-every", "1"]        # a step after an evaluation, which must not unfreeze them
    for run, frozen in (("free", []), ("frozen", ["--freeze-bn"])):
        assert damage_training.main([*args, "--run", str(tmp_path / run), *frozen]) == 0
    means = {run: [v for k, v in torch.load(tmp_path / run / "last.pt")["model"].items() if k.endswith("running_mean")]
             for run in ("free", "frozen")}
    assert means["frozen"] and all(not m.any() for m in means["frozen"])        # still the initial zeros
    assert any(m.any() for m in means["free"])
