"""Image decoding: EXIF orientation, grayscale / palette / RGBA / CMYK / 16-bit images,
and one clear error type for files that cannot be read.

Conventions:

* Every function applies the EXIF ``Orientation`` tag (0x0112) first, so pixel
  coordinates and ``(width, height)`` are those of the image as displayed, which is what
  COCO annotations refer to (https://cocodataset.org/#format-data; the tag's meaning is
  from the EXIF 2.32 spec, CIPA DC-008, section 4.6.4).
* Arrays are row-major ``H x W`` (grayscale) or ``H x W x C`` (channels last), origin at
  the top-left pixel.
* Only regular files are opened (a named pipe called ``x.jpg`` is refused, not waited
  on), and no more than :func:`max_pixels` pixels are decoded (``read_image(...,
  max_side=)`` decodes JPEGs reduced for thumbnails).
* :func:`verify_image` decodes a whole file (header checks miss truncated files),
  cached by :func:`file_check_key`.
* Decoding is done by Pillow. Its warnings (truncated data read, corrupt EXIF,
  decompression-bomb size warnings) are logged with the file name instead of being
  printed; its errors become :class:`ImageDecodeError`.
"""
from __future__ import annotations

import errno
import logging
import math
import os
import stat
import threading
import warnings
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from vision_studio.core.errors import VisionStudioError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm",
    ".pgm", ".pbm", ".pnm",
})
"""File extensions (lower case) treated as images when scanning folders."""

ORIENTATION_TAG = 0x0112

# EXIF orientation value -> Pillow transpose that makes the image upright
# (same table as PIL.ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = frozenset({5, 6, 7, 8})

DEFAULT_MAX_PIXELS = 89_478_485
"""Default decoding limit in pixels: Pillow's own ``Image.MAX_IMAGE_PIXELS`` (its
decompression-bomb warning threshold, ``1024 * 1024 * 1024 // 4 // 3``), about 256 MiB of
8-bit RGB. A 13000x13000 PNG (169 megapixels, 1.8 GB to decode in RGBA) is refused with
a message instead of decoded."""


def _env_limit() -> int:
    try:
        value = int(os.environ.get("VISION_STUDIO_MAX_PIXELS", "") or DEFAULT_MAX_PIXELS)
    except ValueError:
        value = DEFAULT_MAX_PIXELS
    return value if value > 0 else DEFAULT_MAX_PIXELS


_MAX_PIXELS = [_env_limit()]

DEFAULT_PERCENTILES = (0.5, 99.5)
"""Default display window of :func:`to_display` for non-8-bit data, in percentiles."""


class ImageDecodeError(VisionStudioError):
    """An image file is missing, unreadable, truncated or not an image.

    Attributes:
        path: The file concerned.
        reason: What is wrong, in words (without the path).
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the file name has one of :data:`IMAGE_EXTENSIONS` (case-insensitive);
    the content is not checked."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file.

    The file is opened non-blocking and checked with ``fstat`` on the open descriptor,
    so a named pipe, a device or a socket named ``x.jpg`` is refused at once instead of
    blocking the caller (no race between the check and the open).

    Raises:
        ImageDecodeError: not a regular file.
        OSError: the file cannot be opened (mapped by :func:`_opened`).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(st.st_mode):
            raise ImageDecodeError(path, "not a regular file (a named pipe, device or socket); "
                                         "not opened")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _bad_image(exc: BaseException) -> str:
    """A reason (without the path) for a decoder exception, in the program's words."""
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower():
        return f"truncated or incomplete image file ({text})"
    return f"corrupt image: not an image this program can open ({text})"


@contextmanager
def _opened(path: str | os.PathLike) -> Iterator[Image.Image]:
    """Open ``path`` with Pillow (regular files only, see :func:`_open_regular`),
    turning every failure into :class:`ImageDecodeError` and Pillow's warnings into log
    records naming the file."""
    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _open_regular(path) as f, Image.open(f) as img:
                yield img
        except ImageDecodeError:
            raise
        except FileNotFoundError:
            raise ImageDecodeError(path, "file not found") from None
        except IsADirectoryError:
            raise ImageDecodeError(path, "is a folder, not an image file") from None
        except PermissionError:
            raise ImageDecodeError(path, "permission denied") from None
        except UnidentifiedImageError:
            raise ImageDecodeError(path, "not an image this program can open "
                                         "(unknown format or corrupt header)") from None
        except Image.DecompressionBombError:
            raise ImageDecodeError(path, "image too large to decode safely") from None
        except MemoryError:
            raise ImageDecodeError(path, "not enough memory to decode the image") from None
        except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, struct.error...
            if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
                raise ImageDecodeError(path, "file name too long") from None
            raise ImageDecodeError(path, _bad_image(exc)) from None
        finally:
            for w in caught:
                log.warning("%s: %s", path, w.message)


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8) from the header, 1 when absent or invalid.

    For PNG only the ``eXIf`` chunk before the image data is read (where the PNG
    specification places it), so that sizes come from the header alone.
    """
    try:
        if img.format == "PNG":
            raw = img.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
        else:
            exif = img.getexif()
        value = int(exif.get(ORIENTATION_TAG, 1) or 1)
    except Exception as exc:  # corrupt EXIF must not make the image unreadable
        log.warning("%s: ignoring unreadable EXIF data (%s)", getattr(img, "filename", "?"), exc)
        return 1
    return value if value in _TRANSPOSE else 1


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Size of an image as displayed, from the file header (no pixel decoding).

    Args:
        path: The image file.

    Returns:
        ``(width, height)`` in pixels after EXIF orientation (swapped for orientations
        5-8, the 90-degree rotations), as COCO ``width``/``height`` expect.

    A tiled TIFF too large for Pillow to open (a slide of tens of thousands of pixels a
    side) is measured from its TIFF header (:func:`vision_studio.core.tiff_check.tiled_tiff_size`).

    Raises:
        ImageDecodeError: missing file, not an image, corrupt header.
    """
    try:
        with _opened(path) as img:
            w, h = img.size
            if _orientation(img) in _SWAPS_AXES:
                w, h = h, w
            return int(w), int(h)
    except ImageDecodeError:
        from vision_studio.core.tiff_check import TIFF_SUFFIXES, tiled_tiff_size

        size = tiled_tiff_size(Path(path)) if Path(path).suffix.lower() in TIFF_SUFFIXES else None
        if size is None:
            raise
        return size


def _limit() -> int:
    return _MAX_PIXELS[0]


def max_pixels() -> int:
    """The largest image (width x height, in pixels) decoded in full (see
    :func:`set_max_pixels`)."""
    return _limit()


def set_max_pixels(pixels: int | None) -> None:
    """Set the decoding limit of :func:`read_image`, :func:`read_image_raw` and
    :func:`verify_image` (``None``: back to :data:`DEFAULT_MAX_PIXELS`, or the
    ``VISION_STUDIO_MAX_PIXELS`` environment variable when set).

    Pillow's own decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, which refuses
    images above twice its value when they are opened) is raised with it when needed.
    """
    _MAX_PIXELS[0] = int(pixels) if pixels else _env_limit()
    if Image.MAX_IMAGE_PIXELS is not None and 2 * Image.MAX_IMAGE_PIXELS < _MAX_PIXELS[0]:
        Image.MAX_IMAGE_PIXELS = _MAX_PIXELS[0]


def _too_large(path: Path, w: int, h: int, limit: int) -> ImageDecodeError:
    return ImageDecodeError(path, f"image is {w}x{h} ({w * h / 1e6:.0f} megapixels), above the "
                                  f"decoding limit of {limit / 1e6:.0f} megapixels (set the "
                                  "VISION_STUDIO_MAX_PIXELS environment variable to raise it)")


def _load_upright(img: Image.Image, path: Path, max_side: int | None = None) -> Image.Image:
    """Decode the pixels and apply the EXIF orientation (errors propagate to _opened).

    With ``max_side``, a JPEG is decoded reduced by its DCT scaling (``Image.draft``,
    1/2 to 1/8, the result at least ``max_side`` on its longer side) and any image is
    then reduced (``Image.reduce``, box filter) to at most ``max_side``.

    Raises:
        ImageDecodeError: the pixels to decode exceed :func:`max_pixels`.
    """
    orientation = _orientation(img)
    w, h = img.size
    if max_side and max(w, h) > max_side and img.format == "JPEG":
        scale = max(w, h) / max_side
        img.draft(img.mode, (max(1, math.ceil(w / scale)), max(1, math.ceil(h / scale))))
    dw, dh = img.size
    if dw * dh > _limit():
        raise _too_large(path, w, h, _limit())
    img.load()
    if max_side and max(img.size) > max_side:
        img = img.reduce(math.ceil(max(img.size) / max_side))
    if orientation != 1:
        img = img.transpose(_TRANSPOSE[orientation])
    return img


def _cmyk_to_rgb(img: Image.Image) -> Image.Image:
    """CMYK → RGB through the embedded ICC profile when there is one, else Pillow's
    plain conversion."""
    icc = img.info.get("icc_profile")
    if icc:
        try:
            import io

            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"),
                                             outputMode="RGB")
        except Exception as exc:  # broken profile: fall back
            log.debug("ICC conversion failed (%s); using plain CMYK conversion", exc)
    return img.convert("RGB")


def _raw_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("CMYK",):
        img = _cmyk_to_rgb(img)
    elif mode in ("YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
        img = img.convert("RGB" if mode != "La" else "LA")
    elif mode.startswith("I;16"):
        arr = np.array(img)
        return arr.astype(np.uint16, copy=False) if arr.dtype != np.uint16 else arr
    return np.array(img)


def read_image_raw(path: str | os.PathLike) -> np.ndarray:
    """Decode an image keeping its stored samples (bit depth and channels).

    Returns:
        An array, EXIF orientation applied:

        * ``"1"`` → ``H x W`` bool; ``"L"`` → ``H x W`` uint8;
        * ``"P"`` → ``H x W`` uint8 **palette indices** (label PNGs store class ids so);
        * ``"I;16*"`` → ``H x W`` uint16; ``"I"`` → int32; ``"F"`` → float32;
        * ``"LA"``/``"PA"`` → ``H x W x 2``; ``"RGB"`` → ``H x W x 3``;
          ``"RGBA"`` → ``H x W x 4`` (uint8);
        * ``"CMYK"`` (and YCbCr/LAB/HSV) → ``H x W x 3`` uint8 RGB (converted through
          the embedded ICC profile when present).

    Raises:
        ImageDecodeError: missing, unreadable, truncated or non-image file.
    """
    with _opened(path) as img:
        return _raw_array(_load_upright(img, Path(path)))


def read_image(path: str | os.PathLike, window: tuple[float, float] | None = None, *,
               max_side: int | None = None) -> np.ndarray:
    """Decode an image for display and training.

    Grayscale is replicated to three channels, palette images are expanded through their
    palette, alpha is dropped (as ``PIL.Image.convert("RGB")`` does), CMYK is converted
    to RGB, and data deeper than 8 bits is mapped to 8 bits with :func:`to_display`.

    Args:
        path: The image file.
        window: ``(low, high)`` display window in data units for 16-bit/float images;
            default the 0.5 and 99.5 percentiles (see :func:`to_display`).
        max_side: For thumbnails and overviews: decode at most this many pixels on the
            longer side (a JPEG through its reduced DCT decode, so a huge photo costs a
            fraction of its full size; other formats are decoded, then reduced).

    Returns:
        ``H x W x 3`` uint8 RGB array, EXIF orientation applied (at most ``max_side``
        on its longer side when given).

    Raises:
        ImageDecodeError: missing, unreadable, truncated or non-image file, not a
            regular file, or more pixels to decode than :func:`max_pixels`.
    """
    with _opened(path) as img:
        img = _load_upright(img, Path(path), max_side)
        mode = img.mode
        if mode in ("RGB",):
            arr = np.array(img)
        elif mode == "CMYK":
            arr = np.array(_cmyk_to_rgb(img))
        elif mode.startswith("I") or mode == "F":
            arr = to_display(_raw_array(img), window)
        else:  # 1, L, LA, P, PA, RGBA, YCbCr, ...
            arr = np.array(img.convert("RGB"))
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr)


def _default_window(arr: np.ndarray,
                    percentiles: tuple[float, float] | None) -> tuple[float, float]:
    """The display window: the given percentiles of the finite values, widened to the
    full range when they coincide."""
    data = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr.ravel()
    if data.size == 0:
        return 0.0, 1.0
    lo_full, hi_full = float(data.min()), float(data.max())
    if percentiles is None:
        return lo_full, hi_full
    if data.dtype.kind in "ui" and data.dtype.itemsize <= 2 and lo_full >= 0:
        counts = np.cumsum(np.bincount(data.astype(np.int64, copy=False)))
        total = counts[-1]
        lo = float(np.searchsorted(counts, percentiles[0] / 100.0 * total, side="right"))
        hi = float(np.searchsorted(counts, percentiles[1] / 100.0 * total, side="left"))
    else:
        if data.size > 4_000_000:  # a strided sample is plenty for a display window
            data = data[:: data.size // 4_000_000 + 1]
        lo, hi = (float(v) for v in np.percentile(data, percentiles))
    if hi <= lo:
        lo, hi = lo_full, hi_full
    return lo, hi


def to_display(arr: np.ndarray, window: tuple[float, float] | None = None,
               percentiles: tuple[float, float] | None = DEFAULT_PERCENTILES) -> np.ndarray:
    """Map image data to 8 bits for display (linear windowing, "window/level").

    ``out = clip((arr - low) / (high - low), 0, 1) * 255``, rounded to nearest.

    Args:
        arr: Any-shape numeric or bool array (``H x W`` or ``H x W x C``). uint8 input
            with no ``window`` is returned unchanged; bool maps to 0/255.
        window: ``(low, high)`` in data units. Default: the ``percentiles`` of the data
            (one window for all channels, so colours keep their balance).
        percentiles: Percentiles for the default window, default ``(0.5, 99.5)``;
            ``None`` uses the full range ``(min, max)``. When both percentiles are
            equal (a nearly constant image) the full range is used.

    Returns:
        uint8 array of the same shape (a constant image maps to 0).
    """
    arr = np.asarray(arr)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint8 and window is None:
        return arr
    lo, hi = (float(v) for v in window) if window is not None else _default_window(arr, percentiles)
    if hi <= lo:
        return np.zeros(arr.shape, np.uint8)
    scaled = (arr.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def file_check_key(path: str | os.PathLike) -> str:
    """``"<size in bytes>:<mtime in ns>"`` of a file: the key under which a full
    verification is cached (as ``ImageRecord.check_key``); ``""`` when it cannot be
    stat'ed."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


_VERIFIED: OrderedDict[tuple[str, str], str | None] = OrderedDict()
_VERIFIED_MAX = 200_000
_VERIFIED_LOCK = threading.Lock()


def verify_image(path: str | os.PathLike, check_key: str | None = None) -> str | None:
    """Check that an image file decodes in full (header checks miss truncated files).

    Two passes, as Pillow offers them: ``Image.verify()`` (chunk structure and CRCs of
    PNG, structure of the other formats it knows) on one opening, then a full decode
    (:func:`read_image_raw`'s path, bounded by :func:`max_pixels`) on another. Results
    are cached in memory per absolute path and :func:`file_check_key`, so a file that
    has not changed is decoded once per process; callers that keep the key (the
    project's ``ImageRecord.check_key``) can skip the call altogether.

    Args:
        path: The image file.
        check_key: The file's :func:`file_check_key` when the caller has it already.

    Returns:
        ``None`` when the whole image decodes; else what is wrong, in words, without
        the path (e.g. ``"truncated or incomplete image file (...)"``, ``"corrupt image:
        not an image this program can open (...)"``, ``"file not found"``).
    """
    key = check_key if check_key is not None else file_check_key(path)
    cache_key = (os.path.abspath(path), key)
    with _VERIFIED_LOCK:
        if key and cache_key in _VERIFIED:
            _VERIFIED.move_to_end(cache_key)
            return _VERIFIED[cache_key]
    result = _verify_uncached(Path(path))
    if key:
        with _VERIFIED_LOCK:
            _VERIFIED[cache_key] = result
            while len(_VERIFIED) > _VERIFIED_MAX:
                _VERIFIED.popitem(last=False)
    return result


def _verify_uncached(path: Path) -> str | None:
    from vision_studio.core.tiff_check import TIFF_SUFFIXES, verify_large_tiff

    if path.suffix.lower() in TIFF_SUFFIXES:
        large = verify_large_tiff(path, _limit())
        if large is not False:
            return large  # type: ignore[return-value]
    try:
        with _opened(path) as img:
            img.verify()
        with _opened(path) as img:
            _load_upright(img, path)
    except ImageDecodeError as exc:
        return exc.reason
    return None


set_max_pixels(None)
