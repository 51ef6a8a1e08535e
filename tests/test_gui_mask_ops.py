"""gui.mask_ops: thresholds, grow/shrink/invert, brush strokes, lasso masks and feathered blending (pure numpy)."""
import numpy as np
import pytest

import engine
from gui import mask_ops, tools


def _dot(shape=(21, 21), at=(10, 10)):
    mask = np.zeros(shape, np.uint8)
    mask[at] = 255
    return mask


def test_levels_round_trip_and_threshold():
    values = np.array([[0.0, 0.2, 0.5, 1.0, np.nan]], np.float32)
    levels = mask_ops.to_levels(values)
    assert levels.tolist() == [[0, 51, 128, 255, 0]]
    np.testing.assert_allclose(mask_ops.to_fraction(levels), [[0, 0.2, 128 / 255, 1, 0]], atol=1e-6)
    assert mask_ops.apply_threshold(levels, 0.5).tolist() == [[0, 0, 255, 255, 0]]
    assert mask_ops.apply_threshold(levels, 0.0).min() == 255


def test_rethreshold_keeps_hand_edits():
    soft = np.array([[10, 100, 200, 250]], np.uint8)
    mask = mask_ops.apply_threshold(soft, 0.5)      # [0, 0, 255, 255]
    mask[0, 0] = 255                                 # painted by hand
    mask[0, 3] = 0                                   # erased by hand
    moved = mask_ops.rethreshold(mask, soft, 0.5, 0.3)
    assert moved.tolist() == [[255, 255, 255, 0]]   # pixel 1 follows the lower threshold; the edits stay


def test_grow_and_shrink_move_the_edge_by_the_pixels_asked():
    grown = mask_ops.grow(_dot(), 3)
    assert grown[10, 13] == 255 and grown[10, 14] == 0          # along an axis: exactly 3
    assert grown[12, 12] == 255 and grown[13, 13] == 0          # diagonally a little less: an octagon
    assert mask_ops.shrink(grown, 3)[10, 10] == 255
    assert mask_ops.shrink(grown, 3).sum() < grown.sum()
    block = np.zeros((20, 20), np.uint8)
    block[5:15, 5:15] = 255
    assert (mask_ops.shrink(block, 2) > 0).sum() == 36          # 10x10 -> 6x6
    assert mask_ops.grow(block, 0) is not block and np.array_equal(mask_ops.grow(block, 0), block)


def test_invert():
    assert mask_ops.invert(np.array([[0, 255, 100]], np.uint8)).tolist() == [[255, 0, 155]]


def test_stroke_covers_the_segment_without_gaps_and_reports_its_box():
    mask = np.zeros((40, 60), np.uint8)
    stroke = mask_ops.Stroke(mask, radius=3, hardness=1.0, erase=False)
    stroke.extend((5.5, 20.5))
    box = stroke.extend((50.5, 20.5))                 # one fast mouse move
    assert box is not None and box.x0 <= 3 and box.x1 >= 53
    assert np.all(stroke.mask[20, 6:50] == 255)       # the whole line, not just its ends
    assert stroke.mask[20 + 6, 30] == 0               # nothing beyond the radius
    assert mask.max() == 0                            # the original mask is untouched
    changed = stroke.changed
    assert stroke.mask[:changed.y0].max() == 0 and stroke.mask[changed.y1:].max() == 0


def test_soft_brush_fades_and_eraser_removes():
    mask = np.full((30, 30), 255, np.uint8)
    eraser = mask_ops.Stroke(mask, radius=8, hardness=0.0, erase=True)
    eraser.extend((15.0, 15.0))
    assert eraser.mask[15, 15] < 20 and eraser.mask[15, 22] > eraser.mask[15, 18] and eraser.mask[0, 0] == 255
    brush = mask_ops.Stroke(np.zeros((30, 30), np.uint8), radius=8, hardness=0.0, erase=False)
    brush.extend((15.0, 15.0))
    brush.extend((15.0, 15.0))                        # the same spot again does not build up
    row = brush.mask[15, 15:25]
    assert row[0] > 240 and np.all(np.diff(row.astype(int)) <= 0) and row[-1] == 0


def test_stroke_outside_the_image_changes_nothing():
    stroke = mask_ops.Stroke(np.zeros((10, 10), np.uint8), radius=2, hardness=1.0, erase=False)
    assert stroke.extend((-50.0, -50.0)) is None and stroke.changed is None


def test_polygon_mask_fills_the_inside():
    square = np.array([[2, 2], [8, 2], [8, 6], [2, 6]], np.float64)
    inside = mask_ops.polygon_mask(square, engine.Box(0, 0, 10, 10))
    assert inside.sum() == 6 * 4 and inside[2:6, 2:8].all()
    triangle = np.array([[0, 0], [10, 0], [0, 10]], np.float64)
    tri = mask_ops.polygon_mask(triangle, engine.Box(0, 0, 10, 10))
    assert tri[0, 0] and tri[0, 8] and not tri[9, 9] and tri.sum() == 45
    shifted = mask_ops.polygon_mask(square, engine.Box(2, 2, 12, 12))   # box coordinates are offset
    assert shifted[0:4, 0:6].all() and shifted.sum() == 24


def test_feather_is_one_inside_and_falls_to_zero_outside():
    inside = np.zeros((20, 20), bool)
    inside[8:12, 8:12] = True
    weights = mask_ops.feather(inside, 4)
    assert np.all(weights[inside] == 1.0)
    row = weights[10, 12:]
    assert 0 < row[0] < 1 and np.all(np.diff(row) <= 0) and np.all(row[4:] == 0)


def test_lasso_blend_changes_only_the_polygon_and_its_band(monkeypatch):
    def fake_restore(image, request, cancel):
        yield engine.Progress(1, 1, "restoring")
        return image.with_pixels(np.ones_like(image.pixels))

    monkeypatch.setattr(engine, "restore", fake_restore)
    base = engine.Image(pixels=np.zeros((60, 80, 3), np.float32))
    lasso = tools.Lasso(((20.0, 10.0), (50.0, 15.0), (40.0, 45.0), (15.0, 35.0)))
    result = engine.run_job(tools.restore_job(base, lasso, engine.RestoreRequest(), engine.CancelToken()))
    changed = np.any(result.pixels > 0, axis=2)
    inside = mask_ops.polygon_mask(np.array(lasso.points), engine.Box(0, 0, 80, 60))
    assert np.all(result.pixels[inside] == 1.0)
    band = mask_ops.grow(inside.astype(np.uint8) * 255, tools.LASSO_FEATHER) > 0
    assert not np.any(changed & ~band)
    x, y, _, _ = lasso.bounds()
    assert not inside[y + 1, x + 1] and result.pixels[y + 1, x + 1].max() < 1.0  # in the box, not the lasso


def test_blend_weighted_refuses_mismatched_shapes():
    with pytest.raises(ValueError):
        mask_ops.blend_weighted(np.zeros((10, 10)), np.zeros((3, 3)), engine.Box(0, 0, 4, 4), np.zeros((4, 4)))
