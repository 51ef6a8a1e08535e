"""Chaining ops: a list of steps ("restore", "repair", "upscale:4", "upscale:4:sharp",
each optionally "@MODEL" to use a named model, e.g. "restore@my-pages") run in
order on one image, as one job with one progress range."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

from .errors import RestoraError
from .jobs import sub_progress
from .models import find_model, get_card
from .types import (CancelToken, Image, Progress, RepairRequest, RestoreRequest, RunOptions,
                    UpscaleRequest)

STEP_NAMES = ("restore", "repair", "upscale")


@dataclass(frozen=True)
class Step:
    """One pipeline step: `name` in STEP_NAMES; scale/variant for upscale; `model` overrides the default."""

    name: str
    scale: int = 4
    variant: str = "faithful"
    model: str | None = None

    def __str__(self) -> str:
        text = f"upscale:{self.scale}:{self.variant}" if self.name == "upscale" else self.name
        return text + (f"@{self.model}" if self.model else "")


def parse_steps(text: str) -> tuple[Step, ...]:
    """'restore,repair,upscale:4' -> steps; raises RestoraError on a bad spec."""
    steps = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        spec, _, model = part.partition("@")
        model = model or None
        name, *args = spec.split(":")
        if name not in STEP_NAMES:
            raise RestoraError(f"unknown step {name!r}; steps are {', '.join(STEP_NAMES)} (upscale:2 or upscale:4)")
        if name == "upscale":
            scale = args[0] if args else "4"
            if scale not in ("2", "4"):
                raise RestoraError(f"bad step {part!r}: upscale takes :2 or :4")
            variant = args[1] if len(args) > 1 else "faithful"
            if variant not in ("faithful", "sharp"):
                raise RestoraError(f"bad step {part!r}: the upscale variant is faithful or sharp")
            steps.append(Step(name, int(scale), variant, model))
        elif args:
            raise RestoraError(f"bad step {part!r}: {name} takes no options")
        else:
            steps.append(Step(name, model=model))
    if not steps:
        raise RestoraError("no steps given; for example --steps restore,upscale:2")
    return tuple(steps)


def check_installed(steps: tuple[Step, ...]) -> None:
    """Raise ModelNotInstalledError before any work if a step's model is missing."""
    for s in steps:
        if s.name == "restore":
            get_card(s.model or RestoreRequest().model)
        elif s.name == "repair":
            get_card(RepairRequest().mask_model)
            get_card(s.model or RepairRequest().model)
        elif s.model:
            get_card(s.model)
        else:
            find_model("upscale", s.scale, s.variant)


def run_steps(image: Image, steps: tuple[Step, ...], options: RunOptions = RunOptions(),
              cancel: CancelToken | None = None) -> Generator[Progress, None, Image]:
    """Apply `steps` in order; yields Progress over all steps; returns the final Image."""
    from .ops.repair import repair
    from .ops.restore import restore
    from .ops.upscale import upscale

    for i, s in enumerate(steps):
        if s.name == "restore":
            job = restore(image, RestoreRequest(s.model or RestoreRequest.model, options), cancel)
        elif s.name == "repair":
            job = repair(image, RepairRequest(s.model or RepairRequest.model, options=options), None, cancel)
        else:
            job = upscale(image, UpscaleRequest(s.scale, s.variant, s.model, options), cancel)
        image = yield from sub_progress(job, i, len(steps))
    return image
