"""Detection metrics at any score / NMS threshold, from predictions made once — no Qt.

For one NMS IoU the cached raw detections are filtered at the prediction's score floor
(:meth:`RawDetections.filter`) and evaluated once with the evaluation core
(:func:`~vision_studio.core.evaluation.coco_eval.evaluate_coco`, whose per-detection
outcomes follow COCOeval's own matching at IoU 0.50). That "base" evaluation gives the
full precision–recall curves and, cheaply, the TP / FP / FN counts at every higher score
threshold ``t``:

* the detections kept at ``t`` are exactly the base detections with ``score > t`` —
  class-wise NMS and the per-image cap of 100 are greedy in descending score, so on a
  score prefix they decide the same as on the whole set;
* COCOeval matches greedily in descending score too, so the matches of the detections
  above ``t`` do not change when lower-scored ones are removed: a detection is TP/FP at
  ``t`` as in the base, and a ground-truth object is missed (FN) at ``t`` when it was
  missed in the base or its match scores ``<= t``.

So a score-slider move is a few vectorised numpy operations (the tests check the counts
against a full re-evaluation of ``filter(t, nms)``). AP at ``t`` needs the full COCO
evaluation of the filtered detections (:meth:`DetectionEvaluator.coco_at`, cached); a
new NMS IoU needs a new base.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from vision_studio.core.evaluation.outcomes import FN, FP, IGNORED, TP

log = logging.getLogger(__name__)

DEFAULT_SCORE = 0.05
DEFAULT_NMS = 0.5
MAX_PER_IMAGE = 100
LOW_IOU = 0.75
FILTERS = ("all", "FP", "FN", "low_iou", "confusion")


@dataclass
class Base:
    """One evaluation at the prediction floor for one NMS IoU.

    Attributes:
        nms: The NMS IoU.
        keep: [D] int64 raw detection indices, in COCO results order.
        coco: The :class:`CocoEvalResult` of those detections.
        score: [D] float32 raw scores (the exact values the threshold compares).
        cat: [D] int64 category id; img: [D] int64 image id.
        kind: [D] ``"TP"`` / ``"FP"`` / ``"ignored"``; gt_id: [D] matched ground truth
            (-1); iou: [D] IoU of the match (NaN).
        best_iou: [D] largest box IoU with any ground truth of the image (any category);
            best_cat: [D] that ground truth's category (-1 when none).
        g_id, g_img, g_cat: [G] ground truth ids, images, categories; g_kind: [G]
            ``"TP"`` / ``"FN"`` / ``"ignored"``; g_dt_score: [G] score of the matching
            detection (-inf when none).
        by_score: [D] detection order by descending score (stable), computed once.
    """

    nms: float
    keep: np.ndarray
    coco: Any
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
    by_score: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.by_score is None:
            self.by_score = np.argsort(-self.score, kind="stable")


@dataclass(frozen=True)
class ErrorRow:
    """One row of the error list.

    Attributes:
        kind: ``"TP"``, ``"FP"`` or ``"FN"``.
        image_id: Store image id.
        category_id: Category of the detection (FN: of the missed ground truth).
        score: Detection score (NaN for FN).
        iou: IoU with the matched ground truth (TP), or the best IoU with any ground
            truth (FP); NaN for FN.
        raw_index: Index into the raw detections (-1 for FN).
        gt_id: Ground-truth annotation id (-1 for an FP without any overlap).
        other_category: FP overlapping another category's object (a confusion): that
            category, else -1.
    """

    kind: str
    image_id: int
    category_id: int
    score: float
    iou: float
    raw_index: int
    gt_id: int
    other_category: int = -1


@dataclass
class FullResult:
    """The slow part at one score / NMS threshold (plain data, made in a worker thread).

    Attributes:
        score, nms: The thresholds (rounded as the cache keys them).
        coco: The :class:`~vision_studio.core.evaluation.coco_eval.CocoEvalResult` of
            ``filter(score, nms)`` (AP columns, summary).
        confusion: [K + 1, K + 1] int64 confusion matrix (background last), or ``None``
            when not computed; cells: ``{(row, col): [image ids]}`` (or ``None``).
    """

    score: float
    nms: float
    coco: Any
    confusion: np.ndarray | None = None
    cells: dict[tuple[int, int], list[int]] | None = None


def detection_iou_type(inputs: Any) -> str:
    """``"segm"`` for instance segmentation with predicted masks, else ``"bbox"`` (what
    the Evaluation view matches by first)."""
    raw = inputs.predictions
    return "segm" if inputs.task == "instance_segmentation" and raw.masks is not None else "bbox"


def _full_key(score: float, nms: float) -> tuple[float, float]:
    return round(float(score), 6), round(float(nms), 4)


def _best_overlaps(raw: Any, keep: np.ndarray, gt: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """For each kept detection: largest box IoU with any non-crowd ground truth of its
    image (``torchvision.ops.box_iou``) and that object's category."""
    import torch
    from torchvision.ops import box_iou

    best = np.zeros(keep.size)
    cat = np.full(keep.size, -1, dtype=np.int64)
    by_img: dict[int, list[dict]] = {}
    for a in gt["annotations"]:
        if not a.get("iscrowd"):
            by_img.setdefault(a["image_id"], []).append(a)
    img_ids = raw.image_ids[raw.img_index[keep]]
    order = np.argsort(img_ids, kind="stable")
    bounds = np.flatnonzero(np.diff(img_ids[order])) + 1
    for rows in np.split(order, bounds):
        if rows.size == 0:
            continue
        anns = by_img.get(int(img_ids[rows[0]]), [])
        if not anns:
            continue
        g = np.array([a["bbox"] for a in anns], dtype=np.float32)
        g[:, 2:] += g[:, :2]
        ious = box_iou(torch.from_numpy(raw.boxes[keep[rows]]), torch.from_numpy(g)).numpy()
        j = ious.argmax(1)
        best[rows] = ious[np.arange(rows.size), j]
        cat[rows] = np.array([anns[k]["category_id"] for k in j], dtype=np.int64)
    return best, cat


class DetectionEvaluator:
    """Metrics of cached raw detections at any score / NMS threshold.

    Args:
        raw: The :class:`~vision_studio.core.evaluation.predict.RawDetections`.
        gt: The COCO ground-truth dict (store ids).
        iou_type: ``"bbox"`` or ``"segm"``.
        backend: COCO evaluation backend (``"faster"`` or ``"pycocotools"``).

    Threads: :meth:`compute_base` and :meth:`compute_full` only read the raw detections
    and the ground truth (never modified) and touch no cache, so a worker thread may run
    them while the GUI thread reads the caches; :meth:`put_base` / :meth:`put_full` (and
    the methods that compute on a cache miss: :meth:`base`, :meth:`coco_at`,
    :meth:`confusion`) belong to one thread, the GUI thread.
    """

    def __init__(self, raw: Any, gt: dict[str, Any], iou_type: str = "bbox",
                 backend: str = "faster") -> None:
        self.raw = raw
        self.gt = gt
        self.iou_type = iou_type
        self.backend = backend
        self.category_ids = [int(c["id"]) for c in gt["categories"]]
        self._bases: OrderedDict[float, Base] = OrderedDict()
        self._coco: OrderedDict[tuple[float, float], FullResult] = OrderedDict()

    # ------------------------------------------------------------------ evaluation
    def results(self, keep: np.ndarray) -> list[dict[str, Any]]:
        """COCO results of raw detections ``keep`` (masks only for segm)."""
        return self.raw.to_coco_results(keep, with_masks=self.iou_type == "segm")

    def has_base(self, nms: float) -> bool:
        """Whether the base evaluation for ``nms`` is computed (no work)."""
        return round(float(nms), 4) in self._bases

    def cached_base(self, nms: float) -> Base | None:
        """The base for ``nms`` when computed, else ``None`` (no work, no cache change)."""
        return self._bases.get(round(float(nms), 4))

    def put_base(self, b: Base) -> None:
        """Keep a base made by :meth:`compute_base` (call from the thread that reads the
        caches — the GUI thread); a few are kept."""
        self._bases[b.nms] = b
        self._bases.move_to_end(b.nms)
        while len(self._bases) > 4:
            self._bases.popitem(last=False)

    def base(self, nms: float) -> Base:
        """The base evaluation for ``nms`` (computed here when not cached; a few kept)."""
        key = round(float(nms), 4)
        if key in self._bases:
            self._bases.move_to_end(key)
            return self._bases[key]
        b = self.compute_base(key)
        self.put_base(b)
        return b

    def compute_base(self, nms: float) -> Base:
        """Compute the base evaluation for ``nms`` without touching the caches: reads only
        the raw detections and the ground truth, so it may run in a worker thread."""
        from vision_studio.core.evaluation.coco_eval import evaluate_coco

        key = round(float(nms), 4)
        keep = self.raw.filter(self.raw.score_floor, key, MAX_PER_IMAGE)
        keep = keep[self.raw.category_ids()[keep] >= 0]
        coco = evaluate_coco(self.gt, self.results(keep), self.iou_type, self.backend)
        o = coco.outcomes
        coco.release_evaluator()  # curves and outcomes kept; millions of objects less for the GC
        rows = o.dt_id - 1  # COCO.loadRes numbers results 1..D in list order
        kind = np.full(keep.size, IGNORED, dtype="<U7")
        gt_id = np.full(keep.size, -1, dtype=np.int64)
        iou = np.full(keep.size, np.nan)
        kind[rows], gt_id[rows], iou[rows] = o.dt_kind, o.dt_gt_id, o.dt_iou
        score = self.raw.scores[keep]
        pos = np.full(int(o.dt_id.max(initial=0)) + 1, -1, dtype=np.int64)
        pos[o.dt_id] = rows
        g_score = np.full(o.gt_id.size, -np.inf)
        has = o.gt_dt_id > 0
        g_score[has] = score[pos[o.gt_dt_id[has]]]
        best, best_cat = _best_overlaps(self.raw, keep, self.gt)
        return Base(nms=key, keep=keep, coco=coco, score=score,
                    cat=self.raw.category_ids()[keep], img=self.raw.image_ids[self.raw.img_index[keep]],
                    kind=kind, gt_id=gt_id, iou=iou, best_iou=best, best_cat=best_cat,
                    g_id=o.gt_id, g_img=o.gt_image_id, g_cat=o.gt_category_id, g_kind=o.gt_kind,
                    g_dt_score=g_score)

    def kept(self, score: float, nms: float) -> np.ndarray:
        """Raw indices of the detections shown at these thresholds (equal to
        ``raw.filter(score, nms)`` as a set)."""
        b = self.base(nms)
        return b.keep[b.score > score]

    def counts(self, score: float, nms: float) -> dict[int, dict[str, int]]:
        """``{category_id: {"TP", "FP", "FN", "GT"}}`` at IoU 0.50 and these thresholds,
        plus key ``-1`` for all categories together."""
        b = self.base(nms)
        on = b.score > score
        g_fn = self.missed(score, nms)
        cats = np.asarray(self.category_ids, dtype=np.int64)
        out: dict[int, dict[str, int]] = {}
        for cid in cats:
            d, g = b.cat == cid, b.g_cat == cid
            out[int(cid)] = {TP: int((on & d & (b.kind == TP)).sum()),
                             FP: int((on & d & (b.kind == FP)).sum()),
                             FN: int((g & g_fn).sum()), "GT": int((g & (b.g_kind != IGNORED)).sum())}
        out[-1] = {k: sum(v[k] for c, v in out.items()) for k in (TP, FP, FN, "GT")}
        return out

    def coco_at(self, score: float, nms: float) -> Any:
        """The full COCO evaluation of ``filter(score, nms)`` (a few cached; without its
        COCOeval object, so without per-detection ``outcomes``)."""
        key = _full_key(score, nms)
        if key not in self._coco:
            self.put_full(self.compute_full(score, nms, with_confusion=False))
        return self._coco[key].coco

    def cached_full(self, score: float, nms: float) -> FullResult | None:
        """The :class:`FullResult` at these thresholds when computed with the confusion
        matrix, else ``None`` (no work)."""
        r = self._coco.get(_full_key(score, nms))
        return r if r is not None and r.confusion is not None else None

    def put_full(self, r: FullResult) -> None:
        """Keep a result of :meth:`compute_full` (from the GUI thread); a few are kept."""
        key = _full_key(r.score, r.nms)
        old = self._coco.get(key)
        if old is not None and r.confusion is None and old.confusion is not None:
            return  # keep the one with the confusion matrix
        self._coco[key] = r
        self._coco.move_to_end(key)
        while len(self._coco) > 8:
            self._coco.popitem(last=False)

    def compute_full(self, score: float, nms: float, with_confusion: bool = True) -> FullResult:
        """COCO evaluation (AP) of ``filter(score, nms)`` and, with ``with_confusion``, the
        confusion matrix of the same detections, without touching the caches (may run in
        a worker thread)."""
        from vision_studio.core.evaluation.coco_eval import evaluate_coco

        key = _full_key(score, nms)
        keep = self.raw.filter(key[0], key[1], MAX_PER_IMAGE)
        res = self.results(keep)
        coco = evaluate_coco(self.gt, res, self.iou_type, self.backend)
        coco.release_evaluator()  # numbers and curves kept (outcomes: see export)
        cm, cells = self._confusion_of(res) if with_confusion else (None, None)
        return FullResult(key[0], key[1], coco, cm, cells)

    # ------------------------------------------------------------------ errors
    def errors(self, kind: str, score: float, nms: float, low_iou: float = LOW_IOU,
               limit: int | None = None) -> list[ErrorRow]:
        """The rows of one filter of :data:`FILTERS` at these thresholds: ``"FP"``,
        ``"low_iou"`` (TP with IoU < ``low_iou``), ``"confusion"`` (FP overlapping another
        category's object by IoU >= 0.5) and ``"all"`` (every shown detection) sorted by
        descending score; ``"FN"`` (missed objects) by image. With ``limit``, only the
        first ``limit`` rows (see :meth:`error_count` for the total)."""
        b = self.base(nms)
        if kind == FN:
            return self._fn_rows(b, score, limit)
        idx = self._error_index(b, kind, score, low_iou)[:limit]
        rows = []
        for i in idx:
            tp = b.kind[i] == TP
            other = int(b.best_cat[i]) if (not tp and b.best_iou[i] >= 0.5 and b.best_cat[i] != b.cat[i]) else -1
            rows.append(ErrorRow(str(b.kind[i]), int(b.img[i]), int(b.cat[i]), float(b.score[i]),
                                 float(b.iou[i] if tp else b.best_iou[i]), int(b.keep[i]),
                                 int(b.gt_id[i]), other))
        return rows

    def missed(self, score: float, nms: float) -> np.ndarray:
        """[G] bool: ground truth missed (FN) at these thresholds (order of
        ``base(nms).g_id``)."""
        b = self.base(nms)
        return (b.g_kind == FN) | ((b.g_kind == TP) & ~(b.g_dt_score > score))

    def error_count(self, kind: str, score: float, nms: float, low_iou: float = LOW_IOU) -> int:
        """Number of rows :meth:`errors` has for ``kind`` without a limit."""
        b = self.base(nms)
        if kind == FN:
            return int(self.missed(score, nms).sum())
        return int(self._error_index(b, kind, score, low_iou).size)

    @staticmethod
    def _error_index(b: Base, kind: str, score: float, low_iou: float) -> np.ndarray:
        on = b.score > score
        if kind == FP:
            sel = on & (b.kind == FP)
        elif kind == "low_iou":
            sel = on & (b.kind == TP) & (b.iou < low_iou)
        elif kind == "confusion":
            sel = on & (b.kind == FP) & (b.best_iou >= 0.5) & (b.best_cat != b.cat)
        else:
            sel = on & (b.kind != IGNORED)
        return b.by_score[sel[b.by_score]]  # descending score, no sort per call

    def _fn_rows(self, b: Base, score: float, limit: int | None) -> list[ErrorRow]:
        idx = np.flatnonzero(self.missed(score, b.nms))
        idx = idx[np.lexsort((b.g_id[idx], b.g_img[idx]))][:limit]
        return [ErrorRow(FN, int(b.g_img[i]), int(b.g_cat[i]), float("nan"), float("nan"), -1,
                         int(b.g_id[i])) for i in idx]

    def detection_info(self, raw_index: int, nms: float) -> tuple[str, int, float]:
        """``(kind, matched gt id, IoU)`` of one raw detection in the base (``"-"`` when
        NMS removed it)."""
        b = self.base(nms)
        hit = np.flatnonzero(b.keep == raw_index)
        if not hit.size:
            return "-", -1, float("nan")
        i = hit[0]
        return str(b.kind[i]), int(b.gt_id[i]), float(b.iou[i] if b.kind[i] == TP else b.best_iou[i])

    # ------------------------------------------------------------------ confusion
    def confusion(self, score: float, nms: float) -> tuple[np.ndarray, dict[tuple[int, int], list[int]]]:
        """Detection confusion matrix (core's rule, IoU 0.50, background last) of the
        detections at these thresholds, and the images behind each cell
        (``{(row, col): [image ids]}``, most counts first)."""
        r = self.cached_full(score, nms)
        if r is None:
            r = self.compute_full(score, nms)
            self.put_full(r)
        return r.confusion, r.cells

    def _confusion_of(self, res: list[dict[str, Any]]) -> tuple[np.ndarray, dict[tuple[int, int], list[int]]]:
        from vision_studio.core.evaluation.outcomes import detection_confusion_matrix

        K = len(self.category_ids)
        total = np.zeros((K + 1, K + 1), dtype=np.int64)
        cells: dict[tuple[int, int], list[tuple[int, int]]] = {}
        by_img_res: dict[int, list[dict]] = {}
        for r in res:
            by_img_res.setdefault(r["image_id"], []).append(r)
        by_img_gt: dict[int, list[dict]] = {}
        for a in self.gt["annotations"]:
            by_img_gt.setdefault(a["image_id"], []).append(a)
        for im in self.gt["images"]:
            g = {"images": [im], "annotations": by_img_gt.get(im["id"], []), "categories": []}
            cm = detection_confusion_matrix(g, by_img_res.get(im["id"], []), self.category_ids,
                                            self.iou_type, 0.5, 0.0)
            total += cm
            for r, c in zip(*np.nonzero(cm)):
                cells.setdefault((int(r), int(c)), []).append((int(cm[r, c]), int(im["id"])))
        return total, {k: [i for _n, i in sorted(v, key=lambda t: -t[0])] for k, v in cells.items()}
