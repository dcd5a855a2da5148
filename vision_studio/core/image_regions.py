"""Region-by-region access to large images, tiled and pyramidal TIFF / BigTIFF included.

:func:`open_regions` gives an :class:`ImageRegions` for any image the project can hold:

* tiled TIFF / BigTIFF (one level or a pyramid in SubIFDs or in following pages, as
  ``tifffile`` writes and reads them): tiles are read through ``tifffile``'s Zarr store
  (``TiffFile.series[0].aszarr()`` opened with ``zarr``), so a region costs the tiles it
  touches and a whole-image view comes from the smallest pyramid level that is large
  enough — the full image is never decoded. Memory is bounded by the requested region
  (plus ``tifffile``'s per-tile decode buffers), not by the image size.
* any other file: decoded in full once by :func:`vision_studio.core.images.read_image`
  (which honours the decoding pixel limit) and sliced in memory.

Coordinates are full-resolution pixels ``(x0, y0, x1, y1)``, ``x1``/``y1`` exclusive.
Samples deeper than 8 bits are mapped to 8-bit RGB with
:func:`vision_studio.core.images.to_display` using one window computed from the smallest
pyramid level, so tiles of one image share the same mapping.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vision_studio.core.tiff_check import TIFF_SUFFIXES  # noqa: E402 - re-exported


class ImageRegions(Protocol):
    """Read-only access to an image by regions (full-resolution pixel coordinates)."""

    height: int
    width: int

    def region(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """``(y1-y0) x (x1-x0) x 3`` uint8 RGB pixels of the region (clamped to the image)."""

    def overview(self, max_side: int) -> np.ndarray:
        """The whole image reduced to at most ``max_side`` on its longer side (uint8 RGB)."""


class ArrayRegions:
    """:class:`ImageRegions` over an image already in memory."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr
        self.height, self.width = int(arr.shape[0]), int(arr.shape[1])

    def region(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        return np.ascontiguousarray(self.arr[max(0, y0):y1, max(0, x0):x1])

    def overview(self, max_side: int) -> np.ndarray:
        scale = max_side / max(self.height, self.width)
        if scale >= 1.0:
            return self.arr
        import cv2

        size = (max(1, round(self.width * scale)), max(1, round(self.height * scale)))
        return np.ascontiguousarray(cv2.resize(self.arr, size, interpolation=cv2.INTER_AREA))

    def close(self) -> None:
        """Nothing to release (the same interface as :class:`TiffRegions`)."""


def _rgb8(arr: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    from vision_studio.core.images import to_display

    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.dtype != np.uint8:
        arr = to_display(arr, window)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    elif arr.shape[2] == 2:
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(arr)


class TiffRegions:
    """:class:`ImageRegions` over a tiled (optionally pyramidal) TIFF, read tile by tile.

    Attributes:
        height, width: Full-resolution size in pixels.
        levels: ``[(height, width), ...]`` of the pyramid, full resolution first.

    Raises:
        ImageDecodeError: the file is not a readable TIFF, or its layout (planar
            configuration, axes) is not one of an image's (``YX``, ``YXS``, ``SYX``).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import tifffile
        import zarr

        from vision_studio.core.images import ImageDecodeError

        self.path = Path(path)
        try:
            self._tif = tifffile.TiffFile(self.path)
            series = self._tif.series[0]
            self._axes = series.axes
            if self._axes not in ("YX", "YXS", "SYX"):
                raise ValueError(f"image axes {self._axes!r} are not YX, YXS or SYX")
            root = zarr.open(series.aszarr(), mode="r")
        except (OSError, ValueError, KeyError, IndexError, tifffile.TiffFileError) as exc:
            raise ImageDecodeError(self.path, f"not a TIFF this program can open ({exc})") from exc
        self._arrays = [root[str(i)] for i in range(len(series.levels))] if hasattr(root, "keys") else [root]
        self.levels = [self._yx(a.shape) for a in self._arrays]
        self.height, self.width = self.levels[0]
        self._window: tuple[float, float] | None = None
        if series.dtype != np.uint8:
            from vision_studio.core.images import DEFAULT_PERCENTILES

            small = self._level_array(len(self._arrays) - 1)
            self._window = tuple(float(v) for v in np.percentile(small, DEFAULT_PERCENTILES))

    @property
    def window(self) -> tuple[float, float] | None:
        """The display window of deep samples (percentiles of the smallest level), or None
        for 8-bit data."""
        return self._window

    def _yx(self, shape: tuple[int, ...]) -> tuple[int, int]:
        return (int(shape[1]), int(shape[2])) if self._axes == "SYX" else (int(shape[0]), int(shape[1]))

    def _read(self, level: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        a = self._arrays[level]
        if self._axes == "SYX":
            return np.moveaxis(np.asarray(a[:, y0:y1, x0:x1]), 0, -1)
        return np.asarray(a[y0:y1, x0:x1])

    def _level_array(self, level: int) -> np.ndarray:
        h, w = self.levels[level]
        return self._read(level, 0, h, 0, w)

    def region(self, x0: int, y0: int, x1: int, y1: int, level: int = 0, raw: bool = False) -> np.ndarray:
        """Pixels of a full-resolution region, read at pyramid ``level`` (0 = full
        resolution; a higher level returns the region reduced by that level's factor).
        ``raw=True`` returns the stored samples (dtype and channels as stored) instead of
        8-bit RGB, for display windowing."""
        fy = self.levels[level][0] / self.height
        fx = self.levels[level][1] / self.width
        ys = (max(0, int(y0 * fy)), min(self.levels[level][0], int(np.ceil(y1 * fy))))
        xs = (max(0, int(x0 * fx)), min(self.levels[level][1], int(np.ceil(x1 * fx))))
        arr = self._read(level, ys[0], ys[1], xs[0], xs[1])
        return np.ascontiguousarray(arr) if raw else _rgb8(arr, self._window)

    def level_for(self, max_side: int) -> int:
        """The smallest pyramid level whose longer side is still >= ``max_side`` (0 when
        even the full resolution is smaller)."""
        best = 0
        for i, (h, w) in enumerate(self.levels):
            if max(h, w) >= max_side:
                best = i
        return best

    def overview(self, max_side: int, raw: bool = False) -> np.ndarray:
        """The whole image from the smallest pyramid level at least ``max_side`` large,
        subsampled to at most ``max_side`` (``raw=True``: stored samples)."""
        level = self.level_for(max_side)
        arr = self._level_array(level)
        arr = arr if raw else _rgb8(arr, self._window)
        step = max(1, int(np.ceil(max(arr.shape[:2]) / max_side)))
        return np.ascontiguousarray(arr[::step, ::step])

    def close(self) -> None:
        self._tif.close()


def is_tiled_tiff(path: str | os.PathLike) -> bool:
    """True for a TIFF whose first page is stored in tiles (read region by region)."""
    if Path(path).suffix.lower() not in TIFF_SUFFIXES:
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return bool(tif.pages[0].is_tiled)
    except Exception:  # not a TIFF after all: the regular decoder reports it
        return False


def open_regions(image: str | os.PathLike | np.ndarray) -> Any:
    """:class:`TiffRegions` for a tiled TIFF, else :class:`ArrayRegions` of the decoded
    image (:func:`vision_studio.core.images.read_image`).

    Raises:
        ImageDecodeError: the image cannot be read.
    """
    if isinstance(image, np.ndarray):
        return ArrayRegions(image)
    if is_tiled_tiff(image):
        return TiffRegions(image)
    from vision_studio.core.images import read_image

    return ArrayRegions(read_image(image))


def tiff_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(width, height)`` of a TIFF's full-resolution image from its header, or None when
    it is not a TIFF ``tifffile`` reads (for images above Pillow's limits)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return int(page.imagewidth), int(page.imagelength)
    except Exception:
        return None


_SOURCES_LOCK = __import__("threading").Lock()
_SOURCES: Any = None


def read_window(path: str | os.PathLike, window: tuple[int, int, int, int]) -> np.ndarray:
    """The pixels of ``window`` (``x0, y0, x1, y1``, full-resolution pixels) of an image
    file, for tiled training: the two most recently used images stay open (a decoded
    regular image, or a TIFF's tile reader), so the tiles of one image cost one decode
    while they are read in a row.

    Raises:
        ImageDecodeError: the image cannot be read.
    """
    global _SOURCES
    from cachetools import LRUCache

    key = os.path.abspath(path)
    with _SOURCES_LOCK:
        if _SOURCES is None:
            _SOURCES = LRUCache(maxsize=2)
        src = _SOURCES.get(key)
    if src is None:
        src = open_regions(path)
        with _SOURCES_LOCK:
            _SOURCES[key] = src
    return src.region(*window)
