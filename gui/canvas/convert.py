"""ndarray <-> QImage conversion, the only place the editor does it.

Engine images are HxWxC float32 in [0, 1] (C = 1 or 3) with alpha as a separate
HxW array; the canvas shows 8-bit QImages. A QImage built here wraps a numpy
buffer without copying, so the buffer is kept alive on the QImage (`_buffer`);
turn it into a QPixmap (which copies) before handing it to long-lived Qt objects.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8, clipped and rounded; NaN becomes 0."""
    return (np.clip(np.nan_to_num(values), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _wrap(data: np.ndarray, fmt: QImage.Format) -> QImage:
    data = np.ascontiguousarray(data)
    height, width = data.shape[:2]
    image = QImage(data.data, width, height, data.strides[0], fmt)
    image._buffer = data  # the QImage does not own its pixels; keep them alive with it
    return image


def array_to_qimage(pixels: np.ndarray, alpha: np.ndarray | None = None) -> QImage:
    """Float pixels (HxW, HxWx1 or HxWx3) and optional HxW alpha -> an 8-bit QImage:
    Grayscale8 for gray, RGB888 for colour, RGBA8888 (straight alpha) with alpha."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
        raise ValueError(f"expected HxWx1 or HxWx3 pixels, got shape {pixels.shape}")
    data = to_uint8(pixels)
    if alpha is not None:
        if alpha.shape != pixels.shape[:2]:
            raise ValueError(f"alpha is {alpha.shape}, pixels are {pixels.shape[:2]}")
        rgb = np.repeat(data, 3, axis=2) if data.shape[2] == 1 else data
        return _wrap(np.concatenate([rgb, to_uint8(alpha)[..., None]], axis=2), QImage.Format.Format_RGBA8888)
    if data.shape[2] == 1:
        return _wrap(data[..., 0], QImage.Format.Format_Grayscale8)
    return _wrap(data, QImage.Format.Format_RGB888)


def mask_to_qimage(mask: np.ndarray, rgb: tuple[int, int, int] = (255, 32, 32)) -> QImage:
    """An HxW mask in [0, 1] -> an RGBA overlay of colour `rgb`, opaque where the mask is 1."""
    height, width = mask.shape
    data = np.empty((height, width, 4), np.uint8)
    data[..., :3] = rgb
    data[..., 3] = to_uint8(mask)
    return _wrap(data, QImage.Format.Format_RGBA8888)


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
