"""Slide-sized tiled TIFFs without decoding them whole: their size from the header
(:func:`tiled_tiff_size`, used by :func:`vision_studio.core.images.image_size` where
Pillow refuses to open an image that large) and their verification (used by
:func:`vision_studio.core.images.verify_image` above the decoding pixel limit)."""
from __future__ import annotations

from pathlib import Path

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8")
"""File suffixes of TIFF and BigTIFF files."""


def tiled_tiff_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` of a tiled TIFF's full-resolution image from its first page's
    header (``tifffile``; no pixel is decoded), or ``None`` when ``path`` is not a
    readable tiled TIFF."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if not page.is_tiled:
                return None
            return int(page.imagewidth), int(page.imagelength)
    except (OSError, ValueError, IndexError, KeyError, tifffile.TiffFileError):
        return None


def verify_large_tiff(path: Path, limit: int) -> str | None | bool:
    """Verify a tiled TIFF above the decoding limit without decoding it whole.

    Every tile of every page must lie inside the file (a truncated copy fails), and the
    smallest pyramid level must decode (``tifffile``).

    Args:
        path: The file.
        limit: The decoding limit in pixels (:func:`vision_studio.core.images.max_pixels`).

    Returns:
        ``None`` when it checks out, what is wrong in words, or ``False`` when the file
        is not a tiled TIFF above ``limit`` (the regular full-decode check applies).
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if not page.is_tiled or page.imagewidth * page.imagelength <= limit:
                return False
            size = path.stat().st_size
            series = tif.series[0]
            for level in series.levels:
                for p in level.pages:
                    ends = [o + n for o, n in zip(p.dataoffsets, p.databytecounts)]
                    if any(n == 0 for n in p.databytecounts) or max(ends, default=0) > size:
                        return "truncated or incomplete image file (tiles missing)"
            smallest = series.levels[-1]
            if smallest.shape[0] * smallest.shape[1] > limit:
                return f"no pyramid level below the decoding limit of {limit / 1e6:.0f} megapixels"
            smallest.asarray()
    except (OSError, ValueError, IndexError, KeyError, tifffile.TiffFileError) as exc:
        return f"corrupt image: not an image this program can open ({exc})"
    return None
