"""Pure-numpy editing of semantic-segmentation masks: brush and eraser strokes, flood
fill, polygons rasterised into the mask, and the store changes that an edit makes.

Masks are stored as today (:mod:`vision_studio.core.io.masks`): each class present in an
image is an annotation holding a COCO RLE mask (no polygons). An edit works on the image's
*label map* (:func:`label_map`: ``H x W`` int64, the category id of each pixel, 0 where
no mask covers it) and :func:`plan_edit` turns the changed pixels back into annotation
updates, additions and deletions, so an undo can restore every annotation as it was.

Coordinates: image pixels, COCO convention (origin at the top-left corner of the
top-left pixel, x right, y down); pixel ``(row r, column c)`` has its centre at
``(c + 0.5, r + 0.5)`` and is inside a brush disc when its centre is.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from vision_studio.core.types import Annotation

LIMITS = ("everywhere", "inside", "outside")
"""Where a stroke may paint: every pixel, only pixels that already have a label (of any
category: "paint only inside existing labels"), or only unlabelled pixels ("outside")."""
ERASE = 0
"""The category id that means "no label" (the eraser paints it)."""


def decode(rle: Mapping[str, Any]) -> np.ndarray:
    """The ``H x W`` bool mask of a COCO RLE (compressed ``counts`` str or bytes)."""
    from pycocotools import mask as mask_utils

    r = dict(rle)
    if isinstance(r.get("counts"), str):
        r["counts"] = r["counts"].encode("ascii")
    return mask_utils.decode(r).astype(bool)


def is_mask(ann: Annotation) -> bool:
    """Whether ``ann`` is a mask annotation (an RLE and no polygons)."""
    return ann.rle is not None and not ann.polygons


def label_map(anns: Sequence[Annotation], height: int, width: int) -> np.ndarray:
    """The category id of every pixel (0: none) from the mask annotations of ``anns``
    (others are ignored; where masks overlap, the later annotation wins).

    Returns:
        ``(height, width)`` int64 array.
    """
    labels = np.zeros((height, width), np.int64)
    for a in anns:
        if is_mask(a) and list(a.rle.get("size", [])) == [height, width]:
            labels[decode(a.rle)] = a.category_id
    return labels


def stroke_mask(height: int, width: int, points: Sequence[tuple[float, float]],
                radius: float) -> np.ndarray:
    """Pixels covered by a round brush of ``radius`` pixels dragged through ``points``.

    Args:
        height, width: Image size in pixels.
        points: ``(x, y)`` positions of the brush centre, in order (one point: a dab).
        radius: Brush radius in pixels (> 0); a pixel is covered when its centre lies
            within ``radius`` of a segment of the stroke.

    Returns:
        ``(height, width)`` bool array.
    """
    out = np.zeros((height, width), bool)
    if not points:
        return out
    pts = [(float(x), float(y)) for x, y in points]
    segments = list(zip(pts, pts[1:])) or [(pts[0], pts[0])]
    r = max(float(radius), 0.5)
    for (x0, y0), (x1, y1) in segments:
        c0 = max(int(np.floor(min(x0, x1) - r)), 0)
        c1 = min(int(np.ceil(max(x0, x1) + r)) + 1, width)
        r0 = max(int(np.floor(min(y0, y1) - r)), 0)
        r1 = min(int(np.ceil(max(y0, y1) + r)) + 1, height)
        if c0 >= c1 or r0 >= r1:
            continue
        cy, cx = np.mgrid[r0:r1, c0:c1].astype(np.float64) + 0.5
        dx, dy = x1 - x0, y1 - y0
        den = dx * dx + dy * dy
        t = np.zeros_like(cx) if den == 0 else np.clip(((cx - x0) * dx + (cy - y0) * dy) / den, 0, 1)
        near = (cx - (x0 + t * dx)) ** 2 + (cy - (y0 + t * dy)) ** 2 <= r * r
        out[r0:r1, c0:c1] |= near
    return out


def flood_mask(labels: np.ndarray, x: float, y: float) -> np.ndarray:
    """The 4-connected region of pixels with the same label as the pixel under
    ``(x, y)`` (what a fill paints); all False when the point is outside the image."""
    from scipy import ndimage

    row, col = int(np.floor(y)), int(np.floor(x))
    if not (0 <= row < labels.shape[0] and 0 <= col < labels.shape[1]):
        return np.zeros(labels.shape, bool)
    regions, _ = ndimage.label(labels == labels[row, col])  # 4-connectivity (cross)
    return regions == regions[row, col]


def polygons_mask(polygons: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """Pixels inside the flat COCO polygons (rasterised by pycocotools, as COCO areas are)."""
    from pycocotools import mask as mask_utils

    polys = [list(map(float, p)) for p in polygons if len(p) >= 6]
    if not polys:
        return np.zeros((height, width), bool)
    rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    return mask_utils.decode(rle).astype(bool)


def paint(labels: np.ndarray, region: np.ndarray, category_id: int,
          limit: str = "everywhere") -> np.ndarray:
    """A copy of ``labels`` with the ``region`` pixels set to ``category_id``
    (:data:`ERASE` = unlabel them), limited as :data:`LIMITS` says.

    Raises:
        ValueError: an unknown ``limit``.
    """
    if limit not in LIMITS:
        raise ValueError(f"limit must be one of {LIMITS}, got {limit!r}")
    where = region.copy()
    if limit == "inside":
        where &= labels != ERASE
    elif limit == "outside":
        where &= labels == ERASE
    out = labels.copy()
    out[where] = category_id
    return out


@dataclass
class MaskEdit:
    """The store changes of one mask edit on one image.

    Attributes:
        updated: ``(old, new)`` pairs of mask annotations whose pixels changed (same id).
        added: New mask annotations (id 0) for categories that had no mask on the image.
        deleted: Mask annotations left without a pixel.
    """

    updated: list[tuple[Annotation, Annotation]] = field(default_factory=list)
    added: list[Annotation] = field(default_factory=list)
    deleted: list[Annotation] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing changes."""
        return not (self.updated or self.added or self.deleted)


def _with_mask(ann: Annotation, mask: np.ndarray) -> Annotation:
    from vision_studio.core.io.masks import mask_annotation

    fresh = mask_annotation(mask, ann.category_id, ann.image_id)
    return replace(ann, rle=fresh.rle, bbox=fresh.bbox, area=fresh.area)


def plan_edit(anns: Sequence[Annotation], old_labels: np.ndarray, new_labels: np.ndarray,
              image_id: int) -> MaskEdit:
    """The annotation changes that turn the image's masks from ``old_labels`` into
    ``new_labels`` (both from :func:`label_map` / :func:`paint`).

    Only changed pixels move: each mask annotation loses the changed pixels that are no
    longer of its category; the pixels a category gains go to its first mask annotation
    on the image (a new one when it has none). Unchanged pixels of overlapping masks stay
    as they were.

    Args:
        anns: The image's annotations (non-mask ones are ignored).
        old_labels, new_labels: ``H x W`` label maps.
        image_id: The image (for new annotations).
    """
    from vision_studio.core.io.masks import mask_annotation

    h, w = old_labels.shape
    masks = [a for a in anns if is_mask(a) and list(a.rle.get("size", [])) == [h, w]]
    changed = old_labels != new_labels
    edit = MaskEdit()
    if not changed.any():
        return edit
    first: dict[int, Annotation] = {}
    for a in masks:
        first.setdefault(a.category_id, a)
    for a in masks:
        old = decode(a.rle)
        new = old & ~(changed & (new_labels != a.category_id))
        if first[a.category_id] is a:
            new |= changed & (new_labels == a.category_id)
        if not new.any():
            edit.deleted.append(a)
        elif not np.array_equal(new, old):
            edit.updated.append((a, _with_mask(a, new)))
    gained = {int(c) for c in np.unique(new_labels[changed])} - {ERASE} - set(first)
    for cid in sorted(gained):
        edit.added.append(mask_annotation(changed & (new_labels == cid), cid, image_id))
    return edit
