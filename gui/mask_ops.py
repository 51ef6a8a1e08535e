"""The per-pixel work of mask editing and shaped selections, as pure numpy functions.

A mask here is an HxW uint8 array of levels: 0 = intact, 255 = damaged (the
same levels as an exported mask PNG); the engine's float masks are converted at
the edges (`to_levels`, `to_fraction`). A soft mask holds the detector's
probabilities as levels and gives a binary mask through a threshold. Boxes are
`engine.Box` (half-open pixel rectangles); points are (x, y) in image pixels,
where pixel (i, j) covers [i, i + 1) x [j, j + 1).
"""
from __future__ import annotations

import math

import numpy as np

import engine

FULL = 255


def to_levels(values: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8 levels, clipped and rounded; NaN becomes 0."""
    return (np.clip(np.nan_to_num(values), 0.0, 1.0) * FULL + 0.5).astype(np.uint8)


def to_fraction(mask: np.ndarray) -> np.ndarray:
    """uint8 levels -> the engine's HxW float32 mask in [0, 1] (> 0.5 = damaged)."""
    return mask.astype(np.float32) / FULL


def threshold_level(threshold: float) -> int:
    """The lowest level counted as damaged at `threshold` (a fraction in [0, 1])."""
    return round(min(1.0, max(0.0, threshold)) * FULL)


def apply_threshold(soft: np.ndarray, threshold: float) -> np.ndarray:
    """The binary mask (0 or 255) of a soft mask at `threshold`."""
    return (soft >= threshold_level(threshold)).view(np.uint8) * np.uint8(FULL)


def rethreshold(mask: np.ndarray, soft: np.ndarray, old: float, new: float) -> np.ndarray:
    """`mask` as if the soft mask had been thresholded at `new` instead of `old`: pixels
    still as the old threshold made them follow the new one; pixels changed by hand
    (brush, eraser) keep their value."""
    out = apply_threshold(soft, new)
    np.copyto(out, mask, where=mask != apply_threshold(soft, old))
    return out


def invert(mask: np.ndarray) -> np.ndarray:
    return FULL - mask


grow = engine.grow_mask      # dilate by n pixels (an octagon); the engine's, which the repair training shares


def shrink(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Erode by `pixels`: the inverse move of `grow`."""
    return invert(grow(invert(mask), pixels))


# -- brush strokes ------------------------------------------------------------------------------

def stroke_alpha(box: engine.Box, start: tuple[float, float], end: tuple[float, float], radius: float,
                 hardness: float) -> np.ndarray:
    """Coverage (float32 in [0, 1], box-sized) of a round brush of `radius` pixels dragged
    from `start` to `end`. Full inside radius * hardness, falling smoothly to 0 at the
    radius; a hard brush keeps a one-pixel antialiased edge."""
    ys = np.arange(box.y0, box.y1, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(box.x0, box.x1, dtype=np.float32)[None, :] + 0.5
    (ax, ay), (bx, by) = start, end
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 > 0:
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0.0, 1.0)
        distance = np.hypot(xs - (ax + t * dx), ys - (ay + t * dy))
    else:
        distance = np.hypot(xs - ax, ys - ay)
    soft_width = max(radius * (1.0 - hardness), 1.0)
    edge = np.clip((radius - distance) / soft_width, 0.0, 1.0)
    return (edge * edge * (3.0 - 2.0 * edge)).astype(np.float32)  # smoothstep: no visible ring


def stroke_box(start: tuple[float, float], end: tuple[float, float], radius: float, width: int,
               height: int) -> engine.Box | None:
    """The pixels a segment of a stroke can touch, inside the image; None if none."""
    x0 = max(0, math.floor(min(start[0], end[0]) - radius))
    y0 = max(0, math.floor(min(start[1], end[1]) - radius))
    x1 = min(width, math.ceil(max(start[0], end[0]) + radius) + 1)
    y1 = min(height, math.ceil(max(start[1], end[1]) + radius) + 1)
    return engine.Box(x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def union(a: engine.Box | None, b: engine.Box | None) -> engine.Box | None:
    if a is None or b is None:
        return a or b
    return engine.Box(min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1))


class Stroke:
    """One brush or eraser stroke in progress, painted into a working copy of a mask.

    Each `extend` paints the segment from the previous point (so fast mouse moves
    leave no gaps) and returns the box it changed; `changed` is the union of all of
    them. The brush raises levels to its coverage, the eraser lowers them to the
    inverse, so going over the same pixels twice does not build up.
    """

    def __init__(self, mask: np.ndarray, radius: float, hardness: float, erase: bool):
        self.before = mask
        self.mask = mask.copy()
        self.radius = max(0.5, radius)
        self.hardness = min(1.0, max(0.0, hardness))
        self.erase = erase
        self.changed: engine.Box | None = None
        self._last: tuple[float, float] | None = None

    def extend(self, point: tuple[float, float]) -> engine.Box | None:
        """Paint up to `point`; the box that was repainted, or None (outside the image)."""
        start = self._last if self._last is not None else point
        self._last = point
        height, width = self.mask.shape
        box = stroke_box(start, point, self.radius, width, height)
        if box is None:
            return None
        cover = stroke_alpha(box, start, point, self.radius, self.hardness)
        levels = (cover * FULL + 0.5).astype(np.uint8)
        area = self.mask[box.slices]
        if self.erase:
            np.minimum(area, FULL - levels, out=area)
        else:
            np.maximum(area, levels, out=area)
        self.changed = union(self.changed, box)
        return box


# -- shaped selections --------------------------------------------------------------------------

def polygon_mask(points: np.ndarray, box: engine.Box) -> np.ndarray:
    """Boolean box-sized mask of the pixels whose centres lie inside the closed polygon
    `points` (Nx2, x and y in image pixels), by the even-odd rule."""
    height, width = box.height, box.width
    inside = np.zeros((height, width + 1), np.int32)
    pts = np.asarray(points, np.float64)
    if len(pts) < 3:
        return np.zeros((height, width), bool)
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    ys = np.arange(box.y0, box.y1, dtype=np.float64)[:, None] + 0.5
    crosses = (y0 <= ys) != (y1 <= ys)                 # rows x edges: the edge spans this row's centre
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = np.where(crosses, x0 + (ys - y0) * (x1 - x0) / (y1 - y0), 0.0)
    # a crossing at x flips inside/outside for every pixel centre right of it
    columns = np.clip(np.ceil(xs - 0.5 - box.x0), 0, width).astype(np.int64)
    rows, edges = np.nonzero(crosses)
    np.add.at(inside, (rows, columns[rows, edges]), 1)
    return (np.cumsum(inside, axis=1)[:, :width] % 2).astype(bool)


def feather(inside: np.ndarray, width: int) -> np.ndarray:
    """Blend weights for a shaped selection: 1 inside, falling linearly to 0 over `width`
    pixels outside (octagonal distance), so only the inside and a thin band change."""
    weights = inside.astype(np.float32)
    reached = inside.astype(np.uint8)
    for step in range(1, width + 1):
        grown = engine.dilate_step(reached, square=step % 2 == 0)
        weights[(grown > reached)] = 1.0 - step / (width + 1)
        reached = grown
    return weights


def blend_weighted(base: np.ndarray, patch: np.ndarray, box: engine.Box, weights: np.ndarray) -> np.ndarray:
    """A copy of `base` (HxW or HxWxC) with the box-sized `patch` blended in by the
    box-sized `weights` (1 = patch, 0 = base)."""
    if patch.shape[:2] != (box.height, box.width) or weights.shape != patch.shape[:2]:
        raise ValueError(f"patch {patch.shape} / weights {weights.shape} do not fit {box}")
    w = weights[..., None] if base.ndim == 3 else weights
    out = base.copy()
    inside = out[box.slices]
    out[box.slices] = (inside + (patch - inside) * w).astype(base.dtype)
    return out
