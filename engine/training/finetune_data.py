"""What a fine-tune run is given and what it reports, without torch (the editor's
Fine-tune dialog builds and reads these on its GUI thread): the request, the
progress and result records, the training pairs matched by file stem, the
validation split and the rule for a new model's name. The training loop that
uses them is engine/training/finetune.py.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..batch import find_images
from ..errors import RestoraError
from ..models import list_models
from ..types import Progress

TASKS = ("restore", "mask", "repair")
# the validation metric of each task and whether a higher value is better
METRICS = {"restore": ("rmse", False), "mask": ("iou", True), "repair": ("psnr_hole", True)}
METRIC_LABELS = {"rmse": "RMSE", "iou": "IoU", "psnr_hole": "PSNR in the holes (dB)"}
# the peak learning rate of each task when the request gives none. benchmarks/finetune.py: a
# detector taught a new kind of damage at 1e-3 keeps a third of what it found before (IoU 0.655
# -> 0.225), at 1e-4 half (0.341), and learns the new kind nearly as well (0.367 / 0.320); the
# repair network gains the same at both (20.56 -> 21.00 / 20.97 dB)
DEFAULT_LR = {"restore": 1e-3, "mask": 1e-4, "repair": 1e-3}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class FinetuneRequest:
    """Fine-tune `model` (shipped or user) into a new user model called `name`.

    Data: `degraded_dir` and `clean_dir` hold pairs matched by file stem (for a mask
    model, `clean_dir` holds the damage masks, white = damaged). With `degraded_dir`
    None, `clean_dir` holds clean images only and the project's synthetic damage makes
    the inputs (restore: synth_docs.degrade, mask: synth_damage.damage, repair:
    synth_damage.holes_mask)."""

    model: str
    name: str
    clean_dir: Path
    degraded_dir: Path | None = None
    steps: int = 300
    lr: float | None = None              # None: DEFAULT_LR of the model's task
    batch: int = 8
    patch: int = 96
    device: str = "auto"
    eval_every: int = 0                  # steps between validations; 0: about ten per run
    validation_fraction: float = 0.2     # share of the pairs held out (at least one)
    seed: int = 0
    overwrite: bool = False              # replace the user's own model of the same name
    save_on_cancel: bool = True          # a cancelled run still saves its best weights as `name`

    def command_line(self) -> str:
        """The `python main.py finetune ...` command that makes this request (for the model card)."""
        data = (["--degraded", str(self.degraded_dir), "--clean", str(self.clean_dir)] if self.degraded_dir
                else ["--clean-only", str(self.clean_dir)])
        args = ["python", "main.py", "finetune", "--model", self.model, *data, "--name", self.name,
                "--steps", str(self.steps), *(["--lr", f"{self.lr:g}"] if self.lr is not None else []),
                "--batch", str(self.batch), "--patch", str(self.patch), "--device", self.device]
        return shlex.join(args)


@dataclass(frozen=True, eq=False)
class FinetuneStatus(Progress):
    """Progress of a fine-tune run (`done` of `total` training steps) with what a plot
    and a preview show: this step's training loss, and at validation steps the metric
    and a (input, output) preview of the first validation image (HxWxC float32)."""

    loss: float | None = None
    metric: str = ""                     # e.g. "rmse"
    value: float | None = None           # measured at this step; None between validations
    before: float | None = None          # the starting model's value
    preview: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class FinetuneResult:
    """The saved model and its validation numbers before and after fine-tuning."""

    name: str
    card_path: Path
    metric: str
    before: float
    after: float
    best_step: int
    steps_done: int
    cancelled: bool = False
    # mask pairs: IoU (before, after) on the validation pictures with the project's synthetic
    # damage added, i.e. how well the model still finds the kinds of damage it knew
    known_damage: tuple[float, float] | None = None

    def known_damage_note(self, arrow: str = "->") -> str:
        """'; its original kinds of damage, drawn over the validation pictures: IoU 0.49 -> 0.45', or ''."""
        if self.known_damage is None:
            return ""
        return "; its original kinds of damage, drawn over the validation pictures: IoU {:.3g} {} {:.3g}".format(
            self.known_damage[0], arrow, self.known_damage[1])


@dataclass(frozen=True)
class TrainingPair:
    """One training image: its file stem, the clean file and (paired data) the degraded one."""

    stem: str
    clean: Path
    degraded: Path | None = None


def _by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise RestoraError(f"{folder}: not a folder")
    found: dict[str, Path] = {}
    for path in find_images(folder, recursive=False):
        if path.stem in found:
            raise RestoraError(f"{folder}: {found[path.stem].name} and {path.name} have the same name stem; "
                               f"pairs are matched by stem, so keep one")
        found[path.stem] = path
    return found


def find_pairs(clean_dir: Path, degraded_dir: Path | None = None) -> list[TrainingPair]:
    """The images of `clean_dir` matched with those of `degraded_dir` by file stem (files
    without a partner are left out), or every clean image when `degraded_dir` is None;
    sorted by stem. RestoraError when a folder is missing or nothing matches."""
    clean = _by_stem(Path(clean_dir))
    if degraded_dir is None:
        pairs = [TrainingPair(stem, path) for stem, path in clean.items()]
    else:
        degraded = _by_stem(Path(degraded_dir))
        pairs = [TrainingPair(stem, clean[stem], degraded[stem]) for stem in clean if stem in degraded]
    if not pairs:
        raise RestoraError(f"{clean_dir}: no images" if degraded_dir is None else
                           f"no image of {degraded_dir} has a partner of the same name in {clean_dir}")
    return sorted(pairs, key=lambda p: p.stem)


def split_validation(pairs: list[TrainingPair], fraction: float) -> tuple[list[TrainingPair], list[TrainingPair]]:
    """(train, validation): about `fraction` of the pairs, evenly spread by name, are held
    out; at least one on each side. RestoraError with fewer than two pairs."""
    n = len(pairs)
    if n < 2:
        raise RestoraError(f"fine-tuning needs at least 2 images (one to train on, one to validate); found {n}")
    k = max(1, min(n - 1, round(n * fraction)))
    held_out = {int((i + 0.5) * n / k) for i in range(k)}
    return ([p for i, p in enumerate(pairs) if i not in held_out], [p for i, p in enumerate(pairs) if i in held_out])


def check_new_name(name: str, overwrite: bool = False) -> None:
    """RestoraError unless `name` can be a new user model: a plain file name, not a shipped
    model's name, and not an existing user model's unless `overwrite`."""
    if not NAME_PATTERN.fullmatch(name):
        raise RestoraError(f"{name!r} cannot be a model name: use up to 64 letters, digits, '.', '_' or '-', "
                           f"starting with a letter or digit")
    sources = {c.source for c in list_models() if c.name == name}
    if "shipped" in sources:
        raise RestoraError(f"{name!r} is a shipped model; choose another name for the fine-tuned model")
    if "user" in sources and not overwrite:
        raise RestoraError(f"a model called {name!r} exists already; choose another name or replace it "
                           f"(--overwrite)")
