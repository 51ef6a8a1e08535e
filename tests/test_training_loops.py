"""The document-restoration and super-resolution training loops end to end on tiny
made-up data: each exports a model whose card lists the training phases (a phase
started with --init carries the phases before it), and a re-run resumes from the
last checkpoint instead of starting over."""
import json

import numpy as np
import pytest
from PIL import Image as PILImage

from engine.training import restore as restore_training
from engine.training import sr as sr_training
from engine.training.common import Checkpoints


def _logged_steps(run):
    return [row.split(",")[0] for row in (run / "log.csv").read_text().splitlines()[1:]]


def test_checkpoints_refuse_a_missing_init(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        Checkpoints(tmp_path / "run", {}, tmp_path / "nope.pt")


def test_restore_training_chains_phases_and_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # the synthetic page cache goes to build/cache
    data = tmp_path / "dirty"
    rng = np.random.default_rng(0)
    for folder in ("train", "train_cleaned"):
        (data / folder).mkdir(parents=True)
    for i in range(7):                   # pairs 0 and 6 are held out
        clean = np.where(rng.random((64, 64)) < 0.1, 0, 255).astype(np.uint8)
        noisy = np.clip(clean * 0.8 + rng.normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
        PILImage.fromarray(clean).save(data / "train_cleaned" / f"{i}.png")
        PILImage.fromarray(noisy).save(data / "train" / f"{i}.png")
    common = ["--data", str(data), "--batch", "2", "--patch", "32", "--synth", "2", "--eval-every", "1",
              "--device", "cpu"]
    first = [*common, "--run", "r1", "--steps", "2", "--export", "e1"]
    assert restore_training.main(first) == 0
    assert restore_training.main([*common, "--run", "r2", "--steps", "1", "--export", "e2",
                                  "--init", "r1/best.pt", "--scale-max", "3"]) == 0
    card = json.loads((tmp_path / "e2" / "document-unet.json").read_text())
    assert [phase["run"] for phase in card["training"]["phases"]] == ["r1", "r2"]
    assert card["training"]["phases"][1]["scale_max"] == 3
    assert card["training"]["val_rmse_2x_at_export"] > 0
    assert card["training"]["validation_names"] == ["0.png", "6.png"]

    assert restore_training.main([*first[:-4], "--steps", "3", "--export", "e1"]) == 0   # resumes at 2
    assert _logged_steps(tmp_path / "r1") == ["1", "2", "3"]


def test_restore_batches_show_some_pages_enlarged():
    rng = np.random.default_rng(2)
    page = (rng.random((120, 120)) * 255).astype(np.uint8)        # noise: every pixel its own
    pages = ([page], [page])

    def roughness(scale_max):
        x, y = restore_training.make_batch(np.random.default_rng(3), pages, pages, 40, 32, 1.0, scale_max)
        assert x.shape == y.shape == (40, 1, 32, 32) and bool((x == y).all())
        return (x[:, 0, :, 1:] - x[:, 0, :, :-1]).abs().mean(dim=(1, 2))

    native, mixed = roughness(1.0), roughness(4.0)
    assert float(native.min()) > 0.25
    smooth = int((mixed < 0.6 * float(native.min())).sum())
    assert 8 <= smooth <= 32          # about half enlarged (most by over 1.5 times), the rest as they are


def test_sr_training_chains_phases_and_resumes_the_discriminator(tmp_path):
    rng = np.random.default_rng(1)
    for folder in sr_training.FOLDERS:
        (tmp_path / "sr" / folder).mkdir(parents=True)
        for i in range(2):               # picture 0 is held out
            pic = np.kron(rng.random((12, 12, 3)), np.ones((4, 4, 1))) * 255
            PILImage.fromarray(pic.astype(np.uint8)).save(tmp_path / "sr" / folder / f"{i}.png")
    common = ["--data", str(tmp_path / "sr"), "--scale", "2", "--batch", "2", "--patch", "8",
              "--eval-every", "1", "--device", "cpu", "--export", str(tmp_path / "export")]
    faithful, sharp = tmp_path / "faithful", tmp_path / "sharp"
    assert sr_training.main([*common, "--run", str(faithful), "--steps", "1"]) == 0
    sharp_args = [*common, "--variant", "sharp", "--run", str(sharp), "--init", str(faithful / "best.pt")]
    assert sr_training.main([*sharp_args, "--steps", "1"]) == 0
    card = json.loads((tmp_path / "export" / "sr-sharp-x2.json").read_text())
    assert [phase["variant"] for phase in card["training"]["phases"]] == ["faithful", "sharp"]

    assert sr_training.main([*sharp_args, "--steps", "2"]) == 0          # resumes at 1, with its critic
    assert _logged_steps(sharp) == ["1", "2"]
