"""ndarray <-> QImage conversion, the only place the editor does it.

Engine images are HxWxC float32 in [0, 1] (C = 1 or 3) with alpha as a separate
HxW array; masks are HxW uint8 levels (255 = damaged). The canvas shows 8-bit
QImages in the formats Qt's raster engine draws as they are (RGB32, ARGB32), so
a QPixmap made from one shares its pixels instead of converting them.

Conversions write straight into Qt-owned memory and use no GUI-thread-only
classes, so the worker thread converts a job's result before handing it over:
turning a big float image into 8 bits takes long enough to stall the window.
"""
from __future__ import annotations

import sys
import weakref
from collections import OrderedDict

import numpy as np
from PySide6.QtGui import QImage

from engine import to_uint8

# byte offsets of red, green, blue and alpha inside a 32-bit (A)RGB32 pixel in memory
R, G, B, A = (2, 1, 0, 3) if sys.byteorder == "little" else (1, 2, 3, 0)
CHUNK_ROWS = 256   # convert this many rows at a time: small temporaries even for huge images
DISPLAY_BUDGET = 512 * 2**20   # bytes of screen copies DisplayCache keeps


def _blank(width: int, height: int, fmt: QImage.Format) -> tuple[QImage, np.ndarray]:
    """A new QImage and a writable HxWx4 uint8 view of its pixels."""
    image = QImage(width, height, fmt)
    rows = np.frombuffer(image.bits(), np.uint8).reshape(height, image.bytesPerLine())
    return image, rows[:, :width * 4].reshape(height, width, 4)


def _bytes(image: QImage) -> np.ndarray:
    """A read-only HxWx4 uint8 view of a 32-bit QImage's pixels."""
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, :image.width() * 4].reshape(image.height(), image.width(), 4)


def array_to_qimage(pixels: np.ndarray, alpha: np.ndarray | None = None) -> QImage:
    """Float (or uint8) pixels (HxW, HxWx1 or HxWx3) and optional HxW alpha -> an 8-bit QImage:
    RGB32 (gray shown as equal channels), or ARGB32 (straight alpha) with alpha."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
        raise ValueError(f"expected HxWx1 or HxWx3 pixels, got shape {pixels.shape}")
    if alpha is not None and alpha.shape != pixels.shape[:2]:
        raise ValueError(f"alpha is {alpha.shape}, pixels are {pixels.shape[:2]}")
    height, width, channels = pixels.shape
    fmt = QImage.Format.Format_RGB32 if alpha is None else QImage.Format.Format_ARGB32
    image, out = _blank(width, height, fmt)
    for top in range(0, height, CHUNK_ROWS):
        rows = slice(top, top + CHUNK_ROWS)
        data, part = to_uint8(pixels[rows]), out[rows]
        for offset, channel in ((R, 0), (G, 1), (B, 2)):
            part[..., offset] = data[..., channel if channels == 3 else 0]
        part[..., A] = 255 if alpha is None else to_uint8(alpha[rows])
    return image


def qimage_to_array(image: QImage) -> tuple[np.ndarray, np.ndarray | None]:
    """A QImage -> (HxWxC float32 pixels in [0, 1], HxW alpha or None); C is 1 for
    grayscale formats, else 3."""
    if image.isNull():
        raise ValueError("the QImage is empty")
    fmt = image.format()
    if fmt in (QImage.Format.Format_Grayscale8, QImage.Format.Format_Grayscale16):
        converted, channels = image.convertToFormat(QImage.Format.Format_Grayscale8), 1
    elif image.hasAlphaChannel():
        converted, channels = image.convertToFormat(QImage.Format.Format_RGBA8888), 4
    else:
        converted, channels = image.convertToFormat(QImage.Format.Format_RGB888), 3
    width, height = converted.width(), converted.height()
    rows = np.frombuffer(converted.constBits(), np.uint8, count=converted.sizeInBytes())
    rows = rows.reshape(height, converted.bytesPerLine())[:, :width * channels]
    data = rows.reshape(height, width, channels).astype(np.float32) / 255.0
    if channels == 4:
        return np.ascontiguousarray(data[..., :3]), np.ascontiguousarray(data[..., 3])
    return data, None


class MaskOverlay:
    """A mask drawn in one colour: a premultiplied ARGB32 `image`, opaque where the
    mask is 255, that `update` rewrites in place (all of it, or one box while a
    brush stroke is painted)."""

    def __init__(self, width: int, height: int, rgb: tuple[int, int, int] = (255, 40, 40)):
        self.image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        rows = np.frombuffer(self.image.bits(), np.uint32).reshape(height, self.image.bytesPerLine() // 4)
        self._pixels = rows[:, :width]
        level = np.arange(256, dtype=np.uint32)
        r, g, b = ((c * level + 127) // 255 for c in rgb)
        self._lut = (level << 24) | (r << 16) | (g << 8) | b  # native 0xAARRGGBB, premultiplied

    def update(self, mask: np.ndarray, box=None) -> None:
        """Redraw from `mask` (HxW uint8 levels, the overlay's size), only inside
        `box` (an engine.Box) if given."""
        if mask.shape != self._pixels.shape:
            raise ValueError(f"mask {mask.shape} does not match the overlay {self._pixels.shape}")
        if box is None:
            np.take(self._lut, mask, out=self._pixels)
        else:
            self._pixels[box.slices] = self._lut[mask[box.slices]]


def difference_qimage(current: QImage, original: QImage, gain: float = 4.0) -> QImage:
    """|current - original| per channel, times `gain`, as an RGB32 image (both are
    32-bit images of one size, as `array_to_qimage` makes them)."""
    if current.size() != original.size():
        raise ValueError("the images differ in size")
    a, b = _bytes(current), _bytes(original)
    levels = np.minimum(np.arange(256, dtype=np.float32) * gain + 0.5, 255).astype(np.uint8)
    diff = levels[np.maximum(a, b) - np.minimum(a, b)]
    image, out = _blank(current.width(), current.height(), QImage.Format.Format_RGB32)
    out[...] = diff
    out[..., A] = 255
    return image


class DisplayCache:
    """The shown QImage of each engine image, converted once and kept while the image
    lives (in the document or its undo history) and is among the latest shown, up to
    `budget` bytes: undo and redo of the last steps are instant, and a long history
    of a big photo holds no screen copy of every step (one is made again when needed)."""

    def __init__(self, budget: int = DISPLAY_BUDGET) -> None:
        self._images: OrderedDict[int, QImage] = OrderedDict()
        self._budget = budget

    def get(self, image) -> QImage | None:
        shown = self._images.get(id(image))
        if shown is not None:
            self._images.move_to_end(id(image))
        return shown

    def put(self, image, shown: QImage) -> None:
        key = id(image)
        if key not in self._images:
            weakref.finalize(image, self._images.pop, key, None)
        self._images[key] = shown
        self._images.move_to_end(key)
        total = sum(kept.sizeInBytes() for kept in self._images.values())
        while total > self._budget and len(self._images) > 1:
            total -= self._images.popitem(last=False)[1].sizeInBytes()
