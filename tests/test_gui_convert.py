"""gui.canvas.convert: ndarray <-> QImage round trips, the mask overlay, the difference image."""
import threading

import numpy as np
import pytest
from PySide6.QtGui import QImage

import engine
from gui.canvas.convert import DisplayCache, MaskOverlay, array_to_qimage, difference_qimage, qimage_to_array


def _levels(shape, seed=0):
    """Float pixels exactly on the 8-bit grid, so a round trip must be lossless."""
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.float32) / 255.0


def test_rgb_round_trip_is_exact():
    pixels = _levels((7, 9, 3))
    image = array_to_qimage(pixels)
    assert image.format() == QImage.Format.Format_RGB32  # drawn and made a pixmap of without converting
    assert (image.width(), image.height()) == (9, 7)
    back, alpha = qimage_to_array(image)
    assert alpha is None
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("channels", [1, 3])
def test_uint8_pixels_show_like_their_float_values(channels):
    levels = np.random.default_rng(2).integers(0, 256, (9, 7, channels), dtype=np.uint8)
    shown = qimage_to_array(array_to_qimage(levels))[0]
    expected = levels.astype(np.float32) / 255
    assert np.abs(shown - (expected if channels == 3 else np.repeat(expected, 3, axis=2))).max() < 1e-6


def test_gray_is_shown_as_equal_channels():
    pixels = _levels((5, 11, 1), seed=1)
    back, alpha = qimage_to_array(array_to_qimage(pixels))
    assert back.shape == (5, 11, 3) and alpha is None
    np.testing.assert_array_equal(back, np.repeat(pixels, 3, axis=2))


def test_grayscale_qimage_reads_back_as_one_channel():
    data = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    image = QImage(data.tobytes(), 4, 3, 4, QImage.Format.Format_Grayscale8).copy()
    back, _ = qimage_to_array(image)
    assert back.shape == (3, 4, 1)
    np.testing.assert_array_equal(back[..., 0], data.astype(np.float32) / 255.0)


@pytest.mark.parametrize("channels", [1, 3])
def test_alpha_round_trip(channels):
    pixels, alpha = _levels((6, 5, channels), seed=2), _levels((6, 5), seed=3)
    back, back_alpha = qimage_to_array(array_to_qimage(pixels, alpha))
    np.testing.assert_array_equal(back_alpha, alpha)
    expected = np.repeat(pixels, 3, axis=2) if channels == 1 else pixels
    np.testing.assert_array_equal(back, expected)


def test_odd_width_rows_are_not_sheared():
    # 3 bytes x 5 pixels = 15 bytes a row: Qt pads rows to 4 bytes when it copies
    pixels = _levels((4, 5, 3), seed=4)
    padded = array_to_qimage(pixels).copy()
    back, _ = qimage_to_array(padded)
    np.testing.assert_array_equal(back, pixels)


def test_conversion_works_off_the_gui_thread():
    pixels = _levels((6, 7, 3), seed=5)
    made = []
    thread = threading.Thread(target=lambda: made.append(array_to_qimage(pixels)))
    thread.start()
    thread.join()
    back, _ = qimage_to_array(made[0])  # Qt owns the pixels: nothing dangles once the thread is gone
    np.testing.assert_array_equal(back, pixels)


def test_mask_overlay_is_transparent_where_undamaged_and_updates_a_box():
    mask = np.zeros((4, 6), np.uint8)
    mask[1, 2] = 255
    overlay = MaskOverlay(6, 4, (255, 0, 0))
    overlay.update(mask)
    assert overlay.image.pixelColor(2, 1).getRgb() == (255, 0, 0, 255)
    assert overlay.image.pixelColor(0, 0).alpha() == 0
    mask[3, 5] = 128
    mask[0, 0] = 255
    overlay.update(mask, engine.Box(4, 2, 6, 4))  # only this box is redrawn
    assert overlay.image.pixelColor(5, 3).alpha() == 128
    assert overlay.image.pixelColor(0, 0).alpha() == 0


def test_difference_is_black_where_unchanged_and_amplified_where_changed():
    a = _levels((5, 6, 3), seed=6)
    b = a.copy()
    b[2, 3] = np.clip(a[2, 3] + 10 / 255, 0, 1)
    diff, _ = qimage_to_array(difference_qimage(array_to_qimage(b), array_to_qimage(a), gain=4))
    changed = np.any(diff > 0, axis=2)
    assert changed.sum() == 1 and changed[2, 3]
    assert diff[2, 3].max() == np.float32(40 / 255)
    same, _ = qimage_to_array(difference_qimage(array_to_qimage(a), array_to_qimage(a)))
    assert same.max() == 0


def test_display_cache_forgets_an_image_with_the_image():
    cache = DisplayCache()
    image = engine.Image(pixels=np.zeros((2, 2, 3), np.float32))
    shown = array_to_qimage(image.pixels)
    cache.put(image, shown)
    assert cache.get(image) is shown
    del image
    assert cache._images == {}


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        array_to_qimage(np.zeros((4, 4, 2), np.float32))
    with pytest.raises(ValueError):
        array_to_qimage(np.zeros((4, 4, 3), np.float32), alpha=np.zeros((3, 4), np.float32))


def test_display_cache_keeps_the_latest_shown_within_its_budget():
    images = [engine.Image(pixels=np.full((16, 16, 3), i / 4, np.float32)) for i in range(3)]
    shown = [array_to_qimage(image.pixels) for image in images]
    cache = DisplayCache(budget=2 * shown[0].sizeInBytes())
    cache.put(images[0], shown[0])
    cache.put(images[1], shown[1])
    assert cache.get(images[0]) is shown[0]          # now the latest shown: images[1] goes first
    cache.put(images[2], shown[2])
    assert cache.get(images[1]) is None
    assert cache.get(images[0]) is shown[0] and cache.get(images[2]) is shown[2]
    big = engine.Image(pixels=np.zeros((64, 64, 3), np.float32))
    cache.put(big, array_to_qimage(big.pixels))      # over the budget alone: still kept, the rest let go
    assert cache.get(big) is not None and cache.get(images[0]) is None and cache.get(images[2]) is None
