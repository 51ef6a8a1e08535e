"""engine.imageio: loading hostile and unusual files, saving atomically, keeping metadata."""
from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageFile

import engine.imageio as imageio
from engine.errors import ImageReadError, ImageWriteError
from engine.imageio import SAVE_FORMATS, load_image, save_image, to_uint8
from engine.types import Image

from conftest import noise16, srgb_profile  # noqa: E402 - tests/ is on sys.path under pytest


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rgb(width: int = 37, height: int = 23, seed: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    smooth = np.stack([x / max(width - 1, 1), y / max(height - 1, 1), (x + y) / (width + height)], axis=2)
    return smooth.astype(np.float32)


def _quantized(pixels: np.ndarray) -> np.ndarray:
    return to_uint8(pixels).astype(np.float32) / 255.0


# --------------------------------------------------------------------------- the hostile catalogue

def test_hostile_case(hostile_dir, hostile_case):
    path = hostile_dir.path(hostile_case)
    if hostile_dir.cases[hostile_case] == "ok":
        image = load_image(path)
        assert image.pixels.dtype == np.float32 and image.pixels.ndim == 3
        assert image.channels in (1, 3) and image.height >= 1 and image.width >= 1
        assert np.isfinite(image.pixels).all()
        assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0
        if image.alpha is not None:
            assert image.alpha.dtype == np.float32 and image.alpha.shape == image.pixels.shape[:2]
            assert image.alpha.min() >= 0.0 and image.alpha.max() <= 1.0
        assert image.bits in (8, 16)
        assert image.source == str(path)
    else:
        with pytest.raises(ImageReadError) as info:
            load_image(path)
        message = str(info.value)
        assert path.name in message and info.value.path == str(path)
        assert "\n" not in message and "Traceback" not in message
        assert info.value.reason


def test_loading_never_modifies_inputs(hostile_dir):
    files = sorted(p for p in hostile_dir.root.rglob("*") if p.is_file())
    before = {p: (_sha(p), p.stat().st_mtime_ns) for p in files}
    for p in files:
        try:
            load_image(p)
        except ImageReadError:
            pass
    after = {p: (_sha(p), p.stat().st_mtime_ns) for p in sorted(q for q in hostile_dir.root.rglob("*") if q.is_file())}
    assert after == before                    # same bytes, same times, no new files


def test_content_not_suffix_decides_format(hostile_dir):
    assert load_image(hostile_dir.path("png named.jpg")).source_format == "PNG"


def test_odd_file_names_load(hostile_dir):
    for name in ("café_日本.png", os.fsdecode(b"bad\xff.png"), "sub folder/nested dir/deep image.png"):
        assert load_image(hostile_dir.path(name)).channels == 3
    # bytes paths are accepted too
    assert load_image(os.fsencode(hostile_dir.path("café_日本.png"))).width == 6


# --------------------------------------------------------------------------- file-system failures

def test_file_system_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.png"
    folder = tmp_path / "folder.png"
    folder.mkdir()
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "gone.png")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)                            # opening it would block: must be refused first
    for path, words in ((missing, "no such file"), (folder, "folder"), (dangling, "no such file"),
                        (fifo, "not a regular file")):
        with pytest.raises(ImageReadError) as info:
            load_image(path)
        assert str(path) in str(info.value) and words in info.value.reason


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_permission_denied(tmp_path):
    path = tmp_path / "secret.png"
    PILImage.new("RGB", (2, 2)).save(path)
    path.chmod(0)
    with pytest.raises(ImageReadError, match="permission denied"):
        load_image(path)


# --------------------------------------------------------------------------- size limits

def test_bomb_refused_from_header_without_decoding(hostile_dir, monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    for name in ("bomb 30000x30000.png", "bomb header 65535x65535.jpg"):
        start = time.perf_counter()
        with pytest.raises(ImageReadError) as info:
            load_image(hostile_dir.path(name))
        assert time.perf_counter() - start < 1.0
        assert "limit" in info.value.reason and "RESTORA_MAX_PIXELS" in info.value.reason
        assert name in str(info.value)


def test_pixel_limit_argument_and_environment(hostile_dir, monkeypatch):
    strip = hostile_dir.path("strip 4096x1.png")
    with pytest.raises(ImageReadError, match=r"4096x1 .* over the limit"):
        load_image(strip, max_pixels=1000)
    monkeypatch.setenv("RESTORA_MAX_PIXELS", "1000")
    with pytest.raises(ImageReadError, match="limit"):
        load_image(strip)
    assert load_image(strip, max_pixels=5000).width == 4096       # the argument wins
    monkeypatch.setenv("RESTORA_MAX_PIXELS", "5000")
    assert load_image(strip).width == 4096


# --------------------------------------------------------------------------- orientation and metadata

def test_exif_orientation_applied_once(hostile_dir, tmp_path):
    image = load_image(hostile_dir.path("exif orientation 6.jpg"))
    assert image.pixels.shape == (40, 20, 3)                       # stored 40x20, shown 20x40
    red_top_right = image.pixels[1, -2]
    assert red_top_right[0] > 0.8 and red_top_right[2] < 0.2       # stored top-left went top-right
    exif = PILImage.Exif()
    exif.load(image.exif)
    assert exif.get(0x0112) == 1 and exif.get(0x010F) == "Restora Test Camera"
    for suffix in ("jpg", "png", "webp"):
        out = save_image(image, tmp_path / f"upright.{suffix}")
        with PILImage.open(out) as saved:
            assert saved.size == (20, 40)
            assert saved.getexif().get(0x0112, 1) == 1
            assert saved.getexif().get(0x010F) == "Restora Test Camera"
        assert load_image(out).pixels.shape == (40, 20, 3)


def test_orientation_tag_reset_even_if_caller_left_it(tmp_path):
    exif = PILImage.Exif()
    exif[0x0112] = 8
    image = Image(pixels=_rgb(8, 4), exif=exif.tobytes())
    out = save_image(image, tmp_path / "o.jpg")
    with PILImage.open(out) as saved:
        assert saved.getexif().get(0x0112, 1) == 1 and saved.size == (8, 4)


@pytest.mark.parametrize("suffix", ["png", "jpg", "webp", "tiff"])
def test_icc_profile_survives_save(hostile_dir, tmp_path, suffix):
    image = load_image(hostile_dir.path("icc.png"))
    assert image.icc_profile == srgb_profile()
    out = save_image(image, tmp_path / f"icc.{suffix}")
    with PILImage.open(out) as saved:
        assert saved.info.get("icc_profile") == image.icc_profile
    assert load_image(out).icc_profile == image.icc_profile


def test_multi_frame_files_warn(hostile_dir):
    gif = load_image(hostile_dir.path("animated.gif"))
    assert any("3 frames" in w and "first" in w for w in gif.warnings)
    assert gif.pixels.max() == 0.0                                 # frame 1 is the black one
    assert gif.channels == 1                                       # a palette of grays is gray
    tif = load_image(hostile_dir.path("multipage.tif"))
    assert any("2 frames" in w for w in tif.warnings)
    assert load_image(hostile_dir.path("rgba.png")).warnings == []


def test_cmyk_becomes_rgb(hostile_dir):
    image = load_image(hostile_dir.path("cmyk.jpg"))
    assert image.channels == 3 and image.icc_profile is None
    r, g, b = image.pixels.reshape(-1, 3).mean(axis=0)
    assert r > 0.8 and g < 0.2 and b > 0.8                         # magenta ink


# --------------------------------------------------------------------------- 16-bit and float sources

def _gray16_expected() -> np.ndarray:
    return (np.arange(32 * 16, dtype=np.uint32).reshape(16, 32) * 127 + 300).astype(np.uint16)


@pytest.mark.parametrize("name", ["gray16.png", "gray16.tif"])
def test_gray16_scaled_not_clipped_and_round_trips(hostile_dir, tmp_path, name):
    expected = _gray16_expected()
    image = load_image(hostile_dir.path(name))
    assert image.bits == 16 and image.channels == 1
    assert np.array_equal(np.round(image.pixels[..., 0] * 65535).astype(np.uint16), expected)
    for suffix in ("png", "tif"):
        out = save_image(image, tmp_path / f"again.{suffix}")
        with PILImage.open(out) as saved:
            assert saved.mode.startswith("I;16")
            assert np.array_equal(np.asarray(saved), expected)
        again = load_image(out)
        assert again.bits == 16 and np.array_equal(again.pixels, image.pixels)


@pytest.mark.parametrize("name, seed, shape, has_alpha", [
    ("rgb48.png", 1, (9, 13, 3), False),
    ("rgba64 interlaced.png", 2, (11, 10, 4), True),
    ("la32.png", 3, (7, 6, 2), True),
    ("rgb48.tif", 4, (5, 8, 3), False),
])
def test_16bit_colour_read_at_full_precision(hostile_dir, name, seed, shape, has_alpha):
    expected = noise16(*shape, seed=seed)
    image = load_image(hostile_dir.path(name))
    assert image.bits == 16 and image.warnings == []
    colour = expected[..., :-1] if has_alpha else expected
    assert np.array_equal(np.round(image.pixels * 65535).astype(np.uint16), colour)
    if has_alpha:
        assert np.array_equal(np.round(image.alpha * 65535).astype(np.uint16), expected[..., -1])
    else:
        assert image.alpha is None


@pytest.mark.parametrize("channels, with_alpha", [(3, False), (3, True), (1, True)])
def test_16bit_png_writer_round_trips_exactly(tmp_path, monkeypatch, channels, with_alpha):
    monkeypatch.setattr(imageio, "_PNG_ROWS_BYTES", 500)            # several filter batches
    samples = noise16(40, 31, channels + with_alpha, seed=7)
    samples[::3] = samples[::3] // 64                               # mixed content: filters differ
    pixels = samples[..., :channels].astype(np.float32) / 65535
    alpha = samples[..., -1].astype(np.float32) / 65535 if with_alpha else None
    exif = PILImage.Exif()
    exif[0x010F] = "cam"
    image = Image(pixels=pixels, alpha=alpha, bits=16, icc_profile=srgb_profile(), exif=exif.tobytes())
    out = save_image(image, tmp_path / "deep.png")
    again = load_image(out)
    assert again.bits == 16
    assert np.array_equal(np.round(again.pixels * 65535), np.round(pixels * 65535))
    if with_alpha:
        assert np.array_equal(np.round(again.alpha * 65535), np.round(alpha * 65535))
    assert again.icc_profile == srgb_profile()
    with PILImage.open(out) as plain:                               # a valid PNG to Pillow too
        plain.load()
        assert plain.size == (31, 40) and plain.getexif().get(0x010F) == "cam"


def test_16bit_rgb_tiff_written_at_8_bits(tmp_path):
    image = Image(pixels=_rgb(), bits=16)
    again = load_image(save_image(image, tmp_path / "x.tiff"))
    assert again.bits == 8 and np.abs(again.pixels - image.pixels).max() <= 0.5 / 255 + 1e-6


def test_float_tiff_scaled_by_range_not_clipped(hostile_dir, tmp_path):
    image = load_image(hostile_dir.path("float32.tif"))
    expected = np.linspace(0.0, 4.0, 200, dtype=np.float32).reshape(10, 20) / 4.0
    assert np.allclose(image.pixels[..., 0], expected, atol=1e-6)
    assert (image.pixels > 0.999).sum() == 1                        # only the true maximum is 1
    assert any("scaled" in w for w in image.warnings)
    saved = load_image(save_image(image, tmp_path / "f.png"))
    assert saved.bits == 16 and np.abs(saved.pixels - image.pixels).max() <= 0.5 / 65535 + 1e-6


# --------------------------------------------------------------------------- alpha

@pytest.mark.parametrize("name", ["rgba.png", "palette transparent.png", "la.png", "sub folder/rgba lossless.webp"])
@pytest.mark.parametrize("suffix", ["png", "webp", "tiff"])
def test_alpha_kept_through_save(hostile_dir, tmp_path, name, suffix):
    image = load_image(hostile_dir.path(name))
    assert image.alpha is not None
    again = load_image(save_image(image, tmp_path / f"a.{suffix}", quality=100))
    assert again.alpha is not None
    assert np.abs(again.alpha - image.alpha).max() <= 1 / 255 + 1e-6
    if suffix != "webp":                                            # lossy colour
        assert np.abs(again.pixels - image.pixels).max() <= 1 / 255 + 1e-6


def test_palette_transparency_becomes_alpha(hostile_dir):
    image = load_image(hostile_dir.path("palette transparent.png"))
    assert set(np.unique(image.alpha)) <= {0.0, 1.0} and image.alpha.min() == 0.0


def test_jpeg_composites_alpha_over_white(tmp_path):
    alpha = np.zeros((8, 8), np.float32)
    alpha[:, 4:] = 1.0
    pixels = np.zeros((8, 8, 3), np.float32)
    again = load_image(save_image(Image(pixels=pixels, alpha=alpha), tmp_path / "w.jpg"))
    assert again.alpha is None
    assert again.pixels[:, :2].min() > 0.9 and again.pixels[:, 6:].max() < 0.1


# --------------------------------------------------------------------------- formats and sizes

@pytest.mark.parametrize("suffix", sorted(SAVE_FORMATS))
@pytest.mark.parametrize("channels", [1, 3])
def test_round_trip_every_format(tmp_path, suffix, channels):
    pixels = _rgb()[..., :channels]
    out = save_image(Image(pixels=pixels), tmp_path / f"r.{suffix}")
    assert out == tmp_path / f"r.{suffix}"
    with PILImage.open(out) as saved:
        assert saved.format == SAVE_FORMATS[suffix] and saved.size == (37, 23)
    again = load_image(out)
    assert again.pixels.shape[:2] == (23, 37)
    error = np.abs(again.pixels.mean(axis=2) - _quantized(pixels).mean(axis=2)).max()
    assert error < (1e-6 if SAVE_FORMATS[suffix] in ("PNG", "TIFF") else 0.06)


@pytest.mark.parametrize("name", ["strip 1x4096.png", "strip 4096x1.png", "tiny 1x1.png"])
@pytest.mark.parametrize("suffix", ["png", "jpg", "webp", "tif"])
def test_strips_save_and_load(hostile_dir, tmp_path, name, suffix):
    image = load_image(hostile_dir.path(name))
    again = load_image(save_image(image, tmp_path / f"s.{suffix}"))
    assert again.pixels.shape[:2] == image.pixels.shape[:2]


def test_format_argument_and_unknown_format(tmp_path):
    image = Image(pixels=_rgb(5, 4))
    out = save_image(image, tmp_path / "picture.data", format="PNG")
    with PILImage.open(out) as saved:
        assert saved.format == "PNG"
    save_image(image, tmp_path / "x.img", format=".jpeg")
    for path, fmt in ((tmp_path / "x.gif", None), (tmp_path / "noext", None), (tmp_path / "y.png", "bmp")):
        with pytest.raises(ImageWriteError) as info:
            save_image(image, path, format=fmt)
        assert str(path) in str(info.value) and not path.exists()


def test_other_integer_pixels_refused(tmp_path):
    with pytest.raises(ImageWriteError, match="floats in \\[0, 1\\] or uint8"):
        save_image(Image(pixels=np.zeros((2, 2, 3), np.int32)), tmp_path / "i.png")
    assert not (tmp_path / "i.png").exists()


@pytest.mark.parametrize("bits", [8, 16])
def test_uint8_pixels_save_as_they_are(tmp_path, bits):
    pixels = np.random.default_rng(3).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    image = Image(pixels=pixels, alpha=np.full((6, 5), 0.5, np.float32), bits=bits)
    assert np.allclose(image.float_pixels(), pixels / 255)
    again = load_image(save_image(image, tmp_path / "u.png"))
    assert np.abs(again.pixels - pixels / 255).max() < 1e-6
    flat = Image(pixels=np.full((8, 8, 3), [200, 100, 30], np.uint8), alpha=np.full((8, 8), 0.5, np.float32))
    on_white = load_image(save_image(flat, tmp_path / "u.jpg", quality=100))      # alpha over white
    assert np.abs(on_white.pixels - (flat.float_pixels() * 0.5 + 0.5)).max() < 0.02


def test_to_uint8_rounds_half_up_and_clips():
    values = np.array([0.5, 0.0, 1.0, -3.0, 7.0, np.nan, 1 / 255], np.float32)
    assert to_uint8(values).tolist() == [128, 0, 255, 0, 255, 0, 1]


def test_creates_missing_folders_and_keeps_permissions(tmp_path):
    out = save_image(Image(pixels=_rgb(4, 4)), tmp_path / "new dir" / "deeper" / "é.png")
    assert out.is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask      # not mkstemp's 0600


# --------------------------------------------------------------------------- atomic writing

def _existing(tmp_path: Path) -> tuple[Path, str]:
    target = tmp_path / "out.png"
    save_image(Image(pixels=_rgb(9, 9)), target)
    return target, _sha(target)


def test_no_overwrite_without_permission(tmp_path):
    target, digest = _existing(tmp_path)
    with pytest.raises(ImageWriteError, match="already exists"):
        save_image(Image(pixels=_rgb(3, 3)), target)
    assert _sha(target) == digest
    save_image(Image(pixels=_rgb(3, 3)), target, overwrite=True)
    assert load_image(target).width == 3
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def _disk_full(*args, **kwargs):
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("fail_in", ["fsync", "encoder"])
def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch, fail_in):
    target, digest = _existing(tmp_path)
    if fail_in == "fsync":
        monkeypatch.setattr(os, "fsync", _disk_full)
    else:
        real_save = PILImage.Image.save

        def half_then_fail(self, fp, *args, **kwargs):
            real_save(self, fp, *args, **kwargs)
            fp.truncate(fp.tell() // 2)                             # a partial file on disk
            _disk_full()
        monkeypatch.setattr(PILImage.Image, "save", half_then_fail)
    with pytest.raises(ImageWriteError) as info:
        save_image(Image(pixels=_rgb(20, 20)), target, overwrite=True)
    assert "no space left on device" in info.value.reason and str(target) in str(info.value)
    assert _sha(target) == digest
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_failed_new_file_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", _disk_full)
    with pytest.raises(ImageWriteError):
        save_image(Image(pixels=_rgb(20, 20), bits=16), tmp_path / "fresh.png")
    assert os.listdir(tmp_path) == []


def test_interrupt_cleans_up_and_propagates(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_image(Image(pixels=_rgb(5, 5)), tmp_path / "k.jpg")
    assert os.listdir(tmp_path) == []


def test_unwritable_target_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ImageWriteError) as info:
        save_image(Image(pixels=_rgb(2, 2)), blocker / "out.png")
    assert "out.png" in str(info.value)
    with pytest.raises(ImageWriteError, match="folder"):
        save_image(Image(pixels=_rgb(2, 2)), tmp_path, format="png")
