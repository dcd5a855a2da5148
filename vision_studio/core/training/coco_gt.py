"""In-memory COCO ground truth and results built from validation batches, for the
per-epoch detection / instance-segmentation metrics (computed by
:func:`vision_studio.core.evaluation.coco_eval.evaluate_coco`).

Boxes and masks are in the validation transform's frame (the resized image the model
saw); predictions of torchvision's detection models come back in that same frame.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from vision_studio.core.types import Task

log = logging.getLogger(__name__)


def _xywh(box: torch.Tensor) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def add_ground_truth(gt: dict[str, list], target: dict[str, Any], task: str) -> None:
    """Append one image's target (``boxes`` xyxy, ``labels`` 1..K, ``masks``, ``image_id``)
    to a COCO ground-truth dict; the image size is taken from the masks or the boxes'
    canvas (``target["size"]`` = ``(h, w)`` when set)."""
    image_id = int(target["image_id"])
    h, w = target.get("size", (0, 0))
    masks = target.get("masks")
    if masks is not None and masks.ndim == 3:
        h, w = int(masks.shape[-2]), int(masks.shape[-1])
    gt["images"].append({"id": image_id, "width": int(w), "height": int(h)})
    for i, (box, label) in enumerate(zip(target["boxes"], target["labels"])):
        ann = {"id": len(gt["annotations"]) + 1, "image_id": image_id,
               "category_id": int(label), "bbox": _xywh(box), "iscrowd": 0}
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]
        if task == Task.INSTANCE_SEGMENTATION and masks is not None:
            m = masks[i].cpu().numpy() > 0
            ann["segmentation"] = _rle(m)
            ann["area"] = float(m.sum())
        gt["annotations"].append(ann)


def detections_to_results(output: dict[str, torch.Tensor], image_id: int, task: str) -> list[dict]:
    """COCO result dicts of one image's predictions (masks thresholded at 0.5)."""
    out = []
    boxes = output["boxes"].detach().float().cpu()
    scores = output["scores"].detach().float().cpu()
    labels = output["labels"].detach().cpu()
    masks = output.get("masks")
    for i in range(len(boxes)):
        r = {"image_id": int(image_id), "category_id": int(labels[i]), "bbox": _xywh(boxes[i]),
             "score": float(scores[i])}
        if task == Task.INSTANCE_SEGMENTATION and masks is not None:
            r["segmentation"] = _rle(masks[i, 0].detach().cpu().numpy() > 0.5)
        out.append(r)
    return out


def coco_metrics(gt: dict[str, list], results: list[dict], task: str) -> dict[str, float]:
    """``mAP`` and ``AP50`` (boxes), plus ``mask_mAP`` / ``mask_AP50`` for instance
    segmentation; 0.0 where COCOeval reports -1 (nothing to evaluate)."""
    from vision_studio.core.evaluation.coco_eval import evaluate_coco

    if not gt["annotations"]:
        return {}
    out: dict[str, float] = {}
    kinds = [("bbox", "")] + ([("segm", "mask_")] if task == Task.INSTANCE_SEGMENTATION else [])
    for iou_type, prefix in kinds:
        stats = evaluate_coco(gt, results, iou_type=iou_type).stats
        out[prefix + "mAP"] = max(0.0, float(stats["AP"]))
        out[prefix + "AP50"] = max(0.0, float(stats["AP50"]))
    return out
