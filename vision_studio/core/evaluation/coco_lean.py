"""faster-coco-eval's ``COCOeval_faster`` without its per-annotation Python overhead.

``COCOeval_faster`` runs matching and accumulation in C++, but prepares them in Python
loops over every annotation: ``COCO.loadRes`` indexes the results, ``_prepare`` reads
them back through ``getAnnIds`` / ``loadAnns`` (an id type check per annotation), looks
up image sizes one annotation at a time, and encodes *every* mask to RLE, and
``computeIoU`` asks the C++ dataset for each (image, category) pair's lists again.
At 2,000 images x 100 segm detections that Python is about half the CPU time
(``benchmarks/bench_coco_eval.py`` prints the breakdown).

:class:`LeanCOCOeval` does the same steps with one pass over the annotations, and
encodes only the masks that enter an IoU matrix (those of (image, category) pairs that
have both ground truth and detections; a detection of a pair without ground truth is a
false positive whatever its mask), and only polygons and uncompressed RLEs: a compressed
RLE (what a results file holds) is handed to the IoU as it is, as pycocotools'
``annToRLE`` does, instead of being decoded and encoded again (1.3 s of 3.9 s CPU). The per-pair lists keep the annotations' order and
detections are sorted by the same stable rule, so the IoU matrices, matches and every
number are those of ``COCOeval_faster`` (and so of pycocotools; the tests compare).
"""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, Sequence

from faster_coco_eval import COCO, COCOeval_faster
from faster_coco_eval.core import mask as mask_utils

__all__ = ["LeanCOCOeval", "load_results"]


def load_results(coco_gt: COCO, results: list[dict[str, Any]]) -> COCO:
    """``coco_gt.loadRes(results)`` for box and mask results, without the results index.

    Sets, as ``COCO.loadRes`` does (and pycocotools'), on each result dict: ``id`` =
    index + 1, ``iscrowd`` = 0 and ``area`` — ``w * h`` of the ``bbox`` when the first
    result has a non-empty bbox (then a missing ``segmentation`` becomes the box
    polygon), else the RLE mask area (and a missing ``bbox`` the mask's box).

    Args:
        coco_gt: The ground truth.
        results: Result dicts (modified in place; the caller passes copies), all on
            images of ``coco_gt`` (checked by the caller).

    Returns:
        A ``COCO`` whose ``dataset`` holds the results (``createIndex`` is not run:
        :class:`LeanCOCOeval` does not read the index).
    """
    res = COCO()
    res.dataset["images"] = list(coco_gt.dataset["images"])
    res.dataset["categories"] = copy.deepcopy(coco_gt.dataset["categories"])
    res.dataset["annotations"] = results
    if results and "bbox" in results[0] and results[0]["bbox"] != []:
        for i, ann in enumerate(results, 1):
            x, y, w, h = ann["bbox"]
            if "segmentation" not in ann:
                ann["segmentation"] = [[x, y, x, y + h, x + w, y + h, x + w, y]]
            ann["area"], ann["id"], ann["iscrowd"] = w * h, i, 0
    elif results:
        areas = mask_utils.area([ann["segmentation"] for ann in results])
        for i, (ann, area) in enumerate(zip(results, areas), 1):
            if "bbox" not in ann:
                ann["bbox"] = mask_utils.toBbox(ann["segmentation"])
            ann["area"], ann["id"], ann["iscrowd"] = area, i, 0
    return res


def _by_pair(anns: Sequence[dict[str, Any]], img_ids: set, cat_ids: set) -> dict[tuple, list]:
    pairs: dict[tuple, list] = defaultdict(list)
    for a in anns:
        key = (a["image_id"], a["category_id"])
        if key[0] in img_ids and key[1] in cat_ids:
            pairs[key].append(a)
    return pairs


class LeanCOCOeval(COCOeval_faster):
    """``COCOeval_faster`` for bbox / segm with category-wise matching (the COCO
    protocol); anything else (LVIS style, boundary IoU, keypoints, ``useCats=0``) falls
    back to the library's own code. Same constructor and results."""

    def _lean(self) -> bool:
        p = self.params
        return p.iouType in ("bbox", "segm") and bool(p.useCats) and not self.lvis_style

    def _prepare(self) -> None:
        """One pass per side: per-pair lists, ``ignore`` flags, RLEs where needed."""
        if not self._lean():
            if not getattr(self.cocoDt, "anns", None):
                self.cocoDt.createIndex()
            return super()._prepare()
        p = self.params
        self.gt_dataset.clean()
        self.dt_dataset.clean()
        img_ids, cat_ids = set(p.imgIds), set(p.catIds)
        gts = _by_pair(self.cocoGt.dataset["annotations"], img_ids, cat_ids)
        dts = _by_pair(self.cocoDt.dataset["annotations"], img_ids, cat_ids)
        both = gts.keys() & dts.keys()
        need = _append(self.gt_dataset, gts, both, p.compute_rle, True)
        need += _append(self.dt_dataset, dts, both, p.compute_rle, False)
        if need:
            sizes = {i["id"]: (i["height"], i["width"]) for i in self.cocoGt.dataset["images"]}
            mask_utils.calculateRleForAllAnnotations(need, sizes, True, False, 0.0, 1)
        self._pairs_gt, self._pairs_dt = gts, dts
        self._nonempty_iou_pairs = both

    def computeIoU(self, imgId: int, catId: int) -> Any:  # noqa: N802, N803 (COCOeval's names)
        """IoU matrix [D, G] of one pair: detections by descending score (stable; at
        most ``maxDets[-1]``) against ground truth in annotation order."""
        if not self._lean():
            return super().computeIoU(imgId, catId)
        gt = self._pairs_gt.get((imgId, catId))
        dt = self._pairs_dt.get((imgId, catId))
        if not gt or not dt:
            return []
        dt = sorted(dt, key=_neg_score)[: self.params.maxDets[-1]]
        field = "rle" if self.params.compute_rle else "bbox"
        return mask_utils.iou([d[field] for d in dt], [g[field] for g in gt],
                              [int(g.get("iscrowd", 0)) for g in gt])


def _append(dataset: Any, pairs: dict[tuple, list], both: set, rle: bool, is_gt: bool) -> list[dict]:
    """Hand each pair's annotations to the C++ ``dataset`` (ground truth gets ``ignore``
    = ``iscrowd``, as in ``COCOeval._prepare``); with ``rle``, set ``rle`` on those of
    pairs in ``both``: a compressed RLE segmentation as it is (as pycocotools'
    ``annToRLE`` does; re-encoding it cost a third of the segm CPU time).

    Returns:
        The annotations whose ``rle`` still has to be encoded (polygons, uncompressed RLE).
    """
    need = []
    append = dataset.append_ref
    for key, anns in pairs.items():
        encode = rle and key in both
        img, cat = key
        for a in anns:
            if is_gt:
                a["ignore"] = int(a.get("iscrowd", 0))
            append(img, cat, a)
            if encode:
                seg = a.get("segmentation")
                if type(seg) is dict and type(seg.get("counts")) in (str, bytes):
                    a["rle"] = seg
                else:
                    need.append(a)
    return need


def _neg_score(d: dict[str, Any]) -> float:
    return -d["score"]
