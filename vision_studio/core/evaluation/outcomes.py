"""Per-detection outcomes (TP / FP / FN) and the detection confusion matrix.

Outcomes follow COCOeval's own matching at IoU 0.50, area range "all" and 100
detections per image and category (pycocotools ``COCOeval.evaluateImg``): detections of
one image and category are visited by descending score; each takes the still-unmatched
ground truth with the highest IoU >= 0.50, preferring regular ground truth over
ignored (``iscrowd``) regions; a detection matched to an ignored region is ignored
(neither TP nor FP); ground truth never matched is a false negative (FN); ignored
ground truth is neither. With the pycocotools backend the outcomes are read from
``COCOeval.evalImgs`` (``dtMatches`` / ``gtMatches`` / ``dtIgnore`` / ``gtIgnore``);
faster-coco-eval keeps no ``evalImgs``, so the same greedy rule is applied to its IoU
matrices (``COCOeval.ious``) — the tests check both give identical outcomes.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from vision_studio.core.evaluation.matching import (AREA_ALL as _AREA_ALL, FN, FP, IGNORED, MATCH_IOU, TP,
                                                   ReadOnlyArrays, greedy_match, precision_recall_at_ranks,
                                                   read_only)

__all__ = ["DetectionOutcomes", "outcomes_from_evaluator", "detection_confusion_matrix", "greedy_match",
           "TP", "FP", "FN", "IGNORED", "MATCH_IOU"]


@dataclass(frozen=True)
class DetectionOutcomes(ReadOnlyArrays):
    """Flat arrays of outcomes, one entry per detection and per ground-truth object.

    Attributes:
        iou_threshold: The IoU of the matching (0.50).
        dt_id: [D] int64 detection ids (``index + 1`` in the results list).
        dt_image_id: [D] int64.
        dt_category_id: [D] int64.
        dt_score: [D] float64.
        dt_kind: [D] str: ``"TP"``, ``"FP"`` or ``"ignored"`` (matched to an ``iscrowd``
            region, beyond the 100 best of its image and category, or of a category
            absent from the ground truth).
        dt_gt_id: [D] int64 id of the matched ground truth, -1 when none.
        dt_iou: [D] float64 IoU with the matched ground truth, NaN when none.
        gt_id: [G] int64 ground-truth annotation ids.
        gt_image_id: [G] int64.
        gt_category_id: [G] int64.
        gt_kind: [G] str: ``"TP"`` (matched), ``"FN"`` (missed) or ``"ignored"`` (crowd).
        gt_dt_id: [G] int64 id of the matching detection, -1 when none.
    """

    iou_threshold: float
    dt_id: np.ndarray
    dt_image_id: np.ndarray
    dt_category_id: np.ndarray
    dt_score: np.ndarray
    dt_kind: np.ndarray
    dt_gt_id: np.ndarray
    dt_iou: np.ndarray
    gt_id: np.ndarray
    gt_image_id: np.ndarray
    gt_category_id: np.ndarray
    gt_kind: np.ndarray
    gt_dt_id: np.ndarray

    def counts(self, category_id: int | None = None) -> dict[str, int]:
        """``{"TP": detections matched, "FP": detections unmatched, "FN": ground truth
        missed}`` overall or for one category."""
        dsel = slice(None) if category_id is None else self.dt_category_id == category_id
        gsel = slice(None) if category_id is None else self.gt_category_id == category_id
        return {TP: int((self.dt_kind[dsel] == TP).sum()), FP: int((self.dt_kind[dsel] == FP).sum()),
                FN: int((self.gt_kind[gsel] == FN).sum())}

    def matched_ious(self) -> np.ndarray:
        """[N] float64 IoU of every true-positive (detection, ground truth) pair."""
        return self.dt_iou[self.dt_kind == TP]

    def ranked_precision_recall(self, category_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Precision and recall after each ranked detection of one category.

        Detections that are not ignored are sorted by descending score (stable, as
        COCOeval's ``accumulate`` sorts them); see
        :func:`~vision_studio.core.evaluation.matching.precision_recall_at_ranks`.

        Returns:
            ``(scores [N], precision [N], recall [N])`` float64.

        Raises:
            ValueError: if the category has no ground truth that counts.
        """
        sel = (self.dt_category_id == category_id) & (self.dt_kind != IGNORED)
        order = np.argsort(-self.dt_score[sel], kind="mergesort")
        num_gt = int(((self.gt_category_id == category_id) & (self.gt_kind != IGNORED)).sum())
        prec, rec = precision_recall_at_ranks(self.dt_kind[sel][order] == TP, num_gt)
        return self.dt_score[sel][order], prec, rec


class _Builder:
    """Collects outcomes into arrays indexed by detection / ground-truth id."""

    def __init__(self, coco_gt: Any, coco_dt: Any, cat_ids: Sequence[int]) -> None:
        dts = coco_dt.dataset["annotations"]
        gts = coco_gt.dataset["annotations"]
        self.d_ids = np.array([d["id"] for d in dts], dtype=np.int64)
        self.d_img = np.array([d["image_id"] for d in dts], dtype=np.int64)
        self.d_cat = np.array([d["category_id"] for d in dts], dtype=np.int64)
        self.d_score = np.array([d["score"] for d in dts], dtype=np.float64)
        self.d_area = np.array([d.get("area", 0.0) for d in dts], dtype=np.float64)
        self.d_kind = np.full(len(dts), IGNORED, dtype="<U7")
        self.d_gt = np.full(len(dts), -1, dtype=np.int64)
        self.d_iou = np.full(len(dts), np.nan)
        self.g_ids = np.array([g["id"] for g in gts], dtype=np.int64)
        crowd = np.array([bool(g.get("iscrowd", 0)) for g in gts], dtype=bool)
        known = np.isin(np.array([g["category_id"] for g in gts], dtype=np.int64), list(cat_ids))
        self.g_kind = np.where(crowd | ~known, IGNORED, FN).astype("<U7")
        self.g_dt = np.full(len(gts), -1, dtype=np.int64)
        self.d_row = {int(i): k for k, i in enumerate(self.d_ids)}
        self.g_row = {int(i): k for k, i in enumerate(self.g_ids)}
        self.gts = gts

    def set_dt(self, dt_id: int, kind: str, gt_id: int = -1, iou: float = np.nan) -> None:
        r = self.d_row[int(dt_id)]
        self.d_kind[r], self.d_gt[r], self.d_iou[r] = kind, gt_id, iou

    def set_gt(self, gt_id: int, kind: str, dt_id: int = -1) -> None:
        r = self.g_row[int(gt_id)]
        self.g_kind[r], self.g_dt[r] = kind, dt_id

    def build(self) -> DetectionOutcomes:
        o = DetectionOutcomes(
            iou_threshold=MATCH_IOU, dt_id=self.d_ids, dt_image_id=self.d_img,
            dt_category_id=self.d_cat, dt_score=self.d_score, dt_kind=self.d_kind,
            dt_gt_id=self.d_gt, dt_iou=self.d_iou, gt_id=self.g_ids,
            gt_image_id=np.array([g["image_id"] for g in self.gts], dtype=np.int64),
            gt_category_id=np.array([g["category_id"] for g in self.gts], dtype=np.int64),
            gt_kind=self.g_kind, gt_dt_id=self.g_dt)
        read_only(*(getattr(o, f) for f in o.__dataclass_fields__))
        return o


def outcomes_from_evaluator(ev: Any, backend: str) -> DetectionOutcomes:
    """Outcomes of an evaluated (``evaluate()`` + ``accumulate()``) COCOeval object.

    Args:
        ev: A pycocotools ``COCOeval`` (reads ``evalImgs``) or a faster-coco-eval
            ``COCOeval_faster`` (applies the greedy rule to ``ious``).
        backend: ``"pycocotools"`` or ``"faster"``.
    """
    p = ev.params
    t = int(np.argmin(np.abs(np.asarray(p.iouThrs) - MATCH_IOU)))
    b = _Builder(ev.cocoGt, ev.cocoDt, p.catIds)
    if backend == "pycocotools":
        _from_eval_imgs(ev, b, t)
    else:
        _from_ious(ev, b, float(p.iouThrs[t]))
    return b.build()


def _from_eval_imgs(ev: Any, b: _Builder, t: int) -> None:
    p = ev.params
    all_rng = list(p.areaRng[0])
    for e in ev.evalImgs:
        if e is None or list(e["aRng"]) != all_rng or e["maxDet"] != p.maxDets[-1]:
            continue
        key = (e["image_id"], e["category_id"])
        ious = ev.ious[key]
        cols = {g["id"]: j for j, g in enumerate(ev._gts[key])}
        for r, dt_id in enumerate(e["dtIds"]):
            gt_id = int(e["dtMatches"][t, r])
            if e["dtIgnore"][t, r]:
                b.set_dt(dt_id, IGNORED, gt_id if gt_id > 0 else -1)
            elif gt_id > 0:
                b.set_dt(dt_id, TP, gt_id, float(ious[r, cols[gt_id]]))
            else:
                b.set_dt(dt_id, FP)
        for j, gt_id in enumerate(e["gtIds"]):
            dt_id = int(e["gtMatches"][t, j])
            if e["gtIgnore"][j]:
                b.set_gt(gt_id, IGNORED, dt_id if dt_id > 0 else -1)
            elif dt_id > 0:
                b.set_gt(gt_id, TP, dt_id)


def _from_ious(ev: Any, b: _Builder, thr: float) -> None:
    """faster-coco-eval: group detections per (image, category), keep the 100 best
    (stable sort by descending score, as COCOeval), match greedily on ``ev.ious``."""
    p = ev.params
    max_det = p.maxDets[-1]
    evaluated = np.isin(b.d_cat, np.asarray(p.catIds, dtype=np.int64))
    order = np.lexsort((-b.d_score, b.d_cat, b.d_img))
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for r in order:
        if evaluated[r]:
            groups[(int(b.d_img[r]), int(b.d_cat[r]))].append(int(r))
    for key, rows in groups.items():
        rows = rows[:max_det]
        ious = ev.ious.get(key, [])
        if len(ious) == 0:
            for r in rows:
                _unmatched(b, r)
            continue
        gts = ev.gt_dataset.get_instances([key[0]], [key[1]], True)[0][0]
        gt_ig = np.array([bool(g.get("iscrowd", 0)) or not (_AREA_ALL[0] <= g["area"] <= _AREA_ALL[1])
                          for g in gts])
        crowd = np.array([bool(g.get("iscrowd", 0)) for g in gts])
        match = greedy_match(np.asarray(ious, dtype=np.float64), gt_ig, crowd, thr)
        for i, r in enumerate(rows):
            m = match[i]
            if m < 0:
                _unmatched(b, r)
                continue
            gt_id = int(gts[m]["id"])
            dt_id = int(b.d_ids[r])
            if gt_ig[m]:
                b.set_dt(dt_id, IGNORED, gt_id)
                b.set_gt(gt_id, IGNORED, dt_id)
            elif gt_id == 0:  # COCOeval uses ids as match markers: id 0 reads as unmatched
                _unmatched(b, r)
                b.set_gt(gt_id, TP, dt_id)
            else:
                b.set_dt(dt_id, TP, gt_id, float(ious[i][m]))
                b.set_gt(gt_id, TP, dt_id)


def _unmatched(b: _Builder, r: int) -> None:
    area = b.d_area[r]
    kind = FP if _AREA_ALL[0] <= area <= _AREA_ALL[1] else IGNORED
    b.set_dt(int(b.d_ids[r]), kind)


def _to_rles(objs: Sequence[Mapping[str, Any]], h: int, w: int, iou_type: str) -> list:
    from pycocotools import mask as mask_utils

    if iou_type == "bbox":
        return [list(map(float, o["bbox"])) for o in objs]
    out = []
    for o in objs:
        seg = o["segmentation"]
        if isinstance(seg, list):
            out.append(mask_utils.merge(mask_utils.frPyObjects(seg, h, w)))
        elif isinstance(seg.get("counts"), list):
            out.append(mask_utils.frPyObjects(seg, h, w))
        else:
            out.append(seg)
    return out


def detection_confusion_matrix(gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]],
                               category_ids: Sequence[int], iou_type: str = "bbox",
                               iou_threshold: float = 0.5, score_threshold: float = 0.5) -> np.ndarray:
    """Confusion matrix of detections against ground truth, with a background class.

    Per image, detections with ``score >= score_threshold`` and non-crowd ground truth
    are paired class-agnostically: pairs with IoU >= ``iou_threshold`` are taken by
    descending IoU, each detection and ground truth at most once (the rule of
    ultralytics' ``ConfusionMatrix.process_batch``). IoU is COCO's
    (``pycocotools.mask.iou``, on boxes or masks). Detections overlapping an ``iscrowd``
    region by IoU >= threshold are left out.

    Args:
        gt: COCO ground-truth dict.
        results: COCO result dicts.
        category_ids: The K categories, in the order of the matrix rows/columns.
        iou_type: ``"bbox"`` or ``"segm"``.

    Returns:
        [K + 1, K + 1] int64; rows = ground-truth category, columns = predicted
        category; index K is background (row K: false positives, column K: missed
        ground truth).
    """
    from pycocotools import mask as mask_utils

    index = {int(c): k for k, c in enumerate(category_ids)}
    K = len(index)
    cm = np.zeros((K + 1, K + 1), dtype=np.int64)
    gts, dts = defaultdict(list), defaultdict(list)
    for a in gt["annotations"]:
        if a["category_id"] in index:
            gts[a["image_id"]].append(a)
    for r in results:
        if r["score"] >= score_threshold and r["category_id"] in index:
            dts[r["image_id"]].append(r)
    for img in gt["images"]:
        g_all, d = gts.get(img["id"], []), dts.get(img["id"], [])
        g = [a for a in g_all if not a.get("iscrowd", 0)]
        crowd = [a for a in g_all if a.get("iscrowd", 0)]
        h, w = img["height"], img["width"]
        if d and crowd:
            ci = np.asarray(mask_utils.iou(_to_rles(d, h, w, iou_type), _to_rles(crowd, h, w, iou_type),
                                           [1] * len(crowd)))
            d = [x for x, m in zip(d, ci.max(axis=1)) if m < iou_threshold]
        gc = np.array([index[a["category_id"]] for a in g], dtype=np.int64)
        dc = np.array([index[x["category_id"]] for x in d], dtype=np.int64)
        gm, dm = np.zeros(len(g), bool), np.zeros(len(d), bool)
        if g and d:
            iou = np.asarray(mask_utils.iou(_to_rles(d, h, w, iou_type), _to_rles(g, h, w, iou_type),
                                            [0] * len(g)))
            di, gi = np.nonzero(iou >= iou_threshold)
            for k in np.argsort(-iou[di, gi], kind="mergesort"):
                if not dm[di[k]] and not gm[gi[k]]:
                    dm[di[k]] = gm[gi[k]] = True
                    cm[gc[gi[k]], dc[di[k]]] += 1
        np.add.at(cm, (gc[~gm], K), 1)
        np.add.at(cm, (K, dc[~dm]), 1)
    return cm
