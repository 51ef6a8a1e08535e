"""Every op runs end to end on random-weight models: shapes, alpha, gray/colour,
cancel, and repair keeping pixels outside the mask."""
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image as PILImage

import engine
from engine import models
from engine.errors import Cancelled, ModelNotInstalledError, RestoraError
from engine.jobs import run_job
from engine.pipeline import Step, parse_steps, run_steps
from engine.types import (CancelToken, Image, MaskRequest, RepairRequest, RestoreRequest, RunOptions,
                          UpscaleRequest)

CPU = RunOptions(device="cpu", tile=64)


@pytest.fixture(autouse=True)
def tiny(tiny_models):
    return tiny_models


def _img(h=37, w=45, c=3, alpha=False):
    rng = np.random.default_rng(0)
    return Image(pixels=rng.random((h, w, c), dtype=np.float32),
                 alpha=rng.random((h, w), dtype=np.float32) if alpha else None)


@pytest.mark.parametrize("c", [1, 3])
def test_restore_gray_and_colour(c):
    im = _img(c=c)
    out = run_job(engine.restore(im, RestoreRequest("test-restore", CPU)))
    assert out.pixels.shape == im.pixels.shape and out.pixels.dtype == np.float32
    assert 0 <= out.pixels.min() and out.pixels.max() <= 1


def test_recolor_neutralises_paper_keeps_ink_colour():
    from engine.ops.restore import recolor
    rgb = np.array([[[0.9, 0.85, 0.6], [0.1, 0.1, 0.6]]], np.float32)    # yellow paper, blue ink
    y_in = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    out = recolor(rgb, y_in, np.array([[1.0, 0.1]], np.float32))
    assert np.allclose(out[0, 0], 1.0)                                   # paper -> white
    assert out[0, 1, 2] > out[0, 1, 0] + 0.1                             # ink stays blue


def test_mask_binary_and_soft():
    im = _img()
    hard = run_job(engine.detect_damage(im, MaskRequest("test-mask", options=CPU)))
    soft = run_job(engine.detect_damage(im, MaskRequest("test-mask", soft=True, options=CPU)))
    assert hard.shape == soft.shape == im.pixels.shape[:2]
    assert set(np.unique(hard)) <= {0.0, 1.0}
    assert 0 < soft.min() and soft.max() < 1                             # sigmoid applied, not clipped logits
    assert np.array_equal(hard, (soft >= 0.5).astype(np.float32))


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (5, 9), (40, 33)])
def test_reconstruction_is_repeated_dilation_under_the_mask(shape):
    """The sweeps give what a 3x3 dilation cut by the mask gives, repeated until nothing changes."""
    from engine.morphology import dilate_step, reconstruct
    rng = np.random.default_rng(sum(shape))
    for _ in range(10):
        mask = rng.random(shape).astype(np.float32)
        marker = mask * rng.random(shape).astype(np.float32) * (rng.random(shape) < 0.1)
        slow = np.minimum(marker, mask)
        while not np.array_equal(grown := np.minimum(dilate_step(slow, square=True), mask), slow):
            slow = grown
        np.testing.assert_array_equal(reconstruct(marker, mask), slow)


def test_hysteresis_keeps_faint_damage_joined_to_sure_damage():
    """At 0.5: a stroke of probability 0.47 touching a pixel of 0.9 is kept, the same stroke
    alone is not, nor a patch of 0.75 with nothing surer in it; a lower threshold finds more."""
    from engine.ops.segment import STRONG, WEAK, hysteresis
    prob = np.full((20, 30), 0.05, np.float32)
    prob[2, 2:20] = 0.47
    prob[2, 20] = 0.9                       # the sure end of the first stroke
    prob[8, 2:20] = 0.47                    # a faint stroke alone
    prob[14:18, 5:9] = 0.75                 # a patch with nothing surer in it
    score = hysteresis(prob)
    assert 0 <= score.min() and score.max() <= 1
    mask = score >= 0.5
    assert mask[2, 2:21].all() and not mask[8].any() and not mask[14:18].any() and mask.sum() == 19
    assert (score >= 0.2).sum() == 19 + 16 and (score >= 0.7).sum() == 0
    assert (hysteresis(np.array([[WEAK, STRONG]], np.float32)) >= 0.5 - 1e-6).all()


def test_the_detector_looks_at_every_mirror_image_and_quarter_turn(monkeypatch):
    """The random-weight detector is not symmetric; averaged over the picture's 8 views its
    mask of a turned or mirrored picture is the picture's mask turned or mirrored."""
    from engine.ops import segment
    monkeypatch.setattr(segment, "hysteresis", lambda prob: prob)   # its probabilities are all near 0.5: one score
    im = _img(48, 64)                                   # multiples of 16: no padding to break the symmetry
    exact = RunOptions(device="cpu", precision="fp32")

    def soft(pixels):
        return run_job(engine.detect_damage(Image(pixels=np.ascontiguousarray(pixels)),
                                            MaskRequest("test-mask", soft=True, options=exact)))

    base = soft(im.pixels)
    assert np.abs(base - base[:, ::-1]).max() > 1e-4    # the mask itself is not symmetric
    for change in (lambda a: np.rot90(a), lambda a: a[:, ::-1], lambda a: np.rot90(a, 3)[::-1]):
        assert np.abs(soft(change(im.pixels)) - change(base)).max() < 1e-6


def test_a_large_picture_is_looked_at_reduced(monkeypatch):
    """Above 1.5 x 320 on the short side the detector sees the picture reduced to 320, and
    its probability comes back at the picture's size; `scale` overrides. Repair fills at
    full size and at that scale."""
    from engine.ops import repair, segment

    whole = RunOptions(device="cpu")     # CPU's small tiles would make thousands of tiles here

    noise = np.random.default_rng(1).random((900, 1200, 3), dtype=np.float32)
    assert engine.detection_scale(Image(pixels=noise[:480, :640])) == 1.0
    assert engine.detection_scale(Image(pixels=noise)) == pytest.approx(320 / 900)
    assert engine.detection_scale(Image(pixels=noise), MaskRequest(scale=2.0)) == 1.0
    seen = []
    real = segment.run_tiled

    def tiled(net, x, **kw):
        seen.append(x.shape)
        return (yield from real(net, x, **kw))

    monkeypatch.setattr(segment, "run_tiled", tiled)
    monkeypatch.setattr(repair, "run_tiled", tiled)
    im = Image(pixels=np.random.default_rng(0).random((500, 750, 3), dtype=np.float32))
    soft = run_job(engine.detect_damage(im, MaskRequest("test-mask", soft=True, options=whole)))
    views = segment.VIEWS
    assert seen == [(320, 480, 3), (320, 480, 3), (480, 320, 3), (480, 320, 3)] * (views // 4)   # turned, mirrored
    assert soft.shape == (500, 750) and 0 < soft.min() and soft.max() < 1
    seen.clear()
    run_job(engine.detect_damage(im, MaskRequest("test-mask", options=whole, scale=1.0)))
    run_job(engine.repair(im, RepairRequest("test-repair", "test-mask", options=whole, scale=0.5)))
    assert seen[0] == (500, 750, 3) and seen[views] == (250, 375, 3)      # detected at full, then half size
    seen.clear()
    hole = np.zeros((500, 750), np.float32)
    hole[100:200, 300:400] = 1
    reports = []
    run_job(engine.repair(im, RepairRequest("test-repair", options=whole, scale=0.5), hole), reports.append)
    assert seen == [(500, 750, 4), (250, 375, 4)]                        # filled at full and at half size
    assert reports[-1].done == reports[-1].total and all(a.done <= b.done for a, b in zip(reports, reports[1:]))
    seen.clear()
    run_job(engine.repair(im, RepairRequest("test-repair", options=whole, scale=1.0), hole))
    assert seen == [(500, 750, 4)]                                       # asked for full size: only there


def test_the_reduced_fill_is_used_where_the_full_size_fill_left_the_damage():
    """Where the full-size fill left a wide hole as it was, the reduced fill's low
    frequencies come in under the full-size detail; where the full-size fill changed the
    picture as much (a stain's tint taken off), it is kept."""
    from engine.ops.repair import _unstuck

    rgb = np.full((240, 240, 3), 0.3, np.float32)
    rgb[60:180, 60:180] = 0.9                                    # a hole showing the paper
    detail = np.where(np.indices((240, 240)).sum(0)[..., None] % 2 == 0, 0.02, -0.02).astype(np.float32)
    coarse = np.full_like(rgb, 0.3)                              # the reduced fill: the surroundings
    out = _unstuck(rgb, rgb + detail, coarse.copy(), (60, 60))   # full size: the hole kept, fine detail added
    assert np.abs(out[90:150, 90:150] - (0.3 + detail[90:150, 90:150])).max() < 0.01
    fine = np.where(rgb > 0.5, 0.32, rgb) + detail               # full size: the hole filled as well
    out = _unstuck(rgb, fine, coarse, (60, 60))
    assert np.abs(out[90:150, 90:150] - fine[90:150, 90:150]).max() < 0.03


def test_a_large_picture_is_also_filled_at_every_halving_down_to_its_working_size_and_below():
    from engine.ops.repair import COARSEST_SIDE, reductions

    assert reductions((4000, 6000), 0.08) == [(2000, 3000), (1000, 1500), (500, 750), (320, 480)]
    assert reductions((1000, 1500), 0.32) == [(500, 750), (320, 480)]
    assert reductions((1000, 1500), 0.4) == [(400, 600), (200, 300)]       # 0.5 is too close to 0.4
    sizes = reductions((2000, 3000), 0.3)
    assert sizes == [(1000, 1500), (600, 900), (300, 450)]
    assert min(sizes[-1]) // 2 < COARSEST_SIDE <= min(sizes[-1])
    assert reductions((500, 700), 1.0) == []


@pytest.mark.parametrize("op", ["repair", "restore", "segment"])
def test_an_op_refuses_a_picture_its_copies_would_not_fit_in_memory(monkeypatch, op):
    """Repair, restore and detection hold several full-size float copies: each asks for the
    memory of them all before it starts, not only for its result's."""
    import importlib

    import engine.device

    bytes_per_pixel = importlib.import_module(f"engine.ops.{op}").BYTES_PER_PIXEL
    im = _img(60, 80)
    free = 60 * 80 * bytes_per_pixel // 2              # room for the result, not for the copies
    monkeypatch.setattr(engine.device.psutil, "virtual_memory", lambda: type("Memory", (), {"available": free}))
    job, what = {
        "repair": (lambda: engine.repair(im, RepairRequest("test-repair", options=CPU), np.ones((60, 80), np.float32)),
                   "repairing the 80x60 picture"),
        "restore": (lambda: engine.restore(im, RestoreRequest("test-restore", CPU)), "restoring the 80x60 page"),
        "segment": (lambda: engine.detect_damage(im, MaskRequest("test-mask", options=CPU)),
                    "detecting damage in the 80x60 picture"),
    }[op]
    with pytest.raises(RestoraError, match=f"{what} needs .* GB of memory"):
        run_job(job())


def test_an_8_bit_picture_is_asked_for_its_float_copy_too(monkeypatch):
    """A big 8-bit result (an upscale) is kept as uint8; an op that works on it in floats
    asks for that copy as well."""
    import engine.device
    from engine.ops.restore import BYTES_PER_PIXEL

    im = _img(60, 80)
    im8 = replace(im, pixels=engine.to_uint8(im.pixels))
    assert (im.float_cost(), im8.float_cost()) == (0, 12)
    free = 60 * 80 * (BYTES_PER_PIXEL + 6)             # room for the op's copies, not for a float copy as well
    monkeypatch.setattr(engine.device.psutil, "virtual_memory", lambda: type("Memory", (), {"available": free}))
    assert run_job(engine.restore(im, RestoreRequest("test-restore", CPU))).pixels.shape == (60, 80, 3)
    with pytest.raises(RestoraError, match="restoring the 80x60 page needs"):
        run_job(engine.restore(im8, RestoreRequest("test-restore", CPU)))


@pytest.mark.parametrize("c", [1, 3])
def test_repair_changes_only_masked_pixels(c):
    im = _img(c=c)
    mask = np.zeros(im.pixels.shape[:2], np.float32)
    mask[10:20, 5:30] = 1
    out = run_job(engine.repair(im, RepairRequest("test-repair", options=CPU), mask))
    outside = mask == 0
    assert np.array_equal(out.pixels[outside], im.pixels[outside])
    assert not np.array_equal(out.pixels[~outside], im.pixels[~outside])


def test_repair_detects_when_no_mask():
    im = _img()
    reports = []
    out = run_job(engine.repair(im, RepairRequest("test-repair", "test-mask", options=CPU)), reports.append)
    assert out.pixels.shape == im.pixels.shape
    assert reports[-1].done == reports[-1].total


@pytest.mark.parametrize("h, w", [(1, 1), (1, 9), (9, 1)])
def test_every_op_takes_a_picture_one_pixel_wide(h, w):
    """Also one turned or mirrored from a wider one: numpy counts an axis of length 1
    as contiguous even reversed, and torch refuses its negative stride."""
    for pixels in (_img(h, w).pixels, np.rot90(_img(w, h).pixels), _img(h, w).pixels[::-1, ::-1]):
        im = Image(pixels=np.ascontiguousarray(pixels))
        mask = run_job(engine.detect_damage(im, MaskRequest("test-mask", options=CPU)))
        assert mask.shape == (h, w)
        fixed = run_job(engine.repair(im, RepairRequest("test-repair", "test-mask", options=CPU), np.ones((h, w))))
        assert fixed.pixels.shape == (h, w, 3)
        assert run_job(engine.restore(im, RestoreRequest("test-restore", CPU))).pixels.shape == (h, w, 3)
        big = run_job(engine.upscale(im, UpscaleRequest(2, model="test-sr-x2", options=CPU)))
        assert big.pixels.shape == (2 * h, 2 * w, 3)


def test_repair_rejects_mask_of_other_size():
    with pytest.raises(RestoraError, match="same size"):
        run_job(engine.repair(_img(), RepairRequest("test-repair", options=CPU), np.ones((3, 3), np.float32)))


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_with_alpha(scale):
    im = _img(20, 13, alpha=True)
    out = run_job(engine.upscale(im, UpscaleRequest(scale, model=f"test-sr-x{scale}", options=CPU)))
    assert out.pixels.shape == (20 * scale, 13 * scale, 3)
    assert out.alpha.shape == (20 * scale, 13 * scale)


def test_upscale_gray_stays_gray():
    out = run_job(engine.upscale(_img(c=1), UpscaleRequest(2, model="test-sr-x2", options=CPU)))
    assert out.pixels.shape[2] == 1


def test_upscale_keeps_8_bit_results_as_uint8_and_16_bit_as_float(tmp_path):
    im = _img(24, 30)
    out8 = run_job(engine.upscale(im, UpscaleRequest(2, model="test-sr-x2", options=CPU)))
    out16 = run_job(engine.upscale(replace(im, bits=16), UpscaleRequest(2, model="test-sr-x2", options=CPU)))
    assert out8.pixels.dtype == np.uint8 and out16.pixels.dtype == np.float32
    # the same picture: uint8 is the float result rounded
    assert np.abs(out8.float_pixels() - np.clip(out16.pixels, 0, 1)).max() <= 0.5 / 255 + 1e-6
    # and the 8-bit result flows on through the other ops and to a file
    again = run_job(engine.restore(out8, RestoreRequest("test-restore", CPU)))
    assert again.pixels.dtype == np.float32 and again.pixels.shape == out8.pixels.shape
    saved = engine.save_image(out8, tmp_path / "up.png")
    assert np.array_equal(np.asarray(PILImage.open(saved)), out8.pixels)


def test_upscale_scale_mismatch():
    with pytest.raises(RestoraError, match="x2, not x4"):
        run_job(engine.upscale(_img(), UpscaleRequest(4, model="test-sr-x2", options=CPU)))


def test_wrong_task_model():
    with pytest.raises(engine.ModelError, match="not a restore model"):
        run_job(engine.restore(_img(), RestoreRequest("test-mask", CPU)))


def test_cancel_mid_job():
    token = CancelToken()
    job = engine.restore(_img(300, 300), RestoreRequest("test-restore", CPU), token)
    next(job)
    token.cancel()
    with pytest.raises(Cancelled):
        run_job(job)


def test_shipped_upscaler_missing_says_so(monkeypatch):
    monkeypatch.setattr(models, "SHIPPED_DIR", models.SHIPPED_DIR / "nonexistent")
    with pytest.raises(ModelNotInstalledError, match="no trained model for upscale x4"):
        run_job(engine.upscale(_img(), UpscaleRequest(4)))


def test_parse_steps():
    assert parse_steps("restore, upscale:2,upscale:4:sharp,repair@mine") == (
        Step("restore"), Step("upscale", 2), Step("upscale", 4, "sharp"), Step("repair", model="mine"))
    for bad in ["", "blur", "upscale:3", "restore:2", "upscale:4:soft"]:
        with pytest.raises(RestoraError):
            parse_steps(bad)


def test_run_steps_progress_is_monotonic():
    reports = []
    steps = parse_steps("restore@test-restore,upscale:2@test-sr-x2")
    out = run_job(run_steps(_img(c=1), steps, CPU), reports.append)
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert out.pixels.shape == (74, 90, 1)


def test_a_large_page_of_text_is_looked_at_by_the_size_of_its_text():
    """A page is reduced until its strokes are PAGE_STROKE px wide (about 100 dpi), the
    same text size whatever the scan's resolution, where the photo rule (a short side of
    320) would make a letter page's text a grey texture; photos are not pages."""
    from engine.ops.segment import PAGE_STROKE, looks_like_page, stroke_width
    from engine.training.synth_docs import render_clean

    page = PILImage.fromarray(render_clean(np.random.default_rng(3), 1024))

    def scanned(side):
        grey = np.asarray(page.resize((side, side), PILImage.BICUBIC), np.float32)[..., None] / 255
        return np.repeat(grey, 3, axis=2) * np.float32([0.95, 0.92, 0.85])     # yellowed paper

    scan, fine = scanned(1536), scanned(3072)
    assert looks_like_page(scan) and looks_like_page(fine)
    assert stroke_width(fine) == pytest.approx(2 * stroke_width(scan), rel=0.1)
    assert engine.detection_scale(Image(pixels=scan)) == pytest.approx(PAGE_STROKE / stroke_width(scan))
    side, fine_side = (engine.detection_scale(Image(pixels=a)) * 1536 * k for a, k in ((scan, 1), (fine, 2)))
    assert side > 1.5 * 320 and fine_side == pytest.approx(side, rel=0.1)
    assert engine.detection_scale(Image(pixels=fine[..., :1])) == pytest.approx(fine_side / 3072, rel=0.05)  # grey
    small = scanned(round(1536 * PAGE_STROKE / stroke_width(scan)))         # strokes under 1.5 x PAGE_STROKE
    assert min(small.shape[:2]) > 1.5 * 320 and stroke_width(small) < 1.5 * PAGE_STROKE
    assert engine.detection_scale(Image(pixels=small)) == 1.0
    yy, xx = np.mgrid[0:900, 0:1200] / 900
    photo = np.stack([0.5 + 0.4 * np.sin(5 * xx + c) * np.cos(4 * yy) for c in range(3)], -1).astype(np.float32)
    assert not looks_like_page(photo) and not looks_like_page(1 - scan)      # a negative has no light paper
    assert engine.detection_scale(Image(pixels=photo)) == pytest.approx(320 / 900)
