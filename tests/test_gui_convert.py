"""gui.canvas.convert: ndarray <-> QImage round trips and the mask overlay."""
import gc

import numpy as np
import pytest
from PySide6.QtGui import QImage

from gui.canvas.convert import array_to_qimage, mask_to_qimage, qimage_to_array, to_uint8


def _levels(shape, seed=0):
    """Float pixels exactly on the 8-bit grid, so a round trip must be lossless."""
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.float32) / 255.0


def test_rgb_round_trip_is_exact():
    pixels = _levels((7, 9, 3))
    image = array_to_qimage(pixels)
    assert image.format() == QImage.Format.Format_RGB888
    assert (image.width(), image.height()) == (9, 7)
    back, alpha = qimage_to_array(image)
    assert alpha is None
    np.testing.assert_array_equal(back, pixels)


def test_gray_round_trip_keeps_one_channel():
    pixels = _levels((5, 11, 1), seed=1)
    image = array_to_qimage(pixels)
    assert image.format() == QImage.Format.Format_Grayscale8
    back, alpha = qimage_to_array(image)
    assert back.shape == (5, 11, 1) and alpha is None
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("channels", [1, 3])
def test_alpha_round_trip(channels):
    pixels, alpha = _levels((6, 5, channels), seed=2), _levels((6, 5), seed=3)
    back, back_alpha = qimage_to_array(array_to_qimage(pixels, alpha))
    np.testing.assert_array_equal(back_alpha, alpha)
    expected = np.repeat(pixels, 3, axis=2) if channels == 1 else pixels
    np.testing.assert_array_equal(back, expected)


def test_floats_are_clipped_and_rounded():
    pixels = np.array([[[-0.5, 0.5, 1.7]]], np.float32)
    assert to_uint8(pixels).tolist() == [[[0, 128, 255]]]
    assert to_uint8(np.array([np.nan], np.float32)).tolist() == [0]


def test_odd_width_rows_are_not_sheared():
    # 3 bytes x 5 pixels = 15 bytes a row: Qt pads rows to 4 bytes when it copies
    pixels = _levels((4, 5, 3), seed=4)
    padded = array_to_qimage(pixels).copy()
    back, _ = qimage_to_array(padded)
    np.testing.assert_array_equal(back, pixels)


def test_qimage_keeps_its_buffer_alive():
    image = array_to_qimage(_levels((8, 8, 3), seed=5))
    expected = image.pixelColor(3, 4).getRgb()
    gc.collect()
    np.zeros((8, 8, 3), np.uint8)  # would reuse freed memory if the buffer had been dropped
    assert image.pixelColor(3, 4).getRgb() == expected


def test_mask_overlay_is_transparent_where_undamaged():
    mask = np.zeros((4, 6), np.float32)
    mask[1, 2] = 1.0
    overlay = mask_to_qimage(mask, (255, 0, 0))
    assert overlay.pixelColor(2, 1).getRgb() == (255, 0, 0, 255)
    assert overlay.pixelColor(0, 0).alpha() == 0


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        array_to_qimage(np.zeros((4, 4, 2), np.float32))
    with pytest.raises(ValueError):
        array_to_qimage(np.zeros((4, 4, 3), np.float32), alpha=np.zeros((3, 4), np.float32))
