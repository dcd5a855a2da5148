"""Decoded-image LRU cache with background pre-decoding for the annotation canvas.

Next/Previous must feel instant, so the canvas asks the cache to decode the neighbours
of the shown image in a :class:`QThreadPool` while the user works on the current one.
Decoding (Pillow, through :func:`vision_studio.core.images.read_image_raw`) releases the
GIL for most of its work, so it overlaps the GUI thread.

What is cached per file is a :class:`DecodedImage`: the raw samples (kept for 16-bit
windowing) and the default 8-bit display array. Large images (longer side above
:data:`LARGE_SIDE`, and every tiled TIFF) are decoded reduced to about
:data:`OVERVIEW_SIDE` pixels — a JPEG through its DCT-scaled decode, a pyramidal TIFF
from the smallest pyramid level large enough — and :attr:`DecodedImage.scale` says by how
much; the canvas draws that overview scaled up to full-resolution scene coordinates and
adds full-resolution tiles of the visible region when the user zooms in
(:mod:`vision_studio.gui.widgets.detail_tiles`). The GUI thread never converts a full
24-megapixel image. The cache holds at most
``max_bytes`` of arrays, least recently used first out. Only plain numpy arrays cross
the thread boundary; the ``QImage``/``QPixmap`` is made on the GUI thread.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cachetools import LRUCache
from PySide6.QtCore import QRunnable, QThreadPool

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.images import read_image_raw, to_display

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodedImage:
    """One decoded image.

    Attributes:
        path: The file.
        raw: Samples as stored (``H x W`` or ``H x W x C``; uint8, uint16, int32,
            float32 or bool), EXIF orientation applied.
        display: ``H x W`` (grey) or ``H x W x 3`` (RGB) uint8 array for display with
            the default window.
        error: Why the file could not be decoded (then ``raw``/``display`` are a small
            grey placeholder), or ``""``.
        scale: Full-resolution pixels per pixel of ``raw``/``display`` (1.0 unless the
            image was decoded reduced).
        full_size: ``(width, height)`` of the full-resolution image when reduced.
    """

    path: str
    raw: np.ndarray
    display: np.ndarray
    error: str = ""
    scale: float = 1.0
    full_size: tuple[int, int] | None = None

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays, in bytes."""
        extra = 0 if self.display is self.raw else self.display.nbytes
        return int(self.raw.nbytes + extra)

    @property
    def deep(self) -> bool:
        """True for data deeper than 8 bits (16-bit, int32, float), which is windowed."""
        return self.raw.dtype not in (np.uint8, np.bool_)


def display_array(raw: np.ndarray, path: str | Path = "", window: tuple[float, float] | None = None) -> np.ndarray:
    """Map raw samples to an 8-bit grey ``H x W`` or RGB ``H x W x 3`` array.

    Deep data goes through :func:`vision_studio.core.images.to_display` (``window`` or
    the default percentile window); palette images are expanded through their palette
    (reading the file's palette); alpha is dropped; two-channel grey+alpha keeps grey.
    """
    arr = raw
    if arr.ndim == 2 and arr.dtype == np.uint8 and path:
        from PIL import Image

        with Image.open(path) as img:  # header only: is it a palette image?
            if img.mode in ("P", "PA"):
                pal = np.asarray(img.getpalette() or list(range(256)) * 3, np.uint8)
                pal = np.resize(pal, 768).reshape(256, 3)
                return pal[arr]
    if arr.dtype != np.uint8 or window is not None:
        arr = to_display(arr, window)
    if arr.ndim == 3:
        if arr.shape[2] == 2:
            arr = arr[:, :, 0]
        elif arr.shape[2] >= 4:
            arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


LARGE_SIDE = 3000
"""Images whose longer side exceeds this (in pixels) are decoded reduced for display."""
OVERVIEW_SIDE = 2048
"""Longer side, in pixels, asked of the reduced decode of a large image."""


def _decode_reduced(path: str | Path) -> DecodedImage | None:
    """The reduced decode of a large image, or None for an ordinary one."""
    from vision_studio.core.images import image_size, read_image
    from vision_studio.core.image_regions import TiffRegions, is_tiled_tiff

    if is_tiled_tiff(path):
        src = TiffRegions(path)
        try:
            raw = src.overview(OVERVIEW_SIDE, raw=True)
            return DecodedImage(str(path), raw, display_array(raw), scale=src.width / raw.shape[1],
                                full_size=(src.width, src.height))
        finally:
            src.close()
    w, h = image_size(path)
    if max(w, h) <= LARGE_SIDE:
        return None
    arr = read_image(path, max_side=OVERVIEW_SIDE)
    return DecodedImage(str(path), arr, arr, scale=w / arr.shape[1], full_size=(w, h))


def decode(path: str | Path) -> DecodedImage:
    """Decode a file (reduced when large); a decode error gives a grey placeholder with
    :attr:`error` set."""
    try:
        reduced = _decode_reduced(path)
        if reduced is not None:
            return reduced
        raw = read_image_raw(path)
        return DecodedImage(str(path), raw, display_array(raw, path))
    except (VisionStudioError, OSError, ValueError) as exc:
        log.warning("cannot decode %s: %s", path, exc)
        grey = np.full((64, 64), 96, np.uint8)
        return DecodedImage(str(path), grey, grey, error=str(exc))


def adjust(display: np.ndarray, brightness: float = 0.0, contrast: float = 1.0) -> np.ndarray:
    """Brightness/contrast of an 8-bit display array through a 256-entry lookup table.

    ``out = clip((v - 128) * contrast + 128 + 255 * brightness, 0, 255)``.

    Args:
        display: uint8 array.
        brightness: Offset as a fraction of full scale, in ``[-1, 1]``.
        contrast: Gain around mid-grey, > 0 (1 = unchanged).
    """
    if brightness == 0.0 and contrast == 1.0:
        return display
    v = np.arange(256, dtype=np.float32)
    lut = np.clip(np.rint((v - 128.0) * contrast + 128.0 + 255.0 * brightness), 0, 255).astype(np.uint8)
    return lut[display]


class _DecodeTask(QRunnable):
    def __init__(self, cache: ImageCache, path: str, event: threading.Event) -> None:
        super().__init__()
        self._cache, self._path, self._event = cache, path, event

    def run(self) -> None:  # noqa: D102 - worker thread
        try:
            self._cache._put(decode(self._path))
        finally:
            self._cache._done(self._path, self._event)


class ImageCache:
    """LRU cache of decoded images, filled on demand or in the background.

    Args:
        max_bytes: Memory budget for cached arrays (default 512 MiB). The image being
            shown is never evicted by a prefetch because it is the most recent; an image
            larger than the whole budget is returned but not kept.
        pool: Thread pool for background decoding (default a private pool of 2 threads).

    Thread safety: :meth:`get`, :meth:`prefetch` and :meth:`clear` are for the GUI
    thread; the worker threads only insert results under a lock.
    """

    def __init__(self, max_bytes: int = 512 * 2**20, pool: QThreadPool | None = None) -> None:
        self.max_bytes = int(max_bytes)
        self._items: LRUCache[str, DecodedImage] = LRUCache(
            self.max_bytes, getsizeof=lambda item: item.nbytes)
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Event] = {}
        if pool is None:
            pool = QThreadPool()
            pool.setMaxThreadCount(2)
        self._pool = pool
        self.hits = 0
        self.misses = 0

    def __contains__(self, path: object) -> bool:
        with self._lock:
            return str(path) in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, path: str | Path) -> DecodedImage:
        """The decoded image: from the cache, waiting for a pending background decode, or
        decoded now on the calling thread."""
        key = str(path)
        with self._lock:
            item = self._items.get(key)  # a hit makes it the most recent
            if item is not None:
                self.hits += 1
                return item
            event = self._pending.get(key)
        if event is not None:
            event.wait()
            with self._lock:
                item = self._items.get(key)
            if item is not None:
                self.hits += 1
                return item
        self.misses += 1
        item = decode(key)
        self._put(item)
        return item

    def prefetch(self, paths: list[str | Path]) -> None:
        """Start decoding ``paths`` in the background (those not cached nor pending)."""
        for p in paths:
            key = str(p)
            with self._lock:
                if key in self._items or key in self._pending:
                    continue
                event = threading.Event()
                self._pending[key] = event
            self._pool.start(_DecodeTask(self, key, event))

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until background decodes finish (for tests and benchmarks)."""
        return self._pool.waitForDone(timeout_ms)

    def clear(self) -> None:
        """Forget every cached image."""
        with self._lock:
            self._items.clear()

    def _put(self, item: DecodedImage) -> None:
        with self._lock:
            if item.nbytes <= self.max_bytes:  # else LRUCache refuses it: not kept
                self._items[item.path] = item  # least recent ones go beyond max_bytes

    def _done(self, key: str, event: threading.Event) -> None:
        with self._lock:
            self._pending.pop(key, None)
        event.set()
