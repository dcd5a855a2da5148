"""Box and polygon geometry shared by importers, the canvas's undo commands, prediction
and evaluation: one place for box conversions, polygon bounding boxes, clipping and area.

Conventions (COCO, https://cocodataset.org/#format-data):
    * A bbox is ``[x, y, w, h]`` in pixels, ``(x, y)`` the top-left corner ("xywh");
      ``xyxy`` is ``[x1, y1, x2, y2]`` (torchvision's convention for model boxes).
    * A polygon is flat ``[x1, y1, x2, y2, ...]`` in pixels; an annotation may have
      several pieces.
    * The ``area`` of a mask annotation is its pixel count as ``pycocotools.mask.area``
      gives it: polygons are rasterised (``frPyObjects`` + ``merge``), an RLE is counted
      directly. This is how the COCO ground truth computes ``area`` for segmentations,
      so a drawn polygon and an imported one get the same area and land in the same
      small / medium / large bucket (small < 32², large > 96²). A plain box's area is
      ``w * h``.

Batched conversions of ``(N, 4)`` arrays or tensors go through
``torchvision.ops.box_convert``; the single-box helpers are plain Python (importers call
them once per annotation, where building a tensor would cost more than the arithmetic).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

BBox = tuple[float, float, float, float]
Polygon = Sequence[float]


def xywh_to_xyxy(box: Sequence[float]) -> BBox:
    """``[x, y, w, h]`` → ``(x1, y1, x2, y2)`` (pixels)."""
    x, y, w, h = (float(v) for v in box)
    return (x, y, x + w, y + h)


def xyxy_to_xywh(box: Sequence[float]) -> BBox:
    """``[x1, y1, x2, y2]`` → ``(x, y, w, h)`` (pixels)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (x1, y1, x2 - x1, y2 - y1)


def box_convert(boxes: Any, in_fmt: str, out_fmt: str) -> Any:
    """Convert an ``(N, 4)`` batch of boxes between ``"xyxy"``, ``"xywh"`` and ``"cxcywh"``.

    Args:
        boxes: A float ``torch.Tensor`` or ``numpy.ndarray`` of shape ``(N, 4)`` (pixels).
        in_fmt: Format of ``boxes``.
        out_fmt: Format wanted.

    Returns:
        The same kind of object as ``boxes`` (tensor in, tensor out; array in, float64
        array out), shape ``(N, 4)``. Computed by ``torchvision.ops.box_convert``.
    """
    import torch
    from torchvision.ops import box_convert as _tv_box_convert

    if isinstance(boxes, torch.Tensor):
        return _tv_box_convert(boxes, in_fmt=in_fmt, out_fmt=out_fmt)
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = _tv_box_convert(torch.from_numpy(np.ascontiguousarray(arr)), in_fmt=in_fmt,
                          out_fmt=out_fmt)
    return out.numpy()


def polygons_bbox(polygons: Sequence[Polygon]) -> BBox:
    """Bounding box ``(x, y, w, h)`` (pixels) of one or more flat polygons.

    Raises:
        ValueError: if there is no point.
    """
    xs = [float(v) for p in polygons for v in p[0::2]]
    ys = [float(v) for p in polygons for v in p[1::2]]
    if not xs:
        raise ValueError("no polygon points")
    x0, y0 = min(xs), min(ys)
    return (x0, y0, max(xs) - x0, max(ys) - y0)


def clip_box(box: Sequence[float], width: float, height: float) -> BBox | None:
    """An ``[x, y, w, h]`` box clipped to a ``width`` x ``height`` image, or None when
    nothing of it is left inside (zero width or height)."""
    x, y, w, h = (float(v) for v in box)
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + w, float(width)), min(y + h, float(height))
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2 - x1, y2 - y1)


def clip_polygons(polygons: Sequence[Polygon], width: float, height: float
                  ) -> list[list[float]]:
    """Polygons with every vertex clamped into ``[0, width] x [0, height]``; pieces
    that collapse to zero width or height are dropped (the list may end up empty)."""
    w, h = float(width), float(height)
    out: list[list[float]] = []
    for p in polygons:
        q = [min(max(float(v), 0.0), w if i % 2 == 0 else h) for i, v in enumerate(p)]
        if len(q) >= 6:
            bx = polygons_bbox([q])
            if bx[2] > 0 and bx[3] > 0:
                out.append(q)
    return out


def _mask_utils():
    from pycocotools import mask as mask_utils  # C extension; imported when needed

    return mask_utils


def _encoded(rle: Mapping[str, Any]) -> dict[str, Any]:
    """A compressed RLE with ``bytes`` counts, as pycocotools' C API wants it."""
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE
        h, w = (int(v) for v in rle["size"])
        return _mask_utils().frPyObjects(dict(rle), h, w)
    return {"size": [int(v) for v in rle["size"]],
            "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def rle_area(rle: Mapping[str, Any]) -> float:
    """Pixel count of a COCO RLE (compressed or uncompressed), ``pycocotools.mask.area``."""
    return float(_mask_utils().area(_encoded(rle)))


def polygons_area(polygons: Sequence[Polygon], height: int | None = None,
                  width: int | None = None) -> float:
    """Pixel area of the union of flat polygons, rasterised as ``pycocotools`` does.

    Args:
        polygons: Flat polygons in pixels (each at least 3 points).
        height: Raster height; default just large enough for the polygons (the area of
            a polygon inside the image does not depend on the raster size).
        width: Raster width; same default.

    Returns:
        The number of mask pixels, as a float (0.0 for no polygon).
    """
    polys = [[float(v) for v in p] for p in polygons if len(p) >= 6]
    if not polys:
        return 0.0
    if height is None or width is None:
        _, _, bw, bh = polygons_bbox(polys)
        x0, y0 = min(min(p[0::2]) for p in polys), min(min(p[1::2]) for p in polys)
        width = max(1, int(math.ceil(x0 + bw)) + 1)
        height = max(1, int(math.ceil(y0 + bh)) + 1)
    mu = _mask_utils()
    rles = mu.frPyObjects(polys, int(height), int(width))
    return float(mu.area(mu.merge(rles)))


def annotation_area(bbox: Sequence[float], polygons: Sequence[Polygon] = (),
                    rle: Mapping[str, Any] | None = None) -> float:
    """COCO ``area`` of an annotation: the RLE's pixel count, else the rasterised
    polygons' pixel count, else the box's ``w * h`` (see the module docstring)."""
    if rle:
        return rle_area(rle)
    if polygons:
        return polygons_area(polygons)
    return float(bbox[2]) * float(bbox[3])


def mask_bbox(polygons: Sequence[Polygon], rle: Mapping[str, Any] | None, height: int,
              width: int) -> BBox:
    """COCO bbox ``(x, y, w, h)`` of a mask (``pycocotools.mask.toBbox``)."""
    mu = _mask_utils()
    enc = _encoded(rle) if rle is not None else mu.merge(
        mu.frPyObjects([list(p) for p in polygons], int(height), int(width)))
    x, y, w, h = (float(v) for v in mu.toBbox(enc))
    return (x, y, w, h)
