"""Image files in and out: the only place that turns files into `Image` records and back.

Owns (ARCHITECTURE sections 3 and 7):

* decoding any format Pillow reads, detected by content (the suffix is never
  trusted), into HxWxC float32 pixels in [0, 1] with alpha split off;
  16-bit and float sources are scaled, never clipped; EXIF orientation is
  applied and the stored Orientation tag reset to 1; ICC profile and EXIF kept;
* the guard against decompression bombs (a pixel-count limit checked from the
  header, before any pixel is decoded);
* translating every failure into `ImageReadError` / `ImageWriteError` that
  names the file and says why in a few words;
* atomic saving: a temporary file in the target folder, fsync, then rename, so
  no partial file ever appears under the final name.

Uses numpy and Pillow only (never Qt or torch), so it is cheap to import.

Limitations, by design of Pillow:

* Pillow decodes 16-bit-per-channel RGB/RGBA/gray+alpha PNGs to 8 bits; this
  module recovers the full 16 bits by decoding the file a second time with the
  byte order swapped (same for uncompressed 48/64-bit TIFFs). Where that is not
  possible (e.g. a compressed 48-bit TIFF) the image loads at 8 bits with
  `bits=8` and a warning.
* Pillow cannot write 48/64-bit images, so 16-bit colour or gray+alpha PNGs are
  written by a small PNG encoder here; 16-bit colour TIFFs are written at
  8 bits per channel (16-bit gray TIFF stays 16-bit).
"""
from __future__ import annotations

import errno
import io
import os
import re
import stat
import struct
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms, UnidentifiedImageError

from .errors import ImageReadError, ImageWriteError
from .types import Image

DEFAULT_MAX_PIXELS = 250_000_000
"""Largest width*height `load_image` accepts unless told otherwise (RESTORA_MAX_PIXELS)."""

SAVE_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "tiff": "TIFF", "tif": "TIFF"}
"""Output extension (lower case, no dot) -> Pillow format name."""

_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
_EXIF_FORMATS = {"PNG", "JPEG", "WEBP"}   # TIFF merges EXIF into its own tags: not safe to pass
_MAX_SIDE = {"JPEG": 65_535, "WEBP": 16_383}
_ORIENTATION = 0x0112
_PNG_ROWS_BYTES = 1 << 22       # the 16-bit PNG writer filters about this much at a time
_EXIF_HEADER = b"Exif\x00\x00"

# Signatures used only to word the message for a file Pillow cannot identify.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"),
)

# 16-bit colour rawmodes Pillow unpacks to 8 bits by keeping the high byte; decoding
# again with the opposite byte order yields the low bytes.
_SWAP_RAWMODE = {"RGB;16B": "RGB;16L", "RGB;16L": "RGB;16B",
                 "RGBA;16B": "RGBA;16L", "RGBA;16L": "RGBA;16B"}


# --------------------------------------------------------------------------- limits

def _pixel_limit(max_pixels: int | None) -> int:
    """The limit to apply: the argument, else RESTORA_MAX_PIXELS, else the default."""
    if max_pixels is not None:
        return int(max_pixels)
    env = os.environ.get("RESTORA_MAX_PIXELS", "").strip()
    if env:
        try:
            value = int(float(env.replace("_", "")))
        except ValueError:
            value = 0
        if value > 0:
            return value
    return DEFAULT_MAX_PIXELS


def _allow_in_pillow(limit: int) -> None:
    # Pillow has its own (smaller) bomb limit that fires inside Image.open; raise it
    # to ours so that ours is the one that decides. It is only ever raised, and
    # only to a limit Restora was configured with.
    current = PILImage.MAX_IMAGE_PIXELS
    if current is not None and current < limit:
        PILImage.MAX_IMAGE_PIXELS = limit


def _too_big(width: int, height: int, limit: int) -> str:
    return (f"image is {width}x{height} = {_mp(width * height)} megapixels, over the limit of "
            f"{_mp(limit)} megapixels (set RESTORA_MAX_PIXELS to raise it)")


def _mp(pixels: int) -> str:
    value = pixels / 1e6
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


# --------------------------------------------------------------------------- loading

def load_image(path: str | bytes | os.PathLike, max_pixels: int | None = None) -> Image:
    """Read an image file into an `Image` (float32 pixels in [0, 1], alpha split off).

    The format is detected from the content. Images whose width*height exceeds
    `max_pixels` (default: RESTORA_MAX_PIXELS or DEFAULT_MAX_PIXELS) are refused
    before decoding. Raises ImageReadError, naming the file, on any failure.
    """
    name = os.fsdecode(path)
    limit = _pixel_limit(max_pixels)
    _check_regular_file(name)
    _allow_in_pillow(limit)
    try:
        with open(name, "rb") as fh:
            return _load_from(fh, name, limit)
    except ImageReadError:
        raise
    except PILImage.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f" has {_mp(int(found.group(1)))} megapixels," if found else " is"
        raise ImageReadError(name, f"image{size} over the limit of {_mp(limit)} megapixels "
                                   "(set RESTORA_MAX_PIXELS to raise it)") from None
    except UnidentifiedImageError:
        raise ImageReadError(name, _unidentified_reason(name)) from None
    except MemoryError:
        raise ImageReadError(name, "not enough memory to decode this image") from None
    except OSError as exc:
        if exc.errno is not None:          # a real I/O error, not Pillow's "truncated"
            raise ImageReadError(name, _os_reason(exc)) from None
        raise ImageReadError(name, f"file is truncated or corrupt ({_short(exc)})") from None
    except (SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, struct.error,
            zlib.error, RuntimeError) as exc:
        # Pillow plugins signal malformed data with a wide range of exception types.
        raise ImageReadError(name, f"file is corrupt or unsupported ({_short(exc)})") from None


def load_mask(path: str | bytes | os.PathLike, width: int, height: int) -> np.ndarray:
    """The mask image at `path` (white = damaged) as HxW float32 in [0, 1]: the mean of its
    channels, transparent pixels intact. ImageReadError, naming the file, unless it is
    `width` x `height` pixels (the image it belongs to)."""
    mask = load_image(path)
    if (mask.width, mask.height) != (width, height):
        raise ImageReadError(os.fsdecode(path), f"the mask is {mask.width}x{mask.height} pixels but the image is "
                                                f"{width}x{height}; a mask must be the image's size")
    values = mask.pixels.mean(axis=2)
    return values if mask.alpha is None else values * mask.alpha


def _check_regular_file(name: str) -> None:
    try:
        st = os.stat(name)
    except OSError as exc:
        raise ImageReadError(name, _os_reason(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageReadError(name, "is a folder, not an image file")
    if not stat.S_ISREG(st.st_mode):
        # a FIFO or device would block or never end
        raise ImageReadError(name, "not a regular file")
    if st.st_size == 0:
        raise ImageReadError(name, "file is empty (0 bytes)")


def _load_from(fh, name: str, limit: int) -> Image:
    with warnings.catch_warnings():
        # Our own check below reports oversized images; Pillow's warning would only
        # duplicate it on stderr.
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        im = PILImage.open(fh)
    with im:
        width, height = im.size
        if width * height > limit:
            raise ImageReadError(name, _too_big(width, height, limit))
        if width <= 0 or height <= 0:
            raise ImageReadError(name, f"image has no pixels ({width}x{height})")
        fmt = im.format
        tile = list(im.tile)
        notes: list[str] = []
        im.load()                      # full decode here, so truncation fails inside load_image
        pixels, alpha, bits, icc = _to_arrays(im, name, notes)
        if bits == 8 and pixels.shape[2] in (1, 3):
            deep = _reload_16bit(fh, im, tile, fmt, notes)
            if deep is not None:
                pixels, alpha = deep
                bits = 16
        orientation, exif = _exif_of(im, notes)
        frames = _frame_count(im)
    if frames > 1:
        notes.append(f"it has {frames} frames; only the first is used")
    pixels, alpha = _orient(pixels, alpha, orientation)
    return Image(pixels=np.ascontiguousarray(pixels, dtype=np.float32),
                 alpha=None if alpha is None else np.ascontiguousarray(alpha, dtype=np.float32),
                 bits=bits, icc_profile=icc or None, exif=exif, source=name, source_format=fmt,
                 warnings=notes)


def _to_arrays(im: PILImage.Image, name: str, notes: list[str]):
    """Pillow image -> (HxWxC float32 pixels, HxW alpha or None, bits, icc profile)."""
    mode = im.mode
    icc = im.info.get("icc_profile") or None
    key = im.info.get("transparency")
    alpha = None
    bits = 8
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        raw = np.asarray(im)
        pixels = raw.astype(np.float32) / 65535.0
        alpha = _key_alpha(raw, key)
        bits = 16
    elif mode == "I":
        raw = np.asarray(im)
        pixels, scaled = _scale_range(raw.astype(np.float64), 65535.0)
        if scaled:
            notes.append(f"integer values {scaled} were scaled to 0..1")
        alpha = _key_alpha(raw, key)
        bits = 16
    elif mode == "F":
        raw = np.asarray(im, dtype=np.float64)
        if not np.all(np.isfinite(raw)):
            notes.append("non-finite float values (NaN/inf) were set to 0")
            raw = np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0)
        pixels, scaled = _scale_range(raw, 1.0)
        if scaled:
            notes.append(f"float values {scaled} were scaled to 0..1")
        bits = 16                      # more precision than 8 bits: keep it on save
    elif mode in ("1", "L"):
        raw = np.asarray(im.convert("L") if mode == "1" else im)
        alpha = _key_alpha(raw, key)
        pixels = raw.astype(np.float32) / 255.0
    elif mode in ("LA", "La", "PA", "P", "RGBA", "RGBa", "RGB", "RGBX"):
        if mode in ("LA", "La"):
            arr = np.asarray(im.convert("LA") if mode == "La" else im)
            pixels, alpha = arr[..., :1], arr[..., 1]
        elif mode in ("P", "PA"):
            has_alpha = mode == "PA" or key is not None or getattr(im.palette, "mode", "") == "RGBA"
            arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
            pixels, alpha = arr[..., :3], (arr[..., 3] if has_alpha else None)
            if np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]):
                pixels = pixels[..., :1]      # a palette of grays is a gray image
        elif mode in ("RGBA", "RGBa"):
            arr = np.asarray(im.convert("RGBA") if mode == "RGBa" else im)
            pixels, alpha = arr[..., :3], arr[..., 3]
        else:
            arr = np.asarray(im.convert("RGB") if mode == "RGBX" else im)
            pixels, alpha = arr, (_key_alpha(arr, key) if mode == "RGB" else None)
        pixels = pixels.astype(np.float32) / 255.0
        if alpha is not None:
            alpha = alpha.astype(np.float32) / 255.0 if alpha.dtype == np.uint8 else alpha
    elif mode == "CMYK":
        pixels, icc = _from_cmyk(im, icc, notes)
    else:
        try:
            rgb = im.convert("RGB")
        except (ValueError, OSError):
            raise ImageReadError(name, f"unsupported colour mode {mode}") from None
        pixels = np.asarray(rgb).astype(np.float32) / 255.0
        if icc is not None:             # a profile for the original mode no longer applies
            notes.append(f"converted from colour mode {mode} to RGB; its colour profile was dropped")
            icc = None
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if alpha is not None and alpha.dtype != np.float32:
        alpha = alpha.astype(np.float32)
    return pixels.astype(np.float32, copy=False), alpha, bits, icc


def _scale_range(raw: np.ndarray, full: float):
    """Scale to [0, 1] by the data's real range: `full` if it fits, else its extent."""
    lo, hi = (float(raw.min()), float(raw.max())) if raw.size else (0.0, 0.0)
    if lo >= 0 and hi <= full:
        return (raw / full).astype(np.float32), None
    if lo >= 0:
        return (raw / hi).astype(np.float32), f"up to {hi:g}"
    span = hi - lo or 1.0
    return ((raw - lo) / span).astype(np.float32), f"in [{lo:g}, {hi:g}]"


def _key_alpha(raw: np.ndarray, key) -> np.ndarray | None:
    """Alpha from a tRNS colour key: transparent where the pixel equals the key."""
    if key is None or isinstance(key, (bytes, bytearray)):
        return None
    if raw.ndim == 3:
        if not isinstance(key, tuple) or len(key) != raw.shape[2]:
            return None
        hit = np.all(raw == np.asarray(key, dtype=raw.dtype), axis=2)
    else:
        if not isinstance(key, int):
            return None
        hit = raw == key
    return (~hit).astype(np.float32)


def _from_cmyk(im: PILImage.Image, icc: bytes | None, notes: list[str]):
    # A CMYK profile cannot describe RGB output: convert through it when present,
    # then drop it (the result is sRGB).
    if icc is not None:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            return np.asarray(rgb).astype(np.float32) / 255.0, None
        except (ImageCms.PyCMSError, OSError, ValueError):
            notes.append("the embedded CMYK colour profile could not be used; colours are approximate")
    rgb = im.convert("RGB")
    return np.asarray(rgb).astype(np.float32) / 255.0, None


def _reload_16bit(fh, im: PILImage.Image, tile, fmt: str | None, notes: list[str]):
    """Recover the low bytes of a 16-bit colour (or gray+alpha PNG) image Pillow cut to 8 bits.

    Returns (pixels, alpha) at full precision, or None when the source is not
    such an image. On failure the 8-bit result stands and a warning says so.
    """
    rawmodes = [_rawmode(t) for t in tile]
    if not rawmodes or any(r is None for r in rawmodes):
        return None
    la16 = fmt == "PNG" and rawmodes == ["LA;16B"]
    if not la16 and not all(r in _SWAP_RAWMODE for r in rawmodes):
        if any(r.endswith((";16B", ";16L", ";16N")) and not r.startswith("I;16") for r in rawmodes):
            notes.append("this 16-bit colour image could only be read at 8 bits per channel")
        return None
    if any(t[0] not in ("zip", "raw") for t in tile):
        notes.append("this 16-bit colour image could only be read at 8 bits per channel")
        return None
    try:
        hi = np.asarray(im)
        fh.seek(0)
        with PILImage.open(fh, formats=[fmt] if fmt else None) as again:
            swapped = []
            for t in again.tile:
                new = "RGBA" if la16 else _SWAP_RAWMODE[_rawmode(t)]
                args = new if isinstance(t[3], str) else (new, *t[3][1:])
                swapped.append(t._replace(args=args) if hasattr(t, "_replace") else (*t[:3], args))
            again.tile = swapped
            again.load()
            lo = np.asarray(again)
    except Exception as exc:  # noqa: BLE001 - any failure just means "keep the 8-bit decode"
        notes.append(f"this 16-bit image could only be read at 8 bits per channel ({_short(exc)})")
        return None
    if la16:
        # decoded as raw bytes: R,G,B,A = L high, L low, A high, A low
        gray = lo[..., 0].astype(np.uint16) * 256 + lo[..., 1]
        alpha = lo[..., 2].astype(np.uint16) * 256 + lo[..., 3]
        return (gray.astype(np.float32) / 65535.0)[..., None], alpha.astype(np.float32) / 65535.0
    if hi.shape != lo.shape:
        return None
    full = hi.astype(np.uint16) * 256 + lo
    pixels = full[..., :3].astype(np.float32) / 65535.0
    if full.shape[2] == 4:
        alpha = full[..., 3].astype(np.float32) / 65535.0
    else:
        alpha = _key_alpha(full, im.info.get("transparency"))
    return pixels, alpha


def _rawmode(t) -> str | None:
    args = t[3]
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def _exif_of(im: PILImage.Image, notes: list[str]) -> tuple[int, bytes | None]:
    """(orientation 1..8, EXIF bytes with Orientation reset to 1 or None)."""
    try:
        exif = im.getexif()
        orientation = exif.get(_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not make the image unreadable
        notes.append("the EXIF data is damaged and was ignored")
        return 1, None
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1
    raw = im.info.get("exif")
    if not raw:
        return orientation, None           # TIFF tags are not EXIF to carry over
    try:
        if _ORIENTATION in exif:
            exif[_ORIENTATION] = 1         # pixels are stored upright from now on
        data = exif.tobytes()
    except Exception:  # noqa: BLE001
        notes.append("the EXIF data is damaged and was not kept")
        return orientation, None
    return orientation, data


def _frame_count(im: PILImage.Image) -> int:
    try:
        return int(getattr(im, "n_frames", 1) or 1)
    except Exception:  # noqa: BLE001 - counting scans later frames, which may be damaged
        return 1


def _orient(pixels: np.ndarray, alpha: np.ndarray | None, orientation: int):
    """Apply EXIF orientation (same transforms as PIL.ImageOps.exif_transpose)."""
    def turn(a: np.ndarray) -> np.ndarray:
        if orientation == 2:
            return a[:, ::-1]
        if orientation == 3:
            return a[::-1, ::-1]
        if orientation == 4:
            return a[::-1]
        if orientation == 5:
            return a.swapaxes(0, 1)
        if orientation == 6:
            return np.rot90(a, -1)
        if orientation == 7:
            return a[::-1, ::-1].swapaxes(0, 1)
        if orientation == 8:
            return np.rot90(a, 1)
        return a
    return turn(pixels), (None if alpha is None else turn(alpha))


def _unidentified_reason(name: str) -> str:
    try:
        with open(name, "rb") as fh:
            head = fh.read(16)
    except OSError:
        head = b""
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return f"looks like a {kind} file but its header is corrupt"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "looks like a WEBP file but its header is corrupt"
    return "not an image file or an unsupported format"


def _os_reason(exc: OSError) -> str:
    reasons = {
        errno.ENOENT: "no such file", errno.EISDIR: "is a folder, not a file",
        errno.EACCES: "permission denied", errno.EPERM: "permission denied",
        errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system",
        errno.ENAMETOOLONG: "file name too long", errno.ENOTDIR: "a part of the path is not a folder",
        errno.ELOOP: "too many levels of symbolic links", errno.EIO: "input/output error",
    }
    if hasattr(errno, "EDQUOT"):
        reasons[errno.EDQUOT] = "disk quota exceeded"
    return reasons.get(exc.errno, (exc.strerror or str(exc)).lower())


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# --------------------------------------------------------------------------- pixel conversion

def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8: clip, scale by 255, round half up; NaN becomes 0 (uint8 passes through)."""
    if isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8:
        return pixels
    scaled = np.multiply(pixels, 255.0, dtype=np.float32)     # one temporary, worked in place
    scaled += 0.5
    np.clip(scaled, 0.0, 255.0, out=scaled)
    np.nan_to_num(scaled, copy=False)
    return scaled.astype(np.uint8)


def to_uint16(pixels: np.ndarray) -> np.ndarray:
    """Float [0, 1] (or uint8) -> uint16: clip, scale by 65535, round half up; NaN becomes 0."""
    if isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8:
        return pixels.astype(np.uint16) * 257
    x = np.nan_to_num(np.asarray(pixels, dtype=np.float64), nan=0.0)
    return np.floor(np.clip(x, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)


# --------------------------------------------------------------------------- saving

def save_image(image: Image, path: str | bytes | os.PathLike, format: str | None = None,
               quality: int = 92, overwrite: bool = False) -> Path:
    """Write `image` atomically to `path` and return the final path.

    The format comes from `format` ("png", "jpg", "webp", "tiff", ...) or else the
    suffix. Alpha, 16-bit precision, EXIF and ICC profile are kept where the format
    allows; JPEG composites alpha over white. The file appears under its final name
    only when complete. Raises ImageWriteError, naming the file, on any failure.
    """
    target = Path(os.fsdecode(path))
    pil_format = _resolve_format(target, format)
    if pil_format in ("JPEG", "WEBP") and not (isinstance(quality, int) and 1 <= quality <= 100):
        raise ImageWriteError(target, f"quality must be a whole number from 1 to 100, not {quality!r}")
    pixels, alpha = _check_pixels(image, target)
    height, width = pixels.shape[:2]
    side = _MAX_SIDE.get(pil_format)
    if side is not None and max(width, height) > side:
        raise ImageWriteError(target, f"{width}x{height} is too large for {pil_format} "
                                      f"(at most {side} pixels on a side)")
    if target.is_dir():
        raise ImageWriteError(target, "is a folder")
    if not overwrite and os.path.lexists(target):
        raise ImageWriteError(target, "already exists (use --overwrite to replace it)")
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageWriteError(target, f"cannot create folder {folder} ({_os_reason(exc)})") from None

    try:
        write = _encoder(image, pixels, alpha, pil_format, quality)
    except (ValueError, TypeError, MemoryError) as exc:
        raise ImageWriteError(target, f"cannot encode as {pil_format} ({_short(exc)})") from None
    _write_atomically(target, write, overwrite, pil_format)
    return target


def _resolve_format(target: Path, format: str | None) -> str:
    key = (format or target.suffix).lower().lstrip(".")
    if key in SAVE_FORMATS:
        return SAVE_FORMATS[key]
    if key.upper() in SAVE_FORMATS.values():
        return key.upper()
    known = ", ".join(sorted(set(SAVE_FORMATS)))
    what = f"unknown image format {key!r}" if key else "no format given and the file name has no suffix"
    raise ImageWriteError(target, f"{what} (use one of: {known})")


def _check_pixels(image: Image, target: Path):
    pixels = np.asarray(image.pixels)
    if not (np.issubdtype(pixels.dtype, np.floating) or pixels.dtype == np.uint8):
        raise ImageWriteError(target, f"pixels must be floats in [0, 1] or uint8, not {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3) or pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise ImageWriteError(target, f"cannot save pixels of shape {pixels.shape} "
                                      "(expected HxWx1 or HxWx3)")
    alpha = image.alpha
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.ndim == 3 and alpha.shape[2] == 1:
            alpha = alpha[..., 0]
        if alpha.shape != pixels.shape[:2]:
            raise ImageWriteError(target, f"alpha of shape {alpha.shape} does not match "
                                          f"the image size {pixels.shape[:2]}")
    return pixels, alpha


def _encoder(image: Image, pixels: np.ndarray, alpha: np.ndarray | None, pil_format: str, quality: int):
    """A function fh -> None that writes the encoded file."""
    gray = pixels.shape[2] == 1
    if alpha is not None and pil_format not in _ALPHA_FORMATS:
        # JPEG has no alpha: composite over white, which is what a viewer would show
        a = np.clip(np.nan_to_num(alpha.astype(np.float32)), 0.0, 1.0)[..., None]
        pixels = pixels.astype(np.float32) / (255.0 if pixels.dtype == np.uint8 else 1.0) * a + (1.0 - a)
        alpha = None
    icc = image.icc_profile or None
    exif = _clean_exif(image.exif) if pil_format in _EXIF_FORMATS else None
    if exif and pil_format == "JPEG" and len(exif) > 65_000:
        exif = None                              # a JPEG APP1 segment holds at most 64 KiB

    deep = image.bits == 16 and pil_format in ("PNG", "TIFF")
    if deep and pil_format == "PNG" and (alpha is not None or not gray):
        return lambda fh: _write_png16(fh, to_uint16(pixels), None if alpha is None else to_uint16(alpha),
                                       icc, exif)
    if deep and gray and alpha is None:
        pil = PILImage.fromarray(to_uint16(pixels[..., 0]))      # uint16 HxW -> mode I;16
    else:
        planes = [to_uint8(pixels)] + ([to_uint8(alpha)[..., None]] if alpha is not None else [])
        arr = np.concatenate(planes, axis=2) if len(planes) > 1 else planes[0]
        # uint8 HxW, HxWx2, HxWx3, HxWx4 -> L, LA, RGB, RGBA
        pil = PILImage.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)

    options: dict = {}
    if icc:
        options["icc_profile"] = icc
    if exif:
        options["exif"] = exif
    if pil_format == "JPEG":
        options["quality"] = quality
    elif pil_format == "WEBP":
        options["quality"] = quality
        options["method"] = 4
    elif pil_format == "TIFF":
        options["compression"] = "tiff_adobe_deflate"
    elif pil_format == "PNG":
        options["compress_level"] = 6

    def write(fh) -> None:
        pil.save(fh, format=pil_format, **options)
    return write


def _clean_exif(data: bytes | None) -> bytes | None:
    """EXIF bytes with Orientation forced to 1 (pixels are always stored upright)."""
    if not data:
        return None
    try:
        exif = PILImage.Exif()
        exif.load(data)
        if exif.get(_ORIENTATION, 1) != 1:
            exif[_ORIENTATION] = 1
        out = exif.tobytes()
    except Exception:  # noqa: BLE001 - unreadable EXIF is dropped rather than failing the save
        return None
    return out


def _write_atomically(target: Path, write, overwrite: bool, pil_format: str) -> None:
    folder = target.parent
    prefix = "." + target.name[:100] + "."       # keep the temporary name under NAME_MAX
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
    except OSError as exc:
        raise ImageWriteError(target, _os_reason(exc)) from None
    try:
        _set_mode(fd, tmp, target)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            _publish_new(tmp, target)
        _sync_folder(folder)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, ImageWriteError):
            raise
        if not isinstance(exc, Exception):     # KeyboardInterrupt, SystemExit: cleaned up, pass on
            raise
        if isinstance(exc, FileExistsError):
            raise ImageWriteError(target, "already exists (use --overwrite to replace it)") from None
        if isinstance(exc, OSError) and exc.errno is not None:
            raise ImageWriteError(target, _os_reason(exc)) from None
        raise ImageWriteError(target, f"cannot write as {pil_format} ({_short(exc)})") from None


def _publish_new(tmp: str, target: Path) -> None:
    # A hard link fails if the name appeared meanwhile, so a concurrent writer is
    # never clobbered; file systems without hard links fall back to a re-check.
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "exists", os.fspath(target)) from None
        os.replace(tmp, target)
        return
    try:
        os.unlink(tmp)               # the image is already in place under its name
    except OSError:
        pass


def _set_mode(fd: int, tmp: str, target: Path) -> None:
    # mkstemp makes 0600 files; an output should get the usual permissions, or keep
    # those of the file it replaces.
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        os.fchmod(fd, mode)
    except (AttributeError, OSError):
        try:
            os.chmod(tmp, mode)
        except OSError:
            pass


def _umask() -> int:
    # os.umask() can only be read by setting it, which races with other threads;
    # Linux reports it in /proc.
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _sync_folder(folder: Path) -> None:
    # make the rename itself durable; not possible everywhere (Windows), so best effort
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# --------------------------------------------------------------------------- 16-bit PNG writer

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _write_png16(fh, pixels: np.ndarray, alpha: np.ndarray | None, icc: bytes | None,
                 exif: bytes | None) -> None:
    """Write a 16-bit-per-channel PNG (gray+alpha, RGB or RGBA), which Pillow cannot."""
    height, width, channels = pixels.shape
    planes = pixels if alpha is None else np.concatenate([pixels, alpha[..., None]], axis=2)
    color_type = {(1, True): 4, (3, False): 2, (3, True): 6, (1, False): 0}[(channels, alpha is not None)]
    samples = planes.astype(">u2")
    bpp = samples.shape[2] * 2
    fh.write(b"\x89PNG\r\n\x1a\n")
    fh.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)))
    if icc:
        fh.write(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if exif:
        fh.write(_png_chunk(b"eXIf", exif[len(_EXIF_HEADER):] if exif.startswith(_EXIF_HEADER) else exif))
    packer = zlib.compressobj(6)
    idat = bytearray()
    previous = np.zeros(width * bpp, dtype=np.uint8)
    step = max(1, _PNG_ROWS_BYTES // max(1, width * bpp))   # bounded memory for the filter
    for top in range(0, height, step):
        rows = np.frombuffer(samples[top:top + step].tobytes(), dtype=np.uint8).reshape(-1, width * bpp)
        filtered = _png_filter(rows, previous, bpp)
        previous = rows[-1]
        idat += packer.compress(filtered.tobytes())
        while len(idat) >= 1 << 20:
            fh.write(_png_chunk(b"IDAT", bytes(idat[:1 << 20])))
            del idat[:1 << 20]
    idat += packer.flush()
    fh.write(_png_chunk(b"IDAT", bytes(idat)))
    fh.write(_png_chunk(b"IEND", b""))


def _png_filter(rows: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    """PNG-filter rows (uint8, n x stride), per row choosing the filter with the smallest
    sum of absolute values (libpng's heuristic). Returns n x (1 + stride) bytes."""
    x = rows.astype(np.int16)
    up = np.vstack([previous[None].astype(np.int16), x[:-1]])
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    upleft = np.zeros_like(x)
    upleft[:, bpp:] = up[:, :-bpp]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    candidates = np.stack([x, x - left, x - up, x - ((left + up) >> 1), x - paeth]) & 0xFF
    signed = np.where(candidates > 127, 256 - candidates, candidates)
    choice = signed.sum(axis=2).argmin(axis=0)
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = choice
    out[:, 1:] = candidates[choice, np.arange(rows.shape[0])]
    return out
