"""Restora's engine: image I/O, models and the restoration jobs. Never imports Qt.

Light parts (types, errors, image I/O, the model registry) load at once; the
jobs that need torch load on first use, so `import engine` stays cheap for the
editor's GUI thread (torch is imported by the worker thread).

Jobs are generators: iterate them to get `Progress` reports; the return value
(`StopIteration.value`, or `run_job`) is the result. Besides the single-image ops:
`run_batch` (a folder through a pipeline of steps) and `finetune` (a new user
model from the person's own images; its request and status types load without torch).
"""
from __future__ import annotations

import importlib

from .batch import (BatchProgress, BatchReport, BatchRequest, FileOutcome, preview_first, read_report, report_path,
                    run_batch)
from .errors import (Cancelled, DeviceError, ImageReadError, ImageWriteError, ModelError,
                     ModelNotInstalledError, RestoraError)
from .imageio import DEFAULT_MAX_PIXELS, SAVE_FORMATS, load_image, load_mask, save_image, to_uint8
from .models import ModelCard, delete_user_model, find_model, get_card, list_models, user_data_dir, user_models_dir
from .morphology import dilate_step, grow_mask
from .pipeline import STEP_NAMES, Step, check_installed, parse_steps
from .region import Box, Region, blend_region, paste_hard
from .training.finetune_data import DEFAULT_LR as FINETUNE_DEFAULT_LR
from .training.finetune_data import TASKS as FINETUNE_TASKS
from .training.finetune_data import (METRIC_LABELS, FinetuneRequest, FinetuneResult, FinetuneStatus, TrainingPair,
                                     check_new_name, find_pairs, split_validation)
from .types import (CancelToken, Image, MaskRequest, Progress, RepairRequest, RestoreRequest, RunOptions,
                    UpscaleRequest)

# name -> module that defines it; imported on first attribute access (PEP 562)
_LAZY = {
    "restore": "engine.ops.restore",
    "detect_damage": "engine.ops.segment",
    "detection_scale": "engine.ops.segment",
    "repair": "engine.ops.repair",
    "upscale": "engine.ops.upscale",
    "run_job": "engine.jobs",
    "sub_progress": "engine.jobs",
    "finetune": "engine.training.finetune",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


__all__ = [
    "Cancelled", "DeviceError", "ImageReadError", "ImageWriteError", "ModelError", "ModelNotInstalledError",
    "RestoraError", "Box", "Region", "blend_region", "paste_hard", "DEFAULT_MAX_PIXELS", "SAVE_FORMATS",
    "load_image", "load_mask", "save_image", "to_uint8", "dilate_step", "grow_mask", "ModelCard",
    "delete_user_model", "find_model", "get_card", "list_models", "user_data_dir", "user_models_dir",
    "CancelToken", "Image", "MaskRequest", "Progress", "RepairRequest", "RestoreRequest", "RunOptions",
    "UpscaleRequest",
    "BatchProgress", "BatchReport", "BatchRequest", "FileOutcome", "preview_first", "read_report", "report_path",
    "run_batch", "STEP_NAMES", "Step", "check_installed", "parse_steps",
    "FINETUNE_DEFAULT_LR", "FINETUNE_TASKS", "METRIC_LABELS", "FinetuneRequest", "FinetuneResult", "FinetuneStatus",
    "TrainingPair", "check_new_name", "find_pairs", "split_validation", *_LAZY,
]
