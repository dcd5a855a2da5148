"""Binary masks to simplified COCO polygons (``cv2.findContours`` + ``cv2.approxPolyDP``).

Holes are dropped, always: only the outer boundary of each connected region is traced
(``cv2.RETR_EXTERNAL``), so a ring-shaped mask becomes its filled outline. COCO polygon
lists cannot subtract a hole from a piece, and a hole written as a separate polygon
would *add* its area, so keeping holes would need an RLE; proposals and smart polygons
are meant to be edited as polygons, hence dropped.

Coordinates: vertices are the pixel indices ``(x, y)`` of boundary pixels (column, row,
origin top-left), as ``cv2.findContours`` returns them — the centres of the outermost
object pixels, so a polygon lies half a pixel inside the mask's edge.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def mask_to_polygons(mask: np.ndarray, tolerance: float = 1.0, min_area: float = 4.0
                     ) -> list[list[float]]:
    """The outer outlines of a binary mask as flat COCO polygons.

    Args:
        mask: [H, W] mask (bool or numbers; non-zero = object).
        tolerance: ``cv2.approxPolyDP`` epsilon in pixels (Douglas–Peucker: the largest
            distance of a dropped boundary pixel from the simplified polygon); 0 keeps
            every boundary pixel's vertex.
        min_area: Pieces whose simplified polygon encloses less area than this (square
            pixels, shoelace) are left out.

    Returns:
        ``[[x1, y1, x2, y2, ...], ...]`` with at least 3 points each, largest first;
        ``[]`` for an empty mask.
    """
    import cv2

    m = np.ascontiguousarray(np.asarray(mask) != 0, dtype=np.uint8)
    if not m.any():
        return []
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out: list[tuple[float, list[float]]] = []
    for c in contours:
        approx = cv2.approxPolyDP(c, float(tolerance), True) if tolerance > 0 else c
        pts = approx.reshape(-1, 2).astype(np.float64)
        if len(pts) < 3:
            continue
        area = abs(float(cv2.contourArea(pts.astype(np.float32))))
        if area < min_area:
            continue
        out.append((area, pts.reshape(-1).tolist()))
    out.sort(key=lambda t: -t[0])
    return [p for _, p in out]


def rle_to_mask(rle: Mapping[str, Any]) -> np.ndarray:
    """A COCO RLE (compressed ``counts`` str or bytes) as a [H, W] uint8 0/1 mask."""
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    enc = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return mask_utils.decode(enc)


def polygons_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Rasterise COCO polygons to a [H, W] uint8 0/1 mask with pycocotools (the COCO
    evaluation's own rasterisation; several pieces are merged)."""
    from pycocotools import mask as mask_utils

    if not polygons:
        return np.zeros((height, width), np.uint8)
    rles = mask_utils.frPyObjects([list(map(float, p)) for p in polygons], height, width)
    return mask_utils.decode(mask_utils.merge(rles))


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two binary masks of one size (1.0 when both are empty)."""
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    union = int(np.logical_or(a, b).sum())
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum()) / union
