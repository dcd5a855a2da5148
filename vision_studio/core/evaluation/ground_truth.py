"""The ground truth of an evaluation, read from the project store — no Qt.

Ids are the store's own (image, annotation and category ids), so an error found in an
evaluation can be opened in the Annotate panel and an accepted prediction becomes an
ordinary annotation. Files written for other tools translate them to the exported COCO
ids (:mod:`vision_studio.core.evaluation.coco_ids_results`).

* detection / instance segmentation: a COCO ground-truth dict
  (:func:`ground_truth_from_store`);
* classification: the model label of each image's tag (:func:`classification_gt`);
* semantic segmentation: a uint8 label map per image painted from the mask annotations
  in id order (model labels; 255 = unlabelled, or 0 when the run trained with
  ``unlabelled_as="background"``), as the training data set paints it
  (:func:`semantic_gt_maps`).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)


def ground_truth_from_store(store: Any, images: Sequence[Any], categories: Sequence[Mapping[str, Any]],
                            with_masks: bool = False) -> dict[str, Any]:
    """A COCO ground-truth dict of some images of a project (store ids kept as COCO ids).

    Args:
        store: The :class:`~vision_studio.core.store.ProjectStore`.
        images: The ``ImageRecord`` s to include.
        categories: ``[{"id", "name"}]`` (store category ids) to include; annotations of
            other categories are left out.
        with_masks: Add ``segmentation`` (polygons or RLE) for segm evaluation.

    Returns:
        ``{"images", "annotations", "categories"}`` with ``bbox`` [x, y, w, h] pixels,
        ``area`` and ``iscrowd`` as stored.
    """
    keep = {int(c["id"]) for c in categories}
    by_image = store.annotations_by_image([im.id for im in images])
    anns = []
    for im in images:
        for a in by_image.get(im.id, []):
            if a.category_id not in keep:
                continue
            d = {"id": a.id, "image_id": im.id, "category_id": a.category_id, "bbox": list(a.bbox),
                 "area": float(a.area), "iscrowd": int(a.iscrowd)}
            if with_masks:
                if a.rle:
                    d["segmentation"] = dict(a.rle)
                elif a.polygons:
                    d["segmentation"] = [list(p) for p in a.polygons]
                else:  # a box without a mask: its rectangle
                    x, y, w, h = a.bbox
                    d["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
            anns.append(d)
    return {"images": [{"id": im.id, "width": im.width, "height": im.height, "file_name": im.path}
                       for im in images],
            "annotations": anns,
            "categories": [{"id": int(c["id"]), "name": str(c["name"])} for c in categories]}


def classification_gt(store: Any, images: Sequence[Any], categories: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """[I] int64 model label of each image's first tag among ``categories`` (-1 = none)."""
    index = {int(c["id"]): k for k, c in enumerate(categories)}
    tags = store.all_image_tags()
    out = np.full(len(images), -1, dtype=np.int64)
    for i, im in enumerate(images):
        labels = [index[t] for t in tags.get(im.id, ()) if t in index]
        if labels:
            out[i] = labels[0]
    return out


def semantic_gt_maps(store: Any, images: Sequence[Any], categories: Sequence[Mapping[str, Any]],
                     label_offset: int, sizes: Sequence[tuple[int, int]]) -> tuple[np.ndarray, ...]:
    """One uint8 [height, width] label map per image (model labels; 255 = unlabelled, or
    0 with a background class, ``label_offset`` 1), painted in annotation id order.

    Args:
        sizes: ``(height, width)`` per image (the prediction's label map size).
    """
    from vision_studio.core.data.datasets import decode_mask

    index = {int(c["id"]): k + label_offset for k, c in enumerate(categories)}
    by_image = store.annotations_by_image([im.id for im in images])
    maps = []
    for im, (h, w) in zip(images, sizes):
        lab = np.full((h, w), 0 if label_offset else 255, np.uint8)
        for a in sorted(by_image.get(im.id, []), key=lambda a: a.id):
            if a.category_id in index:
                try:
                    lab[decode_mask(a, h, w) > 0] = index[a.category_id]
                except ValueError as exc:
                    log.warning("image %s: %s", im.path, exc)
        lab.setflags(write=False)
        maps.append(lab)
    return tuple(maps)
