"""Region-limited edits (a selection in the editor), as pure numpy functions: grow a selection into a crop with
context around it, and paste a result back with a feathered edge so only the
selection (plus a thin blend band outside it) changes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONTEXT_PAD = 32   # pixels of surroundings a network sees around the selection
FEATHER = 8        # width of the blend band outside the selection; <= CONTEXT_PAD


@dataclass(frozen=True)
class Box:
    """Pixel rectangle [x0, x1) x [y0, y1) in image coordinates."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def shifted(self, dx: int, dy: int) -> "Box":
        return Box(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)

    def scaled(self, factor: int) -> "Box":
        return Box(self.x0 * factor, self.y0 * factor, self.x1 * factor, self.y1 * factor)


@dataclass(frozen=True)
class Region:
    """A selection and the larger crop a job runs on (selection + context, inside the image)."""

    selection: Box
    crop: Box

    @classmethod
    def around(cls, selection: tuple[int, int, int, int], width: int, height: int,
               pad: int = CONTEXT_PAD) -> "Region":
        """Region for `selection` = (x, y, w, h) in an image `width` x `height`;
        the selection is clipped to the image, the crop grows it by `pad` on each side."""
        x, y, w, h = selection
        sel = Box(max(0, x), max(0, y), min(width, x + w), min(height, y + h))
        if sel.width <= 0 or sel.height <= 0:
            raise ValueError(f"selection {selection} lies outside the {width}x{height} image")
        crop = Box(max(0, sel.x0 - pad), max(0, sel.y0 - pad), min(width, sel.x1 + pad), min(height, sel.y1 + pad))
        return cls(sel, crop)

    @property
    def selection_in_crop(self) -> Box:
        """The selection in the crop's own coordinates."""
        return self.selection.shifted(-self.crop.x0, -self.crop.y0)


def feather_weights(region: Region, feather: int = FEATHER) -> np.ndarray:
    """Crop-sized HxW float32 weights: 1 inside the selection, falling linearly to 0
    at `feather` pixels (Euclidean distance) outside it."""
    sel = region.selection_in_crop
    ys = np.arange(region.crop.height, dtype=np.float32)[:, None]
    xs = np.arange(region.crop.width, dtype=np.float32)[None, :]
    dy = np.maximum(np.maximum(sel.y0 - ys, ys - (sel.y1 - 1)), 0.0)
    dx = np.maximum(np.maximum(sel.x0 - xs, xs - (sel.x1 - 1)), 0.0)
    distance = np.sqrt(dx * dx + dy * dy)
    if feather <= 0:
        return (distance == 0).astype(np.float32)
    return np.clip(1.0 - distance / (feather + 1), 0.0, 1.0).astype(np.float32)


def blend_region(base: np.ndarray, patch: np.ndarray, region: Region, feather: int = FEATHER) -> np.ndarray:
    """A copy of `base` (HxW or HxWxC) with the crop-sized `patch` blended in through
    `feather_weights`: pixels farther than `feather` outside the selection stay exact."""
    crop = region.crop
    if patch.shape[:2] != (crop.height, crop.width) or patch.shape[2:] != base.shape[2:]:
        raise ValueError(f"patch {patch.shape} does not fit crop {crop} of image {base.shape}")
    weights = feather_weights(region, feather)
    if base.ndim == 3:
        weights = weights[..., None]
    out = base.copy()
    inside = out[crop.slices]
    out[crop.slices] = (inside + (patch - inside) * weights).astype(base.dtype)
    return out


def paste_hard(base: np.ndarray, patch: np.ndarray, region: Region) -> np.ndarray:
    """A copy of `base` whose selection is replaced by the matching part of the
    crop-sized `patch` (no blending; for masks)."""
    out = base.copy()
    out[region.selection.slices] = patch[region.selection_in_crop.slices]
    return out
