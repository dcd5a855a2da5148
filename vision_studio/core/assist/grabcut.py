"""The smart polygon: the outline of the object inside a box, as simplified COCO polygons.

Two ways, the first that applies:

1. the project's own instance-segmentation checkpoint (:func:`model_polygon`): the model
   runs on the whole image; the detection whose box overlaps the given box most (IoU at
   least ``min_iou``) gives its mask, cut to the box;
2. OpenCV GrabCut (:func:`grabcut_polygon`; Rother, Kolmogorov & Blake, "GrabCut":
   interactive foreground extraction using iterated graph cuts, SIGGRAPH 2004):
   ``cv2.grabCut`` initialised from the box (outside = background, inside = probably
   foreground), then optionally refined by the user's strokes (painted foreground pixels
   become definite foreground, background strokes definite background) and iterated
   again. It runs on a crop of the box plus a margin, shrunk to at most
   :data:`MAX_SIDE` pixels, which keeps it fast on large objects (measured in
   ``benchmarks/bench_smart_polygon.py``).

The mask becomes polygons with :func:`~vision_studio.core.assist.polygons.mask_to_polygons`
(outer boundaries only: holes are dropped; ``cv2.approxPolyDP`` to ``tolerance`` pixels).
Coordinates: pixels of the full image, box COCO ``[x, y, w, h]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from vision_studio.core.assist.polygons import mask_to_polygons, rle_to_mask
from vision_studio.core.errors import ConfigError

MARGIN = 0.25
"""Crop margin around the box, as a fraction of its larger side (at least 8 px)."""
MAX_SIDE = 256
"""GrabCut's cost grows with the pixels it labels: a crop whose longer side exceeds this
is shrunk to it (``cv2.INTER_AREA``) and the mask scaled back (nearest neighbour)."""


@dataclass(frozen=True)
class SmartPolygon:
    """An object outline found inside a box.

    Attributes:
        polygons: Flat COCO polygons in image pixels, largest first; ``[]`` when nothing
            was found.
        method: ``"model"`` or ``"grabcut"``.
        score: The model's detection score (``"model"``), else 1.0.
        mask: [H, W] uint8 0/1 mask of the full image that the polygons trace.
    """

    polygons: list[list[float]]
    method: str
    score: float = 1.0
    mask: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint8), repr=False)


def _int_box(box: Sequence[float], height: int, width: int) -> tuple[int, int, int, int]:
    """The box as integer ``(x0, y0, x1, y1)`` inside the image (x1, y1 exclusive).

    Raises:
        ConfigError: a box smaller than 2 x 2 pixels inside the image.
    """
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(width, int(np.ceil(x + w))), min(height, int(np.ceil(y + h)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ConfigError(f"the box {tuple(box)} leaves less than 2 x 2 pixels inside the "
                          f"{width} x {height} image")
    return x0, y0, x1, y1


def grabcut_mask(image: np.ndarray, box: Sequence[float], *, foreground: np.ndarray | None = None,
                 background: np.ndarray | None = None, iterations: int = 5,
                 max_side: int | None = MAX_SIDE) -> np.ndarray:
    """GrabCut's foreground inside ``box``.

    Args:
        image: [H, W, 3] uint8 RGB (or [H, W] grey).
        box: COCO ``[x, y, w, h]`` pixels.
        foreground: Optional [H, W] stroke mask (non-zero = the user marked object).
        background: Optional [H, W] stroke mask (non-zero = the user marked background).
        iterations: GrabCut iterations from the box, and again after the strokes.
        max_side: Shrink the crop to this longer side first (``None`` = never).

    Returns:
        [H, W] uint8 0/1: definite or probable foreground, never outside the box.

    Raises:
        ConfigError: a box too small or outside the image.
    """
    import cv2

    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    H, W = img.shape[:2]
    x0, y0, x1, y1 = _int_box(box, H, W)
    m = max(8, int(MARGIN * max(x1 - x0, y1 - y0)))
    cx0, cy0, cx1, cy1 = max(0, x0 - m), max(0, y0 - m), min(W, x1 + m), min(H, y1 + m)
    crop = np.ascontiguousarray(img[cy0:cy1, cx0:cx1, ::-1], dtype=np.uint8)  # BGR, as OpenCV
    f = 1.0 if not max_side else min(1.0, max_side / max(crop.shape[:2]))
    size = (max(2, round(crop.shape[1] * f)), max(2, round(crop.shape[0] * f)))
    strokes = [None if s is None else np.asarray(s)[cy0:cy1, cx0:cx1] != 0 for s in (foreground, background)]
    if f < 1.0:
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        strokes = [None if s is None else cv2.resize(s.astype(np.uint8), size,
                                                     interpolation=cv2.INTER_NEAREST) != 0 for s in strokes]
    fg = _run_grabcut(crop, _scaled_rect((x0 - cx0, y0 - cy0, x1 - x0, y1 - y0), f, size),
                      strokes[0], strokes[1], iterations)
    if f < 1.0:
        fg = cv2.resize(fg, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_NEAREST)
    out = np.zeros((H, W), np.uint8)
    out[cy0:cy1, cx0:cx1] = fg
    keep = np.zeros_like(out)
    keep[y0:y1, x0:x1] = 1
    return out * keep


def _scaled_rect(rect: tuple[int, int, int, int], f: float, size: tuple[int, int]
                 ) -> tuple[int, int, int, int]:
    """The crop's rect scaled by ``f``, kept inside ``size`` (w, h) and at least 1 px
    from a crop that it would otherwise fill (GrabCut needs some background)."""
    x, y = int(np.floor(rect[0] * f)), int(np.floor(rect[1] * f))
    x1, y1 = min(size[0], int(np.ceil((rect[0] + rect[2]) * f))), min(size[1], int(np.ceil((rect[1] + rect[3]) * f)))
    if x == 0 and y == 0 and x1 == size[0] and y1 == size[1]:
        x, y, x1, y1 = 1, 1, x1 - 1, y1 - 1
    return x, y, max(1, x1 - x), max(1, y1 - y)


def _run_grabcut(crop: np.ndarray, rect: tuple[int, int, int, int], fg_strokes: np.ndarray | None,
                 bg_strokes: np.ndarray | None, iterations: int) -> np.ndarray:
    """``cv2.grabCut`` from ``rect``, then again from the mask with the strokes; the
    [h, w] uint8 0/1 definite-or-probable foreground of the crop."""
    import cv2

    mask = np.zeros(crop.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(crop, mask, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    if fg_strokes is not None or bg_strokes is not None:
        if fg_strokes is not None:
            mask[fg_strokes] = cv2.GC_FGD
        if bg_strokes is not None:
            mask[bg_strokes] = cv2.GC_BGD
        cv2.grabCut(crop, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)


def grabcut_polygon(image: np.ndarray, box: Sequence[float], *, foreground: np.ndarray | None = None,
                    background: np.ndarray | None = None, tolerance: float = 1.0,
                    iterations: int = 5, max_side: int | None = MAX_SIDE) -> SmartPolygon:
    """The GrabCut outline of the object in ``box`` (see :func:`grabcut_mask`), as
    polygons simplified to ``tolerance`` pixels."""
    mask = grabcut_mask(image, box, foreground=foreground, background=background,
                        iterations=iterations, max_side=max_side)
    return SmartPolygon(mask_to_polygons(mask, tolerance), "grabcut", 1.0, mask)


def _box_iou(a: Sequence[float], b: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with [N, 4] xyxy boxes."""
    ix = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def model_detections(model: Any, image: np.ndarray, *, min_score: float = 0.05) -> tuple[Any, np.ndarray]:
    """The instance-segmentation model's detections on the whole image, as
    :func:`model_polygon` reads them: ``(raw, keep)``, the
    :class:`~vision_studio.core.evaluation.predictions.RawDetections` and the indices
    kept (score > ``min_score``, NMS at IoU 0.5, at most 100). They do not depend on the
    box: compute them once per image and pass them to every box of it.

    Raises:
        ConfigError: the model is not an instance-segmentation model.
    """
    from vision_studio.core.evaluation.predict import predict_detections
    from vision_studio.core.types import Task

    if model.task != Task.INSTANCE_SEGMENTATION:
        raise ConfigError(f"run {model.run} is a {model.task} model; the smart polygon needs an "
                          "instance-segmentation one")
    raw = predict_detections(model.built.model, [np.asarray(image)], model.categories,
                             image_size=model.config.image_size, device=model.device,
                             score_floor=min_score, raw_max_per_image=100)
    return raw, raw.filter(score_threshold=min_score, nms_iou=0.5, max_per_image=100)


def model_polygon(model: Any, image: np.ndarray, box: Sequence[float], *, tolerance: float = 1.0,
                  min_iou: float = 0.5, min_score: float = 0.05,
                  detections: tuple[Any, np.ndarray] | None = None) -> SmartPolygon | None:
    """The outline from an instance-segmentation checkpoint, or ``None`` when none of its
    detections (score > ``min_score``) overlaps ``box`` by IoU >= ``min_iou``.

    Args:
        model: A :class:`~vision_studio.core.assist.inference.LoadedModel` of task
            ``instance_segmentation``.
        image: [H, W, 3] uint8 RGB.
        box: COCO ``[x, y, w, h]`` pixels.
        detections: :func:`model_detections` of this image, when known (else the
            model runs).

    Raises:
        ConfigError: the model is not an instance-segmentation model.
    """
    from vision_studio.core.geometry import xywh_to_xyxy

    raw, keep = detections if detections is not None else model_detections(model, image, min_score=min_score)
    if keep.size == 0 or raw.masks is None:
        return None
    xyxy = xywh_to_xyxy(box)
    iou = _box_iou(xyxy, raw.boxes[keep].astype(np.float64))
    best = int(np.argmax(iou))
    if iou[best] < min_iou:
        return None
    H, W = np.asarray(image).shape[:2]
    x0, y0, x1, y1 = _int_box(box, H, W)
    mask = rle_to_mask(raw.masks[int(keep[best])])
    cut = np.zeros_like(mask)
    cut[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
    polys = mask_to_polygons(cut, tolerance)
    if not polys:
        return None
    return SmartPolygon(polys, "model", float(raw.scores[keep[best]]), cut)


def smart_polygon(image: np.ndarray, box: Sequence[float], *, model: Any = None,
                  foreground: np.ndarray | None = None, background: np.ndarray | None = None,
                  tolerance: float = 1.0, detections: tuple[Any, np.ndarray] | None = None
                  ) -> SmartPolygon:
    """The object's outline in ``box``: from ``model`` (an instance-segmentation
    :class:`~vision_studio.core.assist.inference.LoadedModel`; ``detections``: its
    :func:`model_detections` of this image when known) when given, no strokes were
    painted and it finds the object; else GrabCut with the strokes."""
    if model is not None and foreground is None and background is None:
        found = model_polygon(model, image, box, tolerance=tolerance, detections=detections)
        if found is not None:
            return found
    return grabcut_polygon(image, box, foreground=foreground, background=background, tolerance=tolerance)
