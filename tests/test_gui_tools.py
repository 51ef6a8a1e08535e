"""engine.region (pure blending) and gui.tools (region-limited jobs), with fake engine ops."""
import numpy as np
import pytest

import engine
from gui import tools
from engine.region import FEATHER, Region, blend_region, feather_weights, paste_hard


def _image(h=40, w=50, c=3, alpha=False):
    rng = np.random.default_rng(0)
    return engine.Image(pixels=rng.random((h, w, c), dtype=np.float32),
                        alpha=rng.random((h, w), dtype=np.float32) if alpha else None)


def _run(gen):
    """Drive a job generator to its result (no Qt, no thread)."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _band(shape, sel, feather):
    """Boolean HxW: inside the selection grown by `feather` pixels."""
    x, y, w, h = sel
    out = np.zeros(shape[:2], bool)
    out[max(0, y - feather):y + h + feather, max(0, x - feather):x + w + feather] = True
    return out


def test_region_pads_and_clips_to_the_image():
    region = Region.around((-5, 30, 20, 20), 50, 40, pad=8)
    assert (region.selection.x0, region.selection.y0, region.selection.x1, region.selection.y1) == (0, 30, 15, 40)
    assert (region.crop.x0, region.crop.y0, region.crop.x1, region.crop.y1) == (0, 22, 23, 40)
    assert region.selection_in_crop.y0 == 8
    with pytest.raises(ValueError):
        Region.around((60, 0, 5, 5), 50, 40)


def test_feather_weights_are_one_inside_and_fall_to_zero():
    region = Region.around((20, 20, 10, 10), 100, 100, pad=16)
    weights = feather_weights(region, feather=4)
    inner = region.selection_in_crop
    assert np.all(weights[inner.slices] == 1.0)
    row = weights[inner.y0 + 5]
    outside = row[inner.x1:]                   # moving right, away from the selection
    assert np.all(np.diff(outside) <= 0) and 0 < outside[0] < 1
    assert np.all(outside[4:] == 0)
    assert weights[0, 0] == 0


def test_blend_changes_only_the_selection_and_its_band():
    base = np.zeros((60, 70, 3), np.float32)
    sel = (20, 15, 12, 9)
    region = Region.around(sel, 70, 60)
    patch = np.ones((region.crop.height, region.crop.width, 3), np.float32)
    out = blend_region(base, patch, region)
    changed = np.any(out != base, axis=2)
    assert not np.any(changed & ~_band(base.shape, sel, FEATHER))
    x, y, w, h = sel
    assert np.all(out[y:y + h, x:x + w] == 1.0)
    assert base.max() == 0  # the input is not modified


def test_blend_refuses_a_patch_of_the_wrong_size():
    region = Region.around((5, 5, 5, 5), 30, 30)
    with pytest.raises(ValueError):
        blend_region(np.zeros((30, 30, 3), np.float32), np.zeros((4, 4, 3), np.float32), region)


def test_paste_hard_replaces_exactly_the_selection():
    region = Region.around((3, 4, 5, 6), 20, 20, pad=2)
    patch = np.ones((region.crop.height, region.crop.width), np.float32)
    out = paste_hard(np.zeros((20, 20), np.float32), patch, region)
    assert out.sum() == 30 and out[4:10, 3:8].all()


def test_restore_job_on_a_selection(monkeypatch):
    seen = []

    def fake_restore(image, request, cancel):
        seen.append(image.pixels.shape)
        yield engine.Progress(1, 1, "restoring")
        return image.with_pixels(1.0 - image.pixels)

    monkeypatch.setattr(engine, "restore", fake_restore)
    image = _image()
    sel = (10, 12, 8, 6)
    result = _run(tools.restore_job(image, sel, engine.RestoreRequest(), engine.CancelToken()))
    region = Region.around(sel, image.width, image.height)
    assert seen == [(region.crop.height, region.crop.width, 3)]
    x, y, w, h = sel
    np.testing.assert_allclose(result.pixels[y:y + h, x:x + w], 1.0 - image.pixels[y:y + h, x:x + w])
    untouched = ~_band(image.pixels.shape, sel, FEATHER)
    np.testing.assert_array_equal(result.pixels[untouched], image.pixels[untouched])


def test_upscale_job_makes_the_selection_the_new_image(monkeypatch):
    def fake_upscale(image, request, cancel):
        s = request.scale
        yield engine.Progress(1, 1, "upscaling")
        alpha = None if image.alpha is None else image.alpha.repeat(s, 0).repeat(s, 1)
        return image.with_pixels(image.pixels.repeat(s, 0).repeat(s, 1), alpha)

    monkeypatch.setattr(engine, "upscale", fake_upscale)
    image = _image(alpha=True)
    x, y, w, h = 5, 7, 9, 4
    result = _run(tools.upscale_job(image, (x, y, w, h), engine.UpscaleRequest(scale=2), engine.CancelToken()))
    assert result.pixels.shape == (h * 2, w * 2, 3) and result.alpha.shape == (h * 2, w * 2)
    np.testing.assert_array_equal(result.pixels[::2, ::2], image.pixels[y:y + h, x:x + w])
    np.testing.assert_array_equal(result.alpha[::2, ::2], image.alpha[y:y + h, x:x + w])


def test_detect_job_on_a_selection_keeps_the_rest_of_the_mask(monkeypatch):
    def fake_detect(image, request, cancel):
        yield engine.Progress(1, 1, "detecting")
        return np.ones(image.pixels.shape[:2], np.float32)

    monkeypatch.setattr(engine, "detect_damage", fake_detect)
    image = _image()
    old = np.zeros((image.height, image.width), np.uint8)
    old[0, 0] = 255
    found = _run(tools.detect_damage_job(image, (20, 10, 5, 5), old, None, engine.MaskRequest(),
                                         engine.CancelToken()))
    assert found.mask[0, 0] == 255 and found.mask[10:15, 20:25].all() and (found.mask > 0).sum() == 26
    assert found.soft_mask[0, 0] == 255 and (found.soft_mask > 0).sum() == 26  # a drawn mask is its own soft mask
    assert old.sum() == 255
    assert found.marked == 26 / old.size
    assert found.summary() == f"Detect Damage: {100 * 26 / old.size:.1f}% of the image marked as damaged"
    assert tools.DetectedDamage(old, old, 0.5).summary() == "Detect Damage: under 0.1% of the image marked as damaged"
    assert tools.DetectedDamage(0 * old, old, 0.5).summary() == "Detect Damage: no damage found"


def test_detection_in_a_selection_uses_the_whole_pictures_scale(monkeypatch):
    """A large picture is looked at reduced (engine.detection_scale); a selection of it
    at the same scale, not at full size because the crop is small. The repair then fills
    the crop as a picture of its own (scale None: at full size, as it is small)."""
    scales = []

    def fake_detect(image, request, cancel):
        scales.append(request.scale)
        yield engine.Progress(1, 1, "detecting")
        return np.zeros(image.pixels.shape[:2], np.float32)

    def fake_repair(image, request, mask, cancel):
        scales.append(request.scale)
        yield engine.Progress(1, 1, "repairing")
        return image

    monkeypatch.setattr(engine, "detect_damage", fake_detect)
    monkeypatch.setattr(engine, "repair", fake_repair)
    big, small = _image(960, 1200), _image()
    for image in (big, small):
        _run(tools.detect_damage_job(image, (20, 10, 5, 5), None, None, engine.MaskRequest(), engine.CancelToken()))
        _run(tools.repair_job(image, (20, 10, 5, 5), None, engine.RepairRequest(), engine.CancelToken()))
    assert scales == [pytest.approx(320 / 960)] * 2 + [None] + [1.0] * 2 + [None]


def test_repair_job_gets_the_cropped_mask(monkeypatch):
    seen = {}

    def fake_repair(image, request, mask, cancel):
        seen["shapes"] = (image.pixels.shape[:2], None if mask is None else mask.shape)
        yield engine.Progress(1, 1, "repairing")
        return image.with_pixels(np.where(mask[..., None] > 0.5, 0.0, image.pixels).astype(np.float32))

    monkeypatch.setattr(engine, "repair", fake_repair)
    image = _image()
    mask = np.zeros((image.height, image.width), np.uint8)
    mask[20, 25] = 255
    sel = (22, 18, 6, 6)
    result = _run(tools.repair_job(image, sel, mask, engine.RepairRequest(), engine.CancelToken()))
    crop = Region.around(sel, image.width, image.height).crop
    assert seen["shapes"] == ((crop.height, crop.width), (crop.height, crop.width))
    assert np.all(result.pixels[20, 25] == 0.0)
    changed = np.any(result.pixels != image.pixels, axis=2)
    assert changed.sum() == 1
