"""The editor's tools as worker jobs. Each function is a generator that runs one
engine op on a snapshot of the document's image, on the whole image or only on a
selected region, yields the op's Progress and returns what the document should
become. They run on the worker thread (the engine ops they call import torch).

A selection is (x, y, width, height) in image pixels. A region-limited job runs
on the selection plus some context and blends the result back with a feathered
edge; Upscale instead makes the upscaled selection the new image.
"""
from __future__ import annotations

from typing import Generator

import numpy as np

import engine
from engine import Box, Region, blend_region, paste_hard

Selection = tuple[int, int, int, int]


def crop_image(image: engine.Image, box: Box) -> engine.Image:
    """The part of `image` inside `box`, alpha included, metadata kept."""
    alpha = None if image.alpha is None else np.ascontiguousarray(image.alpha[box.slices])
    return image.with_pixels(np.ascontiguousarray(image.pixels[box.slices]), alpha)


def restore_job(image: engine.Image, selection: Selection | None, request: engine.RestoreRequest,
                cancel: engine.CancelToken) -> Generator[engine.Progress, None, engine.Image]:
    """Clean the page (or the selection); returns the new image."""
    if selection is None:
        return (yield from engine.restore(image, request, cancel))
    region = Region.around(selection, image.width, image.height)
    result = yield from engine.restore(crop_image(image, region.crop), request, cancel)
    return image.with_pixels(blend_region(image.pixels, result.pixels, region))


def detect_damage_job(image: engine.Image, selection: Selection | None, mask: np.ndarray | None,
                      request: engine.MaskRequest, cancel: engine.CancelToken
                      ) -> Generator[engine.Progress, None, np.ndarray]:
    """Find damage in the image (or the selection, keeping `mask` elsewhere); returns the HxW mask."""
    if selection is None:
        return (yield from engine.detect_damage(image, request, cancel))
    region = Region.around(selection, image.width, image.height)
    found = yield from engine.detect_damage(crop_image(image, region.crop), request, cancel)
    base = mask if mask is not None else np.zeros((image.height, image.width), np.float32)
    return paste_hard(base, found, region)


def repair_job(image: engine.Image, selection: Selection | None, mask: np.ndarray | None,
               request: engine.RepairRequest, cancel: engine.CancelToken
               ) -> Generator[engine.Progress, None, engine.Image]:
    """Fill the damage given by `mask` (detected first when None) in the image or the selection."""
    if selection is None:
        return (yield from engine.repair(image, request, mask, cancel))
    region = Region.around(selection, image.width, image.height)
    crop_mask = None if mask is None else np.ascontiguousarray(mask[region.crop.slices])
    result = yield from engine.repair(crop_image(image, region.crop), request, crop_mask, cancel)
    return image.with_pixels(blend_region(image.pixels, result.pixels, region))


def upscale_job(image: engine.Image, selection: Selection | None, request: engine.UpscaleRequest,
                cancel: engine.CancelToken) -> Generator[engine.Progress, None, engine.Image]:
    """Upscale the image, or make the upscaled selection (computed with context) the new image."""
    if selection is None:
        return (yield from engine.upscale(image, request, cancel))
    region = Region.around(selection, image.width, image.height)
    result = yield from engine.upscale(crop_image(image, region.crop), request, cancel)
    return crop_image(result, region.selection_in_crop.scaled(request.scale))
