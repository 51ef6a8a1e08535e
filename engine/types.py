"""Shared value types: the image record, progress reports, cancel tokens, requests.

Image convention (ARCHITECTURE section 3): pixels are an HxWxC float32 numpy
array in [0, 1], C = 1 (gray) or 3 (RGB); alpha, when present, is a separate
HxW float32 array and is re-attached on save.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import Cancelled


@dataclass
class Image:
    """A loaded image: pixels plus what must survive to the output file."""

    pixels: np.ndarray                   # HxWxC float32 in [0, 1], C in (1, 3); uint8 (value / 255)
                                         # for big 8-bit results such as upscales: use float_pixels()
    alpha: np.ndarray | None = None      # HxW float32 in [0, 1]
    bits: int = 8                        # 8 or 16: precision of the source
    icc_profile: bytes | None = None
    exif: bytes | None = None
    source: str | None = None            # path it came from, for messages
    source_format: str | None = None     # Pillow's format name, e.g. "PNG"
    warnings: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]

    def float_pixels(self) -> np.ndarray:
        """The pixels as float32 in [0, 1] (converted when they are stored as uint8)."""
        if self.pixels.dtype == np.uint8:
            return self.pixels.astype(np.float32) / 255
        return self.pixels

    def float_cost(self) -> int:
        """The bytes a pixel that float_pixels() allocates: 4 a channel for uint8 pixels, else none."""
        return 4 * self.channels if self.pixels.dtype == np.uint8 else 0

    def compact(self) -> "Image":
        """This image with an 8-bit source's pixels held as uint8: a quarter of the
        memory, and the values an 8-bit export writes. A 16-bit one is returned as it is."""
        if self.bits != 8 or self.pixels.dtype == np.uint8:
            return self
        from .imageio import to_uint8    # imageio imports this module
        return self.with_pixels(to_uint8(self.pixels))

    def with_pixels(self, pixels: np.ndarray, alpha: np.ndarray | None = None) -> "Image":
        """A copy carrying new pixels (and alpha, if given) with the same metadata."""
        return replace(self, pixels=pixels, alpha=self.alpha if alpha is None else alpha,
                       warnings=list(self.warnings))


@dataclass(frozen=True)
class Progress:
    """`done` of `total` units of `stage` finished (tiles, files or steps)."""

    done: int
    total: int
    stage: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


class CancelToken:
    """Cooperative cancel flag, set from any thread, checked at yield points."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass(frozen=True)
class RunOptions:
    """How to run a network: device ('auto'|'cpu'|'cuda'|'mps'), tile size (0 = auto),
    precision ('auto' = mixed precision where the model card allows it, 'fp32' = full)."""

    device: str = "auto"
    tile: int = 0
    precision: str = "auto"


@dataclass(frozen=True)
class RestoreRequest:
    """Clean a scanned document page with the named restoration model."""

    model: str = "document-unet"
    options: RunOptions = RunOptions()


DETECT_WORK_SIDE = 320   # the damage detector looks at a large picture reduced to this short side


@dataclass(frozen=True)
class MaskRequest:
    """Find damage: the damage score (the detector's probability with hysteresis,
    engine/ops/segment.py), thresholded unless `soft`. `scale`: the picture is looked
    at reduced by this factor (<= 1); None chooses it from the picture (engine.detection_scale)."""

    model: str = "damage-unet"
    threshold: float = 0.5
    soft: bool = False
    options: RunOptions = RunOptions()
    scale: float | None = None


@dataclass(frozen=True)
class RepairRequest:
    """Fill damaged pixels; with `mask` None the damage is detected first. `scale` is the
    working scale (MaskRequest's): the damage is detected there and a large picture's wide
    damage is filled there too (engine/ops/repair.py); 1.0 keeps everything at full size."""

    model: str = "repair-unet"
    mask_model: str = "damage-unet"
    threshold: float = 0.5
    options: RunOptions = RunOptions()
    scale: float | None = None

    def detection(self, scale: float | None) -> MaskRequest:
        """The request for the damage this repair fills, looked at reduced by `scale`."""
        return MaskRequest(model=self.mask_model, threshold=self.threshold, options=self.options, scale=scale)


@dataclass(frozen=True)
class UpscaleRequest:
    """Upscale by `scale` (2 or 4) with a model variant ('faithful' or 'sharp') or a named model."""

    scale: int = 4
    variant: str = "faithful"
    model: str | None = None
    options: RunOptions = RunOptions()
