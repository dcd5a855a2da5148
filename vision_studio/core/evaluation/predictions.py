"""What a model predicted on a set of images, as frozen values that cross threads.

Detection / instance segmentation keep every candidate before the final filtering
(:class:`RawDetections`): the score threshold and the class-wise NMS IoU
(``torchvision.ops.batched_nms``, the operation torchvision's detectors end with) are
applied afterwards by :meth:`RawDetections.filter`, so they can change without running
the model again. Classification keeps per-image probabilities, semantic segmentation
per-image label maps (uint8, at the original image size).

Coordinates: boxes are ``xyxy`` pixels of the original image (after EXIF orientation);
COCO results use ``bbox`` ``[x, y, w, h]``. Every array is read-only.
"""
from __future__ import annotations

import json

import logging
import os
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from vision_studio.core.evaluation.matching import ReadOnlyArrays, read_only
from vision_studio.core.geometry import box_convert

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawDetections(ReadOnlyArrays):
    """Every candidate detection of a set of images, before the final filtering.

    Attributes:
        image_ids: [I] int64 ids of the images (COCO ``image_id`` of the results).
        image_sizes: [I, 2] int64 ``(height, width)`` in pixels.
        paths: The image files, one per image (``""`` for in-memory images).
        categories: ``({"id", "name"}, ...)`` in model label order.
        label_offset: Model label of ``categories[0]`` (1 for torchvision detectors,
            whose label 0 is background).
        img_index: [N] int64 index into ``image_ids`` of each detection.
        boxes: [N, 4] float32 xyxy pixels of the original image.
        scores: [N] float32.
        labels: [N] int64 model labels.
        masks: ``None``, or N COCO RLEs (``{"size": [h, w], "counts": str}``).
        score_floor: The lowest score kept at prediction time.
        slicing: ``None`` for whole-image prediction; for sliced inference the settings
            used (:meth:`vision_studio.core.evaluation.sliced.SliceSettings.as_dict`).
    """

    image_ids: np.ndarray
    image_sizes: np.ndarray
    paths: tuple[str, ...]
    categories: tuple[Mapping[str, Any], ...]
    label_offset: int
    img_index: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    masks: tuple[Mapping[str, Any], ...] | None = None
    score_floor: float = 0.0
    slicing: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(self.paths))
        object.__setattr__(self, "categories", tuple(dict(c) for c in self.categories))
        if self.masks is not None:
            object.__setattr__(self, "masks", tuple(self.masks))
        read_only(self.image_ids, self.image_sizes, self.img_index, self.boxes, self.scores, self.labels)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def filter(self, score_threshold: float = 0.05, nms_iou: float = 0.5,
               max_per_image: int = 100) -> np.ndarray:
        """Indices of the detections kept by a score threshold and class-wise NMS.

        Args:
            score_threshold: Keep ``score > score_threshold`` (strict, as torchvision).
            nms_iou: Suppress a box overlapping a higher-scored box of the same image and
                label by IoU > ``nms_iou`` (``torchvision.ops.batched_nms``); >= 1
                disables NMS.
            max_per_image: Keep the best ``max_per_image`` of each image.

        Returns:
            [K] int64 indices into the arrays, grouped by image (in ``image_ids``
            order), by descending score within an image.
        """
        if score_threshold < self.score_floor:
            log.warning("score threshold %.4g is below the prediction floor %.4g",
                        score_threshold, self.score_floor)
        sel = np.nonzero(self.scores > score_threshold)[0]
        if nms_iou < 1.0 and sel.size:
            sel = nms_per_image(sel, self.img_index, self.boxes, self.scores, self.labels, float(nms_iou))
        order = np.lexsort((-self.scores[sel], self.img_index[sel]))
        sel = sel[order]
        img = self.img_index[sel]
        starts = np.searchsorted(img, img, side="left")  # first position of each image
        rank = np.arange(sel.size) - starts
        return sel[rank < max_per_image].astype(np.int64)

    def category_ids(self) -> np.ndarray:
        """[N] int64 COCO category id of every detection (-1 for unknown labels)."""
        lut = np.full(int(self.labels.max(initial=0)) + 1, -1, dtype=np.int64)
        for k, c in enumerate(self.categories):
            if k + self.label_offset < lut.size:
                lut[k + self.label_offset] = int(c["id"])
        return lut[self.labels]

    def to_coco_results(self, keep: np.ndarray | None = None, with_masks: bool = True) -> list[dict[str, Any]]:
        """COCO results (``image_id``, ``category_id``, ``bbox`` [x, y, w, h], ``score``,
        and ``segmentation`` RLE when masks exist) of the detections ``keep`` (all when
        ``None``), rounded to 0.01 px / 1e-5 score with Python's ``round``; labels
        without a category are left out. Ids are those of :attr:`image_ids` and
        :attr:`categories` (the store's)."""
        idx = np.arange(len(self)) if keep is None else np.asarray(keep, dtype=np.int64)
        cats = self.category_ids()
        idx = idx[cats[idx] >= 0]
        xywh = box_convert(self.boxes[idx].astype(np.float64), "xyxy", "xywh").tolist()
        img = self.image_ids[self.img_index[idx]].tolist()
        cat = cats[idx].tolist()
        score = self.scores[idx].astype(np.float64).tolist()
        out = [{"image_id": i, "category_id": c,
                "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)], "score": round(s, 5)}
               for i, c, (x, y, w, h), s in zip(img, cat, xywh, score)]
        if with_masks and self.masks is not None:
            for r, i in zip(out, idx.tolist()):
                r["segmentation"] = dict(self.masks[i])
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write to a compressed ``.npz`` file (no pickles)."""
        extra = {}
        if self.masks is not None:
            extra["mask_counts"] = np.array([m["counts"] for m in self.masks], dtype=np.str_)
            extra["mask_sizes"] = np.array([m["size"] for m in self.masks], dtype=np.int64).reshape(-1, 2)
        if self.slicing is not None:
            extra["slicing"] = np.array(json.dumps(dict(self.slicing), sort_keys=True), dtype=np.str_)
        np.savez_compressed(
            path, image_ids=self.image_ids, image_sizes=self.image_sizes,
            paths=np.array(self.paths, dtype=np.str_),
            category_ids=np.array([c["id"] for c in self.categories], dtype=np.int64),
            category_names=np.array([c["name"] for c in self.categories], dtype=np.str_),
            label_offset=self.label_offset, img_index=self.img_index, boxes=self.boxes,
            scores=self.scores, labels=self.labels, score_floor=self.score_floor, **extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> RawDetections:
        """Read a file written by :meth:`save`."""
        z = np.load(path, allow_pickle=False)
        masks = None
        if "mask_counts" in z:
            masks = tuple({"size": [int(s[0]), int(s[1])], "counts": str(c)}
                          for c, s in zip(z["mask_counts"], z["mask_sizes"]))
        cats = tuple({"id": int(i), "name": str(n)} for i, n in zip(z["category_ids"], z["category_names"]))
        return cls(image_ids=z["image_ids"], image_sizes=z["image_sizes"],
                   paths=tuple(str(p) for p in z["paths"]), categories=cats,
                   label_offset=int(z["label_offset"]), img_index=z["img_index"], boxes=z["boxes"],
                   scores=z["scores"], labels=z["labels"], masks=masks,
                   score_floor=float(z["score_floor"]),
                   slicing=json.loads(str(z["slicing"])) if "slicing" in z else None)


def nms_per_image(sel: np.ndarray, img_index: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                  labels: np.ndarray, iou: float) -> np.ndarray:
    """Class-wise NMS image by image with ``torchvision.ops.batched_nms`` (as
    torchvision's detectors end). One call per image keeps each NMS small (its cost grows
    with the square of its boxes; one call over a whole split falls back to a Python loop
    over every image and label — 50x slower, measured in ``benchmarks/bench_coco_eval.py``).

    Args:
        sel: [K] int64 candidate indices; img_index / boxes (xyxy) / scores / labels:
            the full arrays they index.
        iou: Suppress IoU > ``iou`` with a higher-scored box of the same image and label.

    Returns:
        The kept indices of ``sel``, grouped by image.
    """
    import torch
    from torchvision.ops import batched_nms

    sel = sel[np.argsort(img_index[sel], kind="stable")]
    img = img_index[sel]
    starts = np.r_[0, np.flatnonzero(np.diff(img)) + 1]
    ends = np.r_[starts[1:], sel.size]
    tb = torch.from_numpy(np.ascontiguousarray(boxes[sel], dtype=np.float32))
    ts = torch.from_numpy(np.ascontiguousarray(scores[sel], dtype=np.float32))
    tl = torch.from_numpy(np.ascontiguousarray(labels[sel], dtype=np.int64))
    kept = [batched_nms(tb[lo:hi], ts[lo:hi], tl[lo:hi], iou).numpy() + lo for lo, hi in zip(starts, ends)]
    return sel[np.concatenate(kept)]


@dataclass(frozen=True)
class ClassificationPredictions(ReadOnlyArrays):
    """Per-image class probabilities.

    Attributes:
        image_ids: [I] int64.
        paths: Image files.
        class_names: The C class names in model label order.
        probs: [I, C] float32 softmax probabilities.
    """

    image_ids: np.ndarray
    paths: tuple[str, ...]
    class_names: tuple[str, ...]
    probs: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "paths", tuple(self.paths))
        read_only(self.image_ids, self.probs)


@dataclass(frozen=True)
class SemanticPredictions(ReadOnlyArrays):
    """Per-image label maps (argmax of the logits, at the original image size).

    Attributes:
        image_ids: [I] int64.
        paths: Image files.
        class_names: Names of the model labels.
        label_maps: I arrays of uint8 [H, W] (model labels).
    """

    image_ids: np.ndarray
    paths: tuple[str, ...]
    class_names: tuple[str, ...]
    label_maps: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "paths", tuple(self.paths))
        object.__setattr__(self, "label_maps", tuple(self.label_maps))
        read_only(self.image_ids, *self.label_maps)

