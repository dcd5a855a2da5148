"""Overlapping tiles of a large image, and annotations clipped to a tile.

The tile grid is ``sahi.slicing.get_slice_bboxes`` (the SAHI library's own slicing):
tiles of ``tile x tile`` pixels stepping by ``tile - int(overlap * tile)``, the last row
and column shifted back inside the image so every tile is full-sized when the image is
at least one tile large. Coordinates are pixels of the full-resolution image, tiles as
``xyxy`` ``(x0, y0, x1, y1)`` with ``x1``/``y1`` exclusive.

Clipping rule (:func:`clip_to_tile`): a box is clipped to the tile; it is kept when the
clipped part keeps at least ``min_visible`` (default 0.25) of the box's area *and* both
clipped sides are at least ``min_side`` (default 2) pixels; otherwise the remnant is
dropped (a sliver of an object at a tile's edge would teach the detector to fire on
fragments). Overlap makes every object smaller than ``overlap * tile`` appear whole in
at least one tile.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

DEFAULT_OVERLAP = 0.2
DEFAULT_MIN_VISIBLE = 0.25
DEFAULT_MIN_SIDE = 2.0


@dataclass(frozen=True)
class Tile:
    """One tile: ``x0, y0`` its top-left corner, ``x1, y1`` exclusive, in pixels."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def tile_grid(height: int, width: int, tile: int, overlap: float = DEFAULT_OVERLAP) -> list[Tile]:
    """The tiles covering an image.

    Args:
        height, width: Image size in pixels (> 0).
        tile: Tile side in pixels (> 0), usually the model's input size.
        overlap: Fraction of ``tile`` shared by neighbouring tiles, in ``[0, 1)``.

    Returns:
        Tiles row by row; one tile ``(0, 0, width, height)``-bounded when the image is
        smaller than ``tile``.

    Raises:
        ValueError: a non-positive size or tile, or ``overlap`` outside ``[0, 1)``.
    """
    from sahi.slicing import get_slice_bboxes

    if height <= 0 or width <= 0 or tile <= 0:
        raise ValueError(f"image {width}x{height} and tile {tile} must be positive")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap {overlap} must be in [0, 1)")
    boxes = get_slice_bboxes(image_height=int(height), image_width=int(width), slice_height=int(tile),
                             slice_width=int(tile), auto_slice_resolution=False,
                             overlap_height_ratio=float(overlap), overlap_width_ratio=float(overlap))
    return [Tile(*(int(v) for v in b)) for b in boxes]


def needs_tiling(height: int, width: int, tile: int, factor: float = 2.0) -> bool:
    """The automatic rule: tile an image whose longer side exceeds ``factor * tile``
    (resizing it whole to the model input would shrink objects more than ``factor``×)."""
    return max(height, width) > factor * tile


def clip_to_tile(boxes_xywh: np.ndarray, tile: Tile, *, min_visible: float = DEFAULT_MIN_VISIBLE,
                 min_side: float = DEFAULT_MIN_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """Clip COCO boxes to a tile and express them in the tile's coordinates.

    Args:
        boxes_xywh: [N, 4] float COCO ``[x, y, w, h]`` boxes in full-image pixels.
        tile: The tile.
        min_visible: Smallest kept fraction of a box's area (0 keeps every overlap).
        min_side: Smallest kept side of the clipped box in pixels.

    Returns:
        ``(boxes, keep)``: [K, 4] float32 ``[x, y, w, h]`` in tile pixels of the kept
        boxes, and [K] int64 indices into ``boxes_xywh``.
    """
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    x0 = np.clip(b[:, 0], tile.x0, tile.x1)
    y0 = np.clip(b[:, 1], tile.y0, tile.y1)
    x1 = np.clip(b[:, 0] + b[:, 2], tile.x0, tile.x1)
    y1 = np.clip(b[:, 1] + b[:, 3], tile.y0, tile.y1)
    w, h = x1 - x0, y1 - y0
    area = b[:, 2] * b[:, 3]
    visible = np.divide(w * h, area, out=np.zeros_like(area), where=area > 0)
    keep = np.flatnonzero((w >= min_side) & (h >= min_side) & (visible >= min_visible))
    out = np.stack([x0 - tile.x0, y0 - tile.y0, w, h], axis=1)[keep]
    return out.astype(np.float32), keep.astype(np.int64)


def clip_polygons_to_tile(polygons: Sequence[Sequence[float]], tile: Tile) -> list[list[float]]:
    """Polygons (COCO flat ``[x0, y0, x1, y1, ...]``, full-image pixels) shifted into a
    tile's coordinates with their vertices clamped into it
    (:func:`vision_studio.core.geometry.clip_polygons`); pieces left with no area are
    dropped. Clamping keeps the part inside the tile exact for convex outlines and
    moves outside vertices onto the tile's edge."""
    from vision_studio.core.geometry import clip_polygons

    shifted = []
    for poly in polygons:
        p = np.asarray(poly, dtype=np.float64).reshape(-1, 2) - (tile.x0, tile.y0)
        shifted.append(p.reshape(-1).tolist())
    return [list(p) for p in clip_polygons(shifted, tile.width, tile.height)]
