"""Grey-level dilation of masks in numpy: the editor's Grow and Shrink, its lasso
feather, and the loosened masks the repair network trains on."""
from __future__ import annotations

import numpy as np


def dilate_step(a: np.ndarray, square: bool) -> np.ndarray:
    """Grey-level dilation by one pixel: 3x3 square or 4-neighbour cross."""
    out = a.copy()
    np.maximum(out[1:], a[:-1], out=out[1:])
    np.maximum(out[:-1], a[1:], out=out[:-1])
    if square:
        rows = out.copy()
        np.maximum(out[:, 1:], rows[:, :-1], out=out[:, 1:])
        np.maximum(out[:, :-1], rows[:, 1:], out=out[:, :-1])
    else:
        np.maximum(out[:, 1:], a[:, :-1], out=out[:, 1:])
        np.maximum(out[:, :-1], a[:, 1:], out=out[:, :-1])
    return out


def grow_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Dilate by `pixels` (an octagon, close to a disc): damage spreads outwards, soft edges kept."""
    out = mask
    for step in range(max(0, pixels)):
        out = dilate_step(out, square=step % 2 == 1)
    return out.copy() if out is mask else out
