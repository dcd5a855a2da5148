"""The slow steps of a detection evaluation session, as pure functions of frozen data.

For one NMS IoU the cached raw detections are filtered at the prediction's score floor
(:meth:`~.predictions.RawDetections.filter`) and evaluated once with
:func:`~.coco_eval.evaluate_coco`, whose per-detection outcomes follow COCOeval's own
matching at IoU 0.50: the :class:`Base`. It gives the full precision–recall curves and,
cheaply, the TP / FP / FN counts at every higher score threshold ``t``:

* the detections kept at ``t`` are exactly the base detections with ``score > t`` —
  class-wise NMS and the per-image cap of 100 are greedy in descending score, so on a
  score prefix they decide the same as on the whole set;
* COCOeval matches greedily in descending score too, so the matches of the detections
  above ``t`` do not change when lower-scored ones are removed: a detection is TP/FP at
  ``t`` as in the base, and a ground-truth object is missed (FN) at ``t`` when it was
  missed in the base or its match scores ``<= t``.

AP at ``t`` needs the full COCO evaluation of the filtered detections
(:func:`compute_full`, a :class:`FullResult`); a new NMS IoU needs a new base. Both
functions read only their frozen :class:`DetectionSource` and return frozen values with
read-only arrays, so they run in worker threads (or processes) while the GUI thread
reads what it has.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from vision_studio.core.evaluation.coco_eval import CocoEvalResult, evaluate_coco
from vision_studio.core.evaluation.matching import IGNORED, ReadOnlyArrays, read_only
from vision_studio.core.evaluation.outcomes import detection_confusion_matrix
from vision_studio.core.evaluation.predictions import RawDetections
from vision_studio.core.geometry import box_convert

MAX_PER_IMAGE = 100
DEFAULT_SCORE = 0.05
DEFAULT_NMS = 0.5


def nms_key(nms: float) -> float:
    """The NMS IoU as caches key it (4 decimals)."""
    return round(float(nms), 4)


def full_key(score: float, nms: float) -> tuple[float, float]:
    """``(score, nms)`` as caches key them (6 and 4 decimals)."""
    return round(float(score), 6), nms_key(nms)


@dataclass(frozen=True)
class DetectionSource:
    """What a detection evaluation is computed from.

    Attributes:
        raw: The :class:`~.predictions.RawDetections`.
        gt: The COCO ground-truth dict (store ids; not modified by anyone).
        iou_type: ``"bbox"`` or ``"segm"``.
        backend: COCO evaluation backend (``"faster"`` or ``"pycocotools"``).
        token: A unique name of this source (kept by a copy in another process).
    """

    raw: RawDetections
    gt: Mapping[str, Any]
    iou_type: str = "bbox"
    backend: str = "faster"
    token: str = field(default_factory=lambda: uuid.uuid4().hex, compare=False)

    @property
    def category_ids(self) -> tuple[int, ...]:
        """The evaluated category ids, in ground-truth order."""
        return tuple(int(c["id"]) for c in self.gt["categories"])

    def results(self, keep: np.ndarray) -> list[dict[str, Any]]:
        """COCO results of raw detections ``keep`` (masks only for segm)."""
        return self.raw.to_coco_results(keep, with_masks=self.iou_type == "segm")


@dataclass(frozen=True)
class Base(ReadOnlyArrays):
    """One evaluation at the prediction floor for one NMS IoU (read-only arrays).

    Attributes:
        nms: The NMS IoU.
        keep: [D] int64 raw detection indices, in COCO results order.
        coco: The :class:`~.coco_eval.CocoEvalResult` of those detections.
        score: [D] float32 raw scores (the exact values the threshold compares).
        cat: [D] int64 category id; img: [D] int64 image id.
        kind: [D] ``"TP"`` / ``"FP"`` / ``"ignored"``; gt_id: [D] matched ground truth
            (-1); iou: [D] IoU of the match (NaN).
        best_iou: [D] largest box IoU with any ground truth of the image (any category);
            best_cat: [D] that ground truth's category (-1 when none).
        g_id, g_img, g_cat: [G] ground truth ids, images, categories; g_kind: [G]
            ``"TP"`` / ``"FN"`` / ``"ignored"``; g_dt_score: [G] score of the matching
            detection (-inf when none).
        by_score: [D] detection order by descending score (stable).
    """

    nms: float
    keep: np.ndarray
    coco: CocoEvalResult
    score: np.ndarray
    cat: np.ndarray
    img: np.ndarray
    kind: np.ndarray
    gt_id: np.ndarray
    iou: np.ndarray
    best_iou: np.ndarray
    best_cat: np.ndarray
    g_id: np.ndarray
    g_img: np.ndarray
    g_cat: np.ndarray
    g_kind: np.ndarray
    g_dt_score: np.ndarray
    by_score: np.ndarray


@dataclass(frozen=True)
class FullResult(ReadOnlyArrays):
    """The slow part at one score / NMS threshold.

    Attributes:
        score, nms: The thresholds (rounded as :func:`full_key`).
        coco: The :class:`~.coco_eval.CocoEvalResult` of ``filter(score, nms)`` (AP
            columns, summary; without per-detection outcomes).
        confusion: [K + 1, K + 1] int64 confusion matrix (background last), or ``None``
            when not computed; cells: ``{(row, col): (image ids, most counts first)}``.
    """

    score: float
    nms: float
    coco: CocoEvalResult
    confusion: np.ndarray | None = None
    cells: Mapping[tuple[int, int], tuple[int, ...]] | None = None


def best_overlaps(raw: RawDetections, keep: np.ndarray, gt: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """For each kept detection: largest box IoU with any non-crowd ground truth of its
    image (``torchvision.ops.box_iou``) and that object's category (-1 when none)."""
    import torch
    from torchvision.ops import box_iou

    best = np.zeros(keep.size)
    cat = np.full(keep.size, -1, dtype=np.int64)
    by_img: dict[int, list[Mapping[str, Any]]] = {}
    for a in gt["annotations"]:
        if not a.get("iscrowd"):
            by_img.setdefault(a["image_id"], []).append(a)
    img_ids = raw.image_ids[raw.img_index[keep]]
    order = np.argsort(img_ids, kind="stable")
    bounds = np.flatnonzero(np.diff(img_ids[order])) + 1
    for rows in np.split(order, bounds):
        anns = by_img.get(int(img_ids[rows[0]]), []) if rows.size else []
        if not anns:
            continue
        g = box_convert(np.array([a["bbox"] for a in anns], dtype=np.float64), "xywh", "xyxy").astype(np.float32)
        ious = box_iou(torch.from_numpy(raw.boxes[keep[rows]]), torch.from_numpy(g)).numpy()
        j = ious.argmax(1)
        best[rows] = ious[np.arange(rows.size), j]
        cat[rows] = np.array([anns[k]["category_id"] for k in j], dtype=np.int64)
    return best, cat


def compute_base(src: DetectionSource, nms: float) -> Base:
    """The base evaluation for ``nms`` (see the module docstring)."""
    key = nms_key(nms)
    raw = src.raw
    keep = raw.filter(raw.score_floor, key, MAX_PER_IMAGE)
    keep = keep[raw.category_ids()[keep] >= 0]
    coco = evaluate_coco(src.gt, src.results(keep), src.iou_type, src.backend, with_outcomes=True)
    o = coco.outcomes
    rows = o.dt_id - 1  # COCO.loadRes numbers results 1..D in list order
    kind = np.full(keep.size, IGNORED, dtype="<U7")
    gt_id = np.full(keep.size, -1, dtype=np.int64)
    iou = np.full(keep.size, np.nan)
    kind[rows], gt_id[rows], iou[rows] = o.dt_kind, o.dt_gt_id, o.dt_iou
    score = raw.scores[keep]
    pos = np.full(int(o.dt_id.max(initial=0)) + 1, -1, dtype=np.int64)
    pos[o.dt_id] = rows
    g_score = np.full(o.gt_id.size, -np.inf)
    has = o.gt_dt_id > 0
    g_score[has] = score[pos[o.gt_dt_id[has]]]
    best, best_cat = best_overlaps(raw, keep, src.gt)
    b = Base(nms=key, keep=keep, coco=coco, score=score, cat=raw.category_ids()[keep],
             img=raw.image_ids[raw.img_index[keep]], kind=kind, gt_id=gt_id, iou=iou, best_iou=best,
             best_cat=best_cat, g_id=o.gt_id, g_img=o.gt_image_id, g_cat=o.gt_category_id, g_kind=o.gt_kind,
             g_dt_score=g_score, by_score=np.argsort(-score, kind="stable"))
    read_only(*(getattr(b, f) for f in b.__dataclass_fields__))
    return b


def compute_full(src: DetectionSource, score: float, nms: float, with_confusion: bool = True) -> FullResult:
    """COCO evaluation (AP) of ``filter(score, nms)`` and, with ``with_confusion``, the
    confusion matrix of the same detections with the images behind each cell."""
    s, n = full_key(score, nms)
    res = src.results(src.raw.filter(s, n, MAX_PER_IMAGE))
    coco = evaluate_coco(src.gt, res, src.iou_type, src.backend, with_outcomes=False)
    cm, cells = confusion_with_cells(src, res) if with_confusion else (None, None)
    return FullResult(s, n, coco, cm, cells)


def confusion_with_cells(src: DetectionSource, res: list[dict[str, Any]]
                         ) -> tuple[np.ndarray, dict[tuple[int, int], tuple[int, ...]]]:
    """The detection confusion matrix of results ``res`` (every score: they are already
    filtered; :func:`~.outcomes.detection_confusion_matrix`'s rule at IoU 0.50, summed
    image by image) and, per cell, the images with counts there (most first)."""
    cat_ids = src.category_ids
    K = len(cat_ids)
    total = np.zeros((K + 1, K + 1), dtype=np.int64)
    cells: dict[tuple[int, int], list[tuple[int, int]]] = {}
    by_img_res: dict[int, list[dict]] = {}
    for r in res:
        by_img_res.setdefault(r["image_id"], []).append(r)
    by_img_gt: dict[int, list[Mapping[str, Any]]] = {}
    for a in src.gt["annotations"]:
        by_img_gt.setdefault(a["image_id"], []).append(a)
    for im in src.gt["images"]:
        g = {"images": [im], "annotations": by_img_gt.get(im["id"], []), "categories": []}
        cm = detection_confusion_matrix(g, by_img_res.get(im["id"], []), cat_ids, src.iou_type, 0.5, 0.0)
        total += cm
        for r, c in zip(*np.nonzero(cm)):
            cells.setdefault((int(r), int(c)), []).append((int(cm[r, c]), int(im["id"])))
    total.setflags(write=False)
    return total, {k: tuple(i for _n, i in sorted(v, key=lambda t: -t[0])) for k, v in cells.items()}
