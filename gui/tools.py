"""The editor's tools as worker jobs. Each function is a generator that runs one
engine op on a snapshot of the document's image, on the whole image or only on a
selected region, yields the op's Progress and returns what the document should
become. They run on the worker thread (the engine ops they call import torch).

A selection is (x, y, width, height) in image pixels, or a `Lasso`. A
region-limited job runs on the selection's bounding box plus some context and
blends the result back with a feathered edge: the engine's rectangle feather, or
for a lasso its polygon mask feathered outwards. Upscale instead makes the
upscaled bounding box the new image.

Masks cross here between the engine's float convention and the document's uint8
levels, and `displayed` makes a result compact, converts it for the screen and
finds the pixels it changed, so that none of that runs on the GUI thread.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Generator

import numpy as np
from PySide6.QtGui import QImage

import engine
from engine import Box, Region, blend_region, paste_hard

from . import mask_ops
from .canvas import array_to_qimage
from .document import changed_box

LASSO_FEATHER = 8   # blend band outside a lasso, pixels; within the engine's context pad


@dataclass(frozen=True)
class Lasso:
    """A freehand selection: the closed polygon `points` ((x, y) in image pixels)."""

    points: tuple[tuple[float, float], ...]

    def bounds(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the pixels the polygon can cover."""
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        x0, y0 = math.floor(min(xs)), math.floor(min(ys))
        return x0, y0, math.ceil(max(xs)) - x0, math.ceil(max(ys)) - y0

    def inside(self, box: Box) -> np.ndarray:
        """Boolean box-sized mask of the pixels inside the polygon."""
        return mask_ops.polygon_mask(np.array(self.points, np.float64), box)


Selection = tuple[int, int, int, int] | Lasso


@dataclass(frozen=True)
class Shown:
    """An image job's result ready for the document: the image (compact), its QImage,
    and the box of pixels it changed (`document.changed_box`)."""

    image: engine.Image
    qimage: QImage
    changed: Box | None


@dataclass(frozen=True)
class DetectedDamage:
    """Detect Damage's result: the new mask and the soft mask it was thresholded
    from (both HxW uint8 levels), at `threshold`."""

    mask: np.ndarray
    soft_mask: np.ndarray
    threshold: float
    marked: float = field(init=False)     # the share of the image the mask marks, 0..1

    def __post_init__(self) -> None:       # counted here, on the worker
        object.__setattr__(self, "marked", np.count_nonzero(self.mask) / max(1, self.mask.size))

    def summary(self) -> str:
        """What the status bar says once the mask is shown."""
        if not self.marked:
            return "Detect Damage: no damage found"
        share = "under 0.1%" if self.marked < 0.001 else f"{100 * self.marked:.1f}%"
        return f"Detect Damage: {share} of the image marked as damaged"


def crop_image(image: engine.Image, box: Box) -> engine.Image:
    """The part of `image` inside `box`, alpha included, metadata kept."""
    alpha = None if image.alpha is None else np.ascontiguousarray(image.alpha[box.slices])
    return image.with_pixels(np.ascontiguousarray(image.pixels[box.slices]), alpha)


def region_of(selection: Selection, image: engine.Image) -> Region:
    box = selection.bounds() if isinstance(selection, Lasso) else selection
    return Region.around(box, image.width, image.height)


def blend_selection(base: np.ndarray, patch: np.ndarray, region: Region, selection: Selection) -> np.ndarray:
    """`base` with the crop-sized `patch` blended in: inside the selection fully,
    feathered just outside it, unchanged elsewhere."""
    if isinstance(selection, Lasso):
        weights = mask_ops.feather(selection.inside(region.crop), LASSO_FEATHER)
        return mask_ops.blend_weighted(base, patch, region.crop, weights)
    return blend_region(base, patch, region)


def paste_selection(base: np.ndarray, patch: np.ndarray, region: Region, selection: Selection) -> np.ndarray:
    """`base` with the selection replaced by the matching part of the crop-sized `patch`
    (no blending; for masks)."""
    if isinstance(selection, Lasso):
        out = base.copy()
        crop = region.crop
        inside = selection.inside(crop)
        out[crop.slices] = np.where(inside, patch, base[crop.slices])
        return out
    return paste_hard(base, patch, region)


def displayed(job: Generator[engine.Progress, None, engine.Image], before: engine.Image
              ) -> Generator[engine.Progress, None, Shown]:
    """Run an image job that started from `before`, then here on the worker thread
    make its result compact, convert it for the screen and find what it changed."""
    image = (yield from job).compact()
    return Shown(image, array_to_qimage(image.pixels, image.alpha), changed_box(before, image))


@dataclass(frozen=True)
class Reshaped:
    """A rotation, flip or crop of the whole document, ready for it: the image and the
    original (compact, with their QImages) and the masks."""

    image: engine.Image
    qimage: QImage
    original: engine.Image
    original_qimage: QImage
    mask: np.ndarray | None
    soft_mask: np.ndarray | None


def rotation(quarter_turns: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda a: np.rot90(a, quarter_turns)


def flip(horizontal: bool) -> Callable[[np.ndarray], np.ndarray]:
    return (lambda a: a[:, ::-1]) if horizontal else (lambda a: a[::-1])


def crop(box: Box, width: int, height: int) -> Callable[[np.ndarray], np.ndarray]:
    """Cuts `box` of a `width` x `height` image out of an array of that size, or the same
    part of an array of another size (the original of an upscaled image)."""
    def cut(a: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        y0, x0 = round(box.y0 * h / height), round(box.x0 * w / width)
        return a[y0:max(round(box.y1 * h / height), y0 + 1), x0:max(round(box.x1 * w / width), x0 + 1)]
    return cut


def reshape_job(image: engine.Image, original: engine.Image, mask: np.ndarray | None, soft_mask: np.ndarray | None,
                change: Callable[[np.ndarray], np.ndarray], cancel: engine.CancelToken
                ) -> Generator[engine.Progress, None, Reshaped]:
    """Apply `change` (`rotation`, `flip` or `crop` of an HxW[xC] array) to the image, its
    alpha, the original and the masks."""
    def changed(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.ascontiguousarray(change(a))

    def reshaped(im: engine.Image, done: int) -> tuple[engine.Image, QImage]:
        yield engine.Progress(done, 2)
        cancel.raise_if_cancelled()
        im = im.compact()
        new = im.with_pixels(changed(im.pixels), changed(im.alpha))
        return new, array_to_qimage(new.pixels, new.alpha)

    new_image, shown = yield from reshaped(image, 0)
    new_original, original_shown = (new_image, shown) if original is image else (yield from reshaped(original, 1))
    return Reshaped(new_image, shown, new_original, original_shown, changed(mask), changed(soft_mask))


def restore_job(image: engine.Image, selection: Selection | None, request: engine.RestoreRequest,
                cancel: engine.CancelToken) -> Generator[engine.Progress, None, engine.Image]:
    """Clean the page (or the selection); returns the new image."""
    if selection is None:
        return (yield from engine.restore(image, request, cancel))
    region = region_of(selection, image)
    result = yield from engine.restore(crop_image(image, region.crop), request, cancel)
    return image.with_pixels(blend_selection(image.float_pixels(), result.float_pixels(), region, selection))


def detect_damage_job(image: engine.Image, selection: Selection | None, mask: np.ndarray | None,
                      soft_mask: np.ndarray | None, request: engine.MaskRequest, cancel: engine.CancelToken
                      ) -> Generator[engine.Progress, None, DetectedDamage]:
    """Find damage in the image (or only in the selection, keeping `mask` and
    `soft_mask` elsewhere) as a soft mask thresholded at `request.threshold`. In a
    selection the detector looks at the picture at the scale it would for the whole."""
    soft_request = replace(request, soft=True, scale=engine.detection_scale(image, request))
    if selection is None:
        found = yield from engine.detect_damage(image, soft_request, cancel)
        soft = mask_ops.to_levels(found)
        return DetectedDamage(mask_ops.apply_threshold(soft, request.threshold), soft, request.threshold)
    region = region_of(selection, image)
    found = mask_ops.to_levels((yield from engine.detect_damage(crop_image(image, region.crop), soft_request,
                                                                cancel)))
    empty = np.zeros((image.height, image.width), np.uint8)
    base_mask = mask if mask is not None else empty
    base_soft = soft_mask if soft_mask is not None else base_mask  # a hand-drawn mask thresholds to itself
    new_mask = paste_selection(base_mask, mask_ops.apply_threshold(found, request.threshold), region, selection)
    return DetectedDamage(new_mask, paste_selection(base_soft, found, region, selection), request.threshold)


def repair_job(image: engine.Image, selection: Selection | None, mask: np.ndarray | None,
               request: engine.RepairRequest, cancel: engine.CancelToken
               ) -> Generator[engine.Progress, None, engine.Image]:
    """Fill the damage given by `mask` (uint8 levels; detected first when None) in the
    image or the selection. In a selection the damage is detected at the scale of the
    whole picture, and filled as the selection's own picture (a Heal Brush stroke's
    small crop at full size)."""
    fraction = None if mask is None else mask_ops.to_fraction(mask)
    if selection is None:
        return (yield from engine.repair(image, request, fraction, cancel))
    region = region_of(selection, image)
    crop = crop_image(image, region.crop)
    if fraction is not None:
        result = yield from engine.repair(crop, request, np.ascontiguousarray(fraction[region.crop.slices]), cancel)
    else:
        whole = engine.detection_scale(image, engine.MaskRequest(scale=request.scale))
        found = engine.detect_damage(crop, request.detection(whole), cancel)
        crop_mask = yield from engine.sub_progress(found, 0, 2)
        result = yield from engine.sub_progress(engine.repair(crop, request, crop_mask, cancel), 1, 2)
    return image.with_pixels(blend_selection(image.float_pixels(), result.float_pixels(), region, selection))


def upscale_job(image: engine.Image, selection: Selection | None, request: engine.UpscaleRequest,
                cancel: engine.CancelToken) -> Generator[engine.Progress, None, engine.Image]:
    """Upscale the image, or make the upscaled selection (its bounding box, computed
    with context) the new image."""
    if selection is None:
        return (yield from engine.upscale(image, request, cancel))
    region = region_of(selection, image)
    result = yield from engine.upscale(crop_image(image, region.crop), request, cancel)
    return crop_image(result, region.selection_in_crop.scaled(request.scale))
