"""Shared fixtures: a catalogue of hostile and unusual image files.

`hostile_dir` (session scope) writes every file in HOSTILE_CASES under one
temporary folder and returns a HostileCatalogue: `root` and `cases`, a dict
relative Path -> "ok" (must load) or "error" (must raise ImageReadError naming
the file). Any test that takes an argument named `hostile_case` is run once per
case with the relative Path (see pytest_generate_tests), so a batch or CLI test
can reuse the same catalogue.

All files are regular files (no FIFOs or dangling links), so walking and
hashing the folder is safe. Some names are awkward on purpose: spaces, nested
folders, non-ASCII and a name that is not valid UTF-8 (stored here as the
os.fsdecode() form, which `open()` accepts).
"""
from __future__ import annotations

import functools
import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

NON_UTF8_NAME = os.fsdecode(b"bad\xff.png")


@dataclass
class HostileCatalogue:
    """Where the hostile files are and what loading each one should do."""

    root: Path
    cases: dict[Path, str]                       # relative path -> "ok" | "error"
    notes: dict[Path, str] = field(default_factory=dict)

    def path(self, relative: str | Path) -> Path:
        return self.root / relative

    @property
    def ok(self) -> list[Path]:
        return [p for p, want in self.cases.items() if want == "ok"]

    @property
    def errors(self) -> list[Path]:
        return [p for p, want in self.cases.items() if want == "error"]


# --------------------------------------------------------------------------- independent encoders
# Written here, not taken from engine.imageio, so the reader is tested against
# files it did not write itself.

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _paeth_rows(raw: np.ndarray, bpp: int) -> bytes:
    """Paeth-filter every row (filter type 4) so the decoder's unfiltering is exercised."""
    x = raw.astype(np.int16)
    up = np.vstack([np.zeros_like(x[:1]), x[:-1]])
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    upleft = np.zeros_like(x)
    upleft[:, bpp:] = up[:, :-bpp]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = 4
    out[:, 1:] = (x - pred) & 0xFF
    return out.tobytes()


def png16_bytes(samples: np.ndarray, color_type: int, interlace: bool = False) -> bytes:
    """A 16-bit PNG (gray 0, RGB 2, gray+alpha 4, RGBA 6) from HxWxC uint16 samples."""
    h, w, c = samples.shape
    big = samples.astype(">u2")
    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        data = b""
        for x0, y0, dx, dy in passes:
            sub = big[y0::dy, x0::dx]
            if sub.size:
                data += _paeth_rows(np.frombuffer(sub.tobytes(), np.uint8).reshape(sub.shape[0], -1), 2 * c)
    else:
        data = _paeth_rows(np.frombuffer(big.tobytes(), np.uint8).reshape(h, -1), 2 * c)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 1 if interlace else 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(data)) + _chunk(b"IEND", b"")


def tiff48_bytes(samples: np.ndarray) -> bytes:
    """An uncompressed little-endian 16-bit-per-channel RGB TIFF (Pillow cannot write one)."""
    h, w, _ = samples.shape
    pixels = samples.astype("<u2").tobytes()
    entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, None), (277, 3, 1, 3), (278, 3, 1, h), (279, 4, 1, len(pixels)), (284, 3, 1, 1)]
    ifd_at = 8
    ifd_size = 2 + 12 * len(entries) + 4
    bps_at = ifd_at + ifd_size
    data_at = bps_at + 6
    out = b"II*\x00" + struct.pack("<I", ifd_at) + struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        if tag == 258:
            value = bps_at
            out += struct.pack("<HHII", tag, kind, count, value)
        elif tag == 273:
            out += struct.pack("<HHII", tag, kind, count, data_at)
        elif kind == 3:
            out += struct.pack("<HHIHH", tag, kind, count, value, 0)
        else:
            out += struct.pack("<HHII", tag, kind, count, value)
    out += struct.pack("<I", 0) + struct.pack("<HHH", 16, 16, 16)
    return out + pixels


def bomb_png_bytes(side: int = 30000) -> bytes:
    """A real 1-bit PNG of side x side zeros: ~100 KB on disk, side**2 pixels when decoded."""
    row = b"\x00" * (1 + (side + 7) // 8)
    block = row * 1000
    packer = zlib.compressobj(1)
    body = b"".join(packer.compress(block) for _ in range(side // 1000))
    body += packer.compress(row * (side % 1000)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


# --------------------------------------------------------------------------- sample data

def gradient(width: int, height: int, channels: int = 3) -> np.ndarray:
    """A deterministic uint8 test pattern (compressible, so corruption is detected)."""
    y, x = np.mgrid[0:height, 0:width]
    planes = [(x * 7 + y * 3) % 256, (x * 2 + y * 5) % 256, (x * y) % 256][:channels]
    return np.stack(planes, axis=2).astype(np.uint8)


def noise16(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (height, width, channels), dtype=np.uint16)


def _encode(im: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **options)
    return buf.getvalue()


def _png(arr: np.ndarray, **options) -> bytes:
    return _encode(Image.fromarray(arr), "PNG", **options)


def _truncated(data: bytes, fraction: float = 0.5) -> bytes:
    return data[: int(len(data) * fraction)]


def _bad_header_crc() -> bytes:
    data = bytearray(_png(gradient(16, 16)))
    data[29] ^= 0xFF                         # IHDR's CRC: bytes 29..32
    return bytes(data)


def _corrupt_idat() -> bytes:
    data = bytearray(_png(gradient(64, 64)))
    start = data.index(b"IDAT") + 4
    for i in range(start + 20, start + 60):
        data[i] ^= 0x5A
    return bytes(data)


def _no_idat() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b"")


def _jpeg_header_bomb() -> bytes:
    data = bytearray(_encode(Image.fromarray(gradient(8, 8)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 65535, 65535)   # height, width
    return bytes(data)


def _exif_rotated_jpeg() -> bytes:
    arr = np.zeros((20, 40, 3), np.uint8)     # stored 40 wide, 20 high
    arr[:, :] = (0, 0, 255)
    arr[:5, :5] = (255, 0, 0)                 # red in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6                          # rotate 90 degrees clockwise to display
    exif[0x010F] = "Restora Test Camera"      # Make: some other tag that must survive
    return _encode(Image.fromarray(arr), "JPEG", exif=exif.tobytes(), quality=95)


@functools.lru_cache(maxsize=None)
def srgb_profile() -> bytes:
    """An sRGB ICC profile, built once (the bytes embed their creation time)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _palette_transparent() -> bytes:
    im = Image.fromarray(gradient(24, 16, 1)[..., 0] // 64).convert("P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 - 4) * 3)
    return _encode(im, "PNG", transparency=0)


def _animated_gif() -> bytes:
    frames = [Image.fromarray(np.full((12, 10, 3), v, np.uint8)) for v in (0, 128, 255)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _multipage_tiff() -> bytes:
    pages = [Image.fromarray(gradient(10, 8)), Image.fromarray(255 - gradient(10, 8))]
    return _encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def _gray16(fmt: str) -> bytes:
    arr = (np.arange(32 * 16, dtype=np.uint32).reshape(16, 32) * 127 + 300).astype(np.uint16)
    return _encode(Image.fromarray(arr), fmt)


def _float_tiff() -> bytes:
    arr = np.linspace(0.0, 4.0, 20 * 10, dtype=np.float32).reshape(10, 20)
    return _encode(Image.fromarray(arr, mode="F"), "TIFF")


def _cmyk_jpeg() -> bytes:
    arr = np.zeros((12, 16, 4), np.uint8)
    arr[..., 1] = 255                         # magenta ink
    return _encode(Image.fromarray(arr, mode="CMYK"), "JPEG", quality=95)


def _la_png() -> bytes:
    arr = np.stack([gradient(20, 10, 1)[..., 0], np.full((10, 20), 100, np.uint8)], axis=2)
    return _encode(Image.fromarray(arr, mode="LA"), "PNG")


def _rgba_png() -> bytes:
    arr = np.concatenate([gradient(20, 10), gradient(20, 10, 1)], axis=2)
    return _encode(Image.fromarray(arr, mode="RGBA"), "PNG")


def _rgba_webp() -> bytes:
    arr = np.concatenate([gradient(20, 10), np.full((10, 20, 1), 200, np.uint8)], axis=2)
    return _encode(Image.fromarray(arr, mode="RGBA"), "WEBP", lossless=True)


def _bilevel() -> bytes:
    return _encode(Image.fromarray(gradient(17, 9, 1)[..., 0] > 128), "PNG")


# relative path, expected outcome, maker -> bytes
HOSTILE_CASES: list[tuple[str, str, object]] = [
    ("empty.png", "error", lambda: b""),
    ("truncated.png", "error", lambda: _truncated(_png(gradient(64, 64)))),
    ("truncated.jpg", "error", lambda: _truncated(_encode(Image.fromarray(gradient(64, 64)), "JPEG"))),
    ("bad crc in header.png", "error", _bad_header_crc),
    ("corrupt data.png", "error", _corrupt_idat),
    ("header only.png", "error", _no_idat),
    ("text named.png", "error", lambda: b"This is not an image, just some text.\n" * 4),
    ("png named.jpg", "ok", lambda: _png(gradient(12, 8))),
    ("tiny 1x1.png", "ok", lambda: _png(np.full((1, 1, 3), 77, np.uint8))),
    ("strip 1x4096.png", "ok", lambda: _png(gradient(1, 4096))),
    ("strip 4096x1.png", "ok", lambda: _png(gradient(4096, 1))),
    ("bomb 30000x30000.png", "error", bomb_png_bytes),
    ("bomb header 65535x65535.jpg", "error", _jpeg_header_bomb),
    ("gray16.png", "ok", lambda: _gray16("PNG")),
    ("gray16.tif", "ok", lambda: _gray16("TIFF")),
    ("rgb48.png", "ok", lambda: png16_bytes(noise16(9, 13, 3, seed=1), 2)),
    ("rgba64 interlaced.png", "ok", lambda: png16_bytes(noise16(11, 10, 4, seed=2), 6, interlace=True)),
    ("la32.png", "ok", lambda: png16_bytes(noise16(7, 6, 2, seed=3), 4)),
    ("rgb48.tif", "ok", lambda: tiff48_bytes(noise16(5, 8, 3, seed=4))),
    ("float32.tif", "ok", _float_tiff),
    ("cmyk.jpg", "ok", _cmyk_jpeg),
    ("gray.jpg", "ok", lambda: _encode(Image.fromarray(gradient(16, 8, 1)[..., 0]), "JPEG")),
    ("palette transparent.png", "ok", _palette_transparent),
    ("bilevel.png", "ok", _bilevel),
    ("la.png", "ok", _la_png),
    ("rgba.png", "ok", _rgba_png),
    ("exif orientation 6.jpg", "ok", _exif_rotated_jpeg),
    ("icc.png", "ok", lambda: _png(gradient(8, 8), icc_profile=srgb_profile())),
    ("animated.gif", "ok", _animated_gif),
    ("multipage.tif", "ok", _multipage_tiff),
    ("plain.bmp", "ok", lambda: _encode(Image.fromarray(gradient(9, 7)), "BMP")),
    ("café_日本.png", "ok", lambda: _png(gradient(6, 5))),
    (NON_UTF8_NAME, "ok", lambda: _png(gradient(5, 6))),
    ("sub folder/nested dir/deep image.png", "ok", lambda: _png(gradient(10, 10))),
    ("sub folder/broken image.jpg", "error",
     lambda: _truncated(_encode(Image.fromarray(gradient(48, 48)), "JPEG"), 0.3)),
    ("sub folder/rgba lossless.webp", "ok", _rgba_webp),
]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # through the bytes form, so a name that is not valid UTF-8 is created byte-exact
    fd = os.open(os.fsencode(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


@pytest.fixture(scope="session", autouse=True)
def own_data_dir(tmp_path_factory):
    """No test reads or writes the person's own Restora folder (models, recovery copies, fine-tune
    runs): RESTORA_DATA_DIR points at an empty temporary folder for the whole run, subprocesses
    included. A recovery copy left there by the person's editor made a subprocess test wait on
    the editor's recovery question."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESTORA_DATA_DIR", str(tmp_path_factory.mktemp("restora-data")))
        yield


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory) -> HostileCatalogue:
    """Write the hostile catalogue once per session; see the module docstring."""
    root = tmp_path_factory.mktemp("hostile")
    cases: dict[Path, str] = {}
    for relative, expected, make in HOSTILE_CASES:
        _write(root / relative, make())
        cases[Path(relative)] = expected
    return HostileCatalogue(root=root, cases=cases)


def pytest_generate_tests(metafunc):
    # one test per catalogue entry for any test asking for `hostile_case`
    if "hostile_case" in metafunc.fixturenames:
        names = [Path(relative) for relative, _, _ in HOSTILE_CASES]
        metafunc.parametrize("hostile_case", names, ids=[ascii(str(n))[1:-1] for n in names])


# --------------------------------------------------------------------------- random-weight models

@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """A data folder holding every random-weight test model (tests/model_factory.py), shared read-only."""
    from model_factory import make_tiny_models

    folder = tmp_path_factory.mktemp("restora-data")
    make_tiny_models(folder)
    return folder


@pytest.fixture
def tiny_models(tiny_models_dir, monkeypatch) -> Path:
    """Use the shared test models as the user's models (for tests that only read them)."""
    from engine import models

    monkeypatch.setenv("RESTORA_DATA_DIR", str(tiny_models_dir))
    models._cache.clear()
    return tiny_models_dir


@pytest.fixture
def own_tiny_models(tmp_path, monkeypatch) -> Path:
    """A private data folder with the test models, for tests that change, damage or add models."""
    from engine import models
    from model_factory import make_tiny_models

    folder = tmp_path / "data"
    make_tiny_models(folder)
    monkeypatch.setenv("RESTORA_DATA_DIR", str(folder))
    models._cache.clear()
    return folder


# --------------------------------------------------------------------------- the editor window

@pytest.fixture
def unsaved_answers(monkeypatch):
    """The answers the "unsaved changes" question gets (Discard when the list is empty);
    the questions asked are appended to `asked`."""
    from PySide6.QtWidgets import QMessageBox

    class Answers(list):
        asked: list[str] = []

    answers = Answers()
    answers.asked = []

    def question(parent, title, text, *rest):
        answers.asked.append(text)
        return answers.pop(0) if answers else QMessageBox.StandardButton.Discard

    monkeypatch.setattr("gui.main_window.question", question)
    return answers


@pytest.fixture
def window(qtbot, tmp_path, tiny_models, unsaved_answers):
    from PySide6.QtCore import QSettings

    from gui.main_window import MainWindow

    w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)  # closed at teardown, which stops the worker thread
    w.resize(900, 600)
    w.show()
    return w


@pytest.fixture
def errors(monkeypatch):
    """Captures QMessageBox.critical calls as (title, message)."""
    shown = []
    monkeypatch.setattr("gui.main_window.QMessageBox.critical",
                        lambda parent, title, message, *rest: shown.append((title, message)))
    return shown
