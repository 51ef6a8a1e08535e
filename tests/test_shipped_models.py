"""The shipped weights: every card's weights load and match their SHA-256, and the
trained models do their job far better than doing nothing (fails if untrained)."""
import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFilter

import engine
from engine import models
from engine.jobs import run_job
from engine.metrics import damage_iou, psnr_y
from engine.training.synth_damage import damage
from engine.training.synth_docs import degrade, render_clean
from engine.types import Image, MaskRequest, RepairRequest, RestoreRequest, RunOptions, UpscaleRequest

SHIPPED = [c for c in models.list_models() if c.source == "shipped"]


@pytest.mark.parametrize("card", SHIPPED, ids=[c.name for c in SHIPPED])
def test_shipped_weights_load_and_hash_matches(card):
    assert models.sha256_file(card.weights) == card.sha256
    net = models.load_network(card)
    assert sum(p.numel() for p in net.parameters()) > 0


def test_document_model_cleans_a_page():
    rng = np.random.default_rng(7)
    clean = render_clean(rng, 256).astype(np.float32) / 255
    dirty = degrade(rng, clean)
    out = run_job(engine.restore(Image(pixels=dirty[..., None]), RestoreRequest(options=RunOptions(device="cpu"))))
    rmse_in = float(np.sqrt(np.mean((dirty - clean) ** 2)))
    rmse_out = float(np.sqrt(np.mean((out.pixels[..., 0] - clean) ** 2)))
    assert rmse_out < 0.4 * rmse_in, (rmse_in, rmse_out)


def _shapes(size: int) -> np.ndarray:
    """A small colour test picture: outlines, lines and boxes over a soft gradient."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([0.3 + 0.4 * x, 0.5 + 0.3 * y, 0.6 - 0.3 * x * y], axis=2)
    picture = PILImage.fromarray(np.round(base * 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(14 * (size // 192) ** 2):
        x0, y0 = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(6, 48))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), outline=colour, width=int(rng.integers(1, 4)))
        elif kind == 1:
            draw.line((x0, y0, x0 + r * 2, y0 + r), fill=colour, width=int(rng.integers(1, 5)))
        else:
            draw.rectangle((x0, y0, x0 + r, y0 + r // 2), fill=colour)
    return np.asarray(picture)


def _lr(hr: np.ndarray, scale: int) -> np.ndarray:
    h, w = hr.shape[:2]
    return np.asarray(PILImage.fromarray(hr).resize((w // scale, h // scale), PILImage.BICUBIC))


@pytest.mark.parametrize("scale", [2, 4])
def test_faithful_upscaler_beats_bicubic(scale):
    hr = _shapes(192)
    lr = _lr(hr, scale)
    bicubic = np.asarray(PILImage.fromarray(lr).resize(hr.shape[1::-1], PILImage.BICUBIC)).astype(np.float32) / 255
    out = run_job(engine.upscale(Image(pixels=lr.astype(np.float32) / 255),
                                 UpscaleRequest(scale, "faithful", options=RunOptions(device="cpu"))))
    ref = hr.astype(np.float32) / 255
    gain = psnr_y(out.float_pixels(), ref, scale) - psnr_y(bicubic, ref, scale)
    assert gain > 1.5, gain                     # measured: about 3 dB at x4


def test_tiled_upscale_matches_the_whole_picture():
    lr = _lr(_shapes(400), 4)                                  # 100x100 in, 400x400 out
    image = Image(pixels=lr.astype(np.float32) / 255)
    whole = run_job(engine.upscale(image, UpscaleRequest(4, options=RunOptions(device="cpu", tile=4096))))
    tiled = run_job(engine.upscale(image, UpscaleRequest(4, options=RunOptions(device="cpu", tile=128))))
    assert whole.pixels.dtype == np.uint8 and whole.pixels.shape == (400, 400, 3)
    assert np.abs(whole.pixels.astype(int) - tiled.pixels.astype(int)).max() <= 2


def _detail(rgb: np.ndarray) -> float:
    """Mean absolute Laplacian of the luma: how much fine texture a picture has."""
    y = rgb.astype(np.float32).mean(axis=2)
    return float(np.abs(4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]).mean())


def test_sharp_upscaler_draws_more_texture_than_faithful():
    rng = np.random.default_rng(4)
    hr = np.clip(_shapes(192).astype(np.int16) + rng.integers(-40, 41, (192, 192, 1)), 0, 255).astype(np.uint8)
    image = Image(pixels=_lr(hr, 4).astype(np.float32) / 255)
    out = {v: run_job(engine.upscale(image, UpscaleRequest(4, v, options=RunOptions(device="cpu")))).pixels
           for v in ("faithful", "sharp")}
    assert _detail(out["sharp"]) > 1.1 * _detail(out["faithful"])


CPU = RunOptions(device="cpu")


def _scene(size: int) -> np.ndarray:
    """A photo-like test picture: soft coloured blobs over a gradient, with fine texture
    (no drawn lines, which would be indistinguishable from scratches)."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.3 + 0.4 * x, 0.5 + 0.3 * y, 0.6 - 0.3 * x * y], axis=2)
    for _ in range(8):
        cy, cx = rng.random(2)
        r = rng.uniform(0.08, 0.25)
        blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))[..., None]
        img = img * (1 - 0.6 * blob) + 0.6 * blob * rng.random(3)
    noise = PILImage.fromarray((rng.random((size, size)) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.5))
    texture = np.asarray(noise, np.float32)[..., None] / 255 - 0.5
    return np.clip(img + 0.15 * texture, 0, 1).astype(np.float32)


def _damaged_photo(seed: int):
    """(clean, damaged, true labels 0 / 0.5 unsure / 1): the test scene with scratches, dust and holes."""
    clean = _scene(192)
    damaged, labels = damage(np.random.default_rng(seed), clean, global_effects=False,
                             kinds=("scratches", "dust", "holes"))
    return clean, damaged, labels


@pytest.mark.parametrize("seed", [1, 2])
def test_damage_detector_finds_the_damage(seed):
    _, damaged, labels = _damaged_photo(seed)
    assert (labels == 1).mean() > 0.01
    pred = run_job(engine.detect_damage(Image(pixels=damaged), MaskRequest(options=CPU)))
    assert damage_iou(pred, labels) > 0.8          # an empty mask scores 0; measured 0.99
    untouched = run_job(engine.detect_damage(Image(pixels=_scene(192)), MaskRequest(options=CPU)))
    assert untouched.mean() < 0.02           # and the undamaged picture is left unmarked


def test_damage_detector_finds_the_damage_of_a_larger_scan():
    """The same damaged scene enlarged 4 times, as a scan at a higher resolution: the
    detector looks at it reduced to its working size and finds the damage still."""
    _, damaged, labels = _damaged_photo(2)
    big = np.repeat(np.repeat(damaged, 4, axis=0), 4, axis=1)
    big_labels = np.repeat(np.repeat(labels, 4, axis=0), 4, axis=1)
    pred = run_job(engine.detect_damage(Image(pixels=big), MaskRequest(options=CPU)))
    assert pred.shape == big_labels.shape
    assert damage_iou(pred, big_labels) > 0.8      # measured 0.98; looked at full size, 0.52


def test_repair_fills_the_damage_and_keeps_the_rest():
    clean, damaged, labels = _damaged_photo(3)
    mask = (labels == 1).astype(np.float32)
    fixed = run_job(engine.repair(Image(pixels=damaged), RepairRequest(options=CPU), mask)).float_pixels()
    outside = mask == 0
    assert np.abs(fixed[outside] - damaged[outside]).max() <= 1 / 255     # rounding to 8 bits at most
    inside = mask == 1
    err_in, err_fixed = (np.abs(x[inside] - clean[inside]).mean() for x in (damaged, fixed))
    assert err_fixed < 0.5 * err_in, (err_in, err_fixed)


def test_repair_fills_a_wide_hole_in_a_large_picture():
    """A hole 260x320 px in a 960 px picture is wider than the network sees around a pixel at
    full size; filled from the picture reduced to the working size it matches its
    surroundings."""
    clean = _scene(960)
    damaged, mask = clean.copy(), np.zeros(clean.shape[:2], np.float32)
    mask[300:560, 380:700] = 1
    damaged[mask > 0] = (0.93, 0.9, 0.82)     # the cream backing of a print shows through
    inside = mask == 1

    def error(scale):
        request = RepairRequest(options=CPU, scale=scale)
        fixed = run_job(engine.repair(Image(pixels=damaged), request, mask)).float_pixels()
        assert np.array_equal(fixed[~inside], damaged[~inside])
        return float(np.abs(fixed[inside] - clean[inside]).mean())

    at_working_size, at_full_size = error(None), error(1.0)
    assert at_working_size < 0.1 * np.abs(damaged[inside] - clean[inside]).mean()    # measured 0.030 against 0.455
    assert at_working_size < 0.5 * at_full_size                                       # measured 0.082 at full size


def test_repair_leaves_no_seam_between_tiles():
    """Tiles of 256 px (cores of 192) cut the 260x320 hole at row 384 and columns 384 and
    576; each tile fills its part from what it sees, and neighbouring fills are blended
    across their overlap, so the fill changes no faster there than anywhere in it."""
    clean = _scene(960)
    damaged, mask = clean.copy(), np.zeros(clean.shape[:2], np.float32)
    mask[300:560, 380:700] = 1
    damaged[mask > 0] = (0.93, 0.9, 0.82)
    request = RepairRequest(options=RunOptions(device="cpu", tile=256), scale=1.0)
    fill = run_job(engine.repair(Image(pixels=damaged), request, mask)).float_pixels()[300:560, 380:700]
    across_rows = np.abs(np.diff(fill, axis=0)).mean(axis=(1, 2))       # step from row 300 + i to the next
    across_cols = np.abs(np.diff(fill, axis=1)).mean(axis=(0, 2))
    seams = [across_rows[383 - 300], across_cols[383 - 380], across_cols[575 - 380]]
    assert max(seams) < 0.02, seams            # measured 0.005; cut at the cores' edges, 0.22
