"""Detection metrics at any score / NMS threshold, from predictions made once — no Qt.

:class:`DetectionSession` keeps the slow results of :mod:`.detection_base` (bases per NMS
IoU, full results per threshold pair; a few of each in ``cachetools.LRUCache`` s) and
answers the live questions from them with a few vectorised numpy operations: TP / FP /
FN counts per category, the detections shown, the error lists (false positives, missed
objects, low-IoU matches, confusions). The tests check the counts against a full
re-evaluation of ``filter(t, nms)``.

Threads: a session belongs to one thread (the GUI thread). Worker threads run
:func:`~.detection_base.compute_base` / :func:`~.detection_base.compute_full` on its
frozen :attr:`DetectionSession.source` and hand back frozen results for
:meth:`~DetectionSession.put_base` / :meth:`~DetectionSession.put_full`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from cachetools import LRUCache

from vision_studio.core.evaluation.coco_eval import CocoEvalResult
from vision_studio.core.evaluation.detection_base import (Base, DetectionSource, FullResult, compute_base,
                                                         compute_full, full_key, nms_key)
from vision_studio.core.evaluation.matching import FN, FP, IGNORED, TP

LOW_IOU = 0.75
FILTERS = ("all", "FP", "FN", "low_iou", "confusion")


@dataclass(frozen=True)
class ErrorRow:
    """One row of an error list.

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


def detection_iou_type(task: str, raw: Any) -> str:
    """``"segm"`` for instance segmentation with predicted masks, else ``"bbox"``."""
    return "segm" if task == "instance_segmentation" and raw.masks is not None else "bbox"


class DetectionSession:
    """Metrics of cached raw detections at any score / NMS threshold.

    Args:
        source: The frozen :class:`~.detection_base.DetectionSource`.

    Methods that need a base or full result compute it in the calling thread on a cache
    miss (:meth:`base`, :meth:`coco_at`, :meth:`confusion`); the ``cached_*`` ones never
    compute.
    """

    def __init__(self, source: DetectionSource) -> None:
        self.source = source
        self._bases: LRUCache = LRUCache(maxsize=4)
        self._full: LRUCache = LRUCache(maxsize=8)

    @property
    def raw(self) -> Any:
        """The raw detections."""
        return self.source.raw

    @property
    def gt(self) -> Any:
        """The COCO ground-truth dict."""
        return self.source.gt

    @property
    def iou_type(self) -> str:
        """``"bbox"`` or ``"segm"``."""
        return self.source.iou_type

    @property
    def category_ids(self) -> tuple[int, ...]:
        """The evaluated category ids."""
        return self.source.category_ids

    # ------------------------------------------------------------------ caches
    def has_base(self, nms: float) -> bool:
        """Whether the base evaluation for ``nms`` is computed (no work)."""
        return nms_key(nms) in self._bases

    def cached_base(self, nms: float) -> Base | None:
        """The base for ``nms`` when computed, else ``None`` (no work)."""
        return self._bases.get(nms_key(nms))

    def put_base(self, b: Base) -> None:
        """Keep a base made by :func:`~.detection_base.compute_base`."""
        self._bases[b.nms] = b

    def base(self, nms: float) -> Base:
        """The base evaluation for ``nms`` (computed here when not cached)."""
        b = self.cached_base(nms)
        if b is None:
            b = compute_base(self.source, nms)
            self.put_base(b)
        return b

    def cached_full(self, score: float, nms: float) -> FullResult | None:
        """The :class:`FullResult` at these thresholds when computed with the confusion
        matrix, else ``None`` (no work)."""
        r = self._full.get(full_key(score, nms))
        return r if r is not None and r.confusion is not None else None

    def put_full(self, r: FullResult) -> None:
        """Keep a result of :func:`~.detection_base.compute_full`."""
        key = full_key(r.score, r.nms)
        old = self._full.get(key)
        if old is not None and r.confusion is None and old.confusion is not None:
            return  # keep the one with the confusion matrix
        self._full[key] = r

    def coco_at(self, score: float, nms: float) -> CocoEvalResult:
        """The COCO evaluation of ``filter(score, nms)`` (computed here when not cached)."""
        r = self._full.get(full_key(score, nms))
        if r is None:
            r = compute_full(self.source, score, nms, with_confusion=False)
            self.put_full(r)
        return r.coco

    def full(self, score: float, nms: float) -> FullResult:
        """The full result with the confusion matrix (computed here when not cached)."""
        r = self.cached_full(score, nms)
        if r is None:
            r = compute_full(self.source, score, nms)
            self.put_full(r)
        return r

    # ------------------------------------------------------------------ live queries
    def kept(self, score: float, nms: float) -> np.ndarray:
        """Raw indices of the detections shown at these thresholds (equal to
        ``raw.filter(score, nms)`` as a set)."""
        b = self.base(nms)
        return b.keep[b.score > score]

    def missed(self, score: float, nms: float) -> np.ndarray:
        """[G] bool: ground truth missed (FN) at these thresholds (order of
        ``base(nms).g_id``)."""
        b = self.base(nms)
        return (b.g_kind == FN) | ((b.g_kind == TP) & ~(b.g_dt_score > score))

    def counts(self, score: float, nms: float) -> dict[int, dict[str, int]]:
        """``{category_id: {"TP", "FP", "FN", "GT"}}`` at IoU 0.50 and these thresholds,
        plus key ``-1`` for all categories together."""
        b = self.base(nms)
        on = b.score > score
        tp, fp = on & (b.kind == TP), on & (b.kind == FP)  # string compares once, not per category
        g_fn, g_in = self.missed(score, nms), b.g_kind != IGNORED
        out: dict[int, dict[str, int]] = {}
        for cid in self.category_ids:
            d, g = b.cat == cid, b.g_cat == cid
            out[int(cid)] = {TP: int((tp & d).sum()), FP: int((fp & d).sum()),
                             FN: int((g & g_fn).sum()), "GT": int((g & g_in).sum())}
        out[-1] = {k: sum(v[k] for v in out.values()) for k in (TP, FP, FN, "GT")}
        return out

    def errors(self, kind: str, score: float, nms: float, low_iou: float = LOW_IOU,
               limit: int | None = None) -> list[ErrorRow]:
        """The rows of one filter of :data:`FILTERS` at these thresholds: ``"FP"``,
        ``"low_iou"`` (TP with IoU < ``low_iou``), ``"confusion"`` (FP overlapping another
        category's object by IoU >= 0.5) and ``"all"`` (every shown detection) sorted by
        descending score; ``"FN"`` (missed objects) by image. With ``limit``, only the
        first ``limit`` rows (see :meth:`error_count` for the total)."""
        b = self.base(nms)
        if kind == FN:
            idx = np.flatnonzero(self.missed(score, nms))
            idx = idx[np.lexsort((b.g_id[idx], b.g_img[idx]))][:limit]
            return [ErrorRow(FN, int(b.g_img[i]), int(b.g_cat[i]), float("nan"), float("nan"), -1,
                             int(b.g_id[i])) for i in idx]
        rows = []
        for i in self._error_index(b, kind, score, low_iou)[:limit]:
            tp = b.kind[i] == TP
            other = int(b.best_cat[i]) if (not tp and b.best_iou[i] >= 0.5 and b.best_cat[i] != b.cat[i]) else -1
            rows.append(ErrorRow(str(b.kind[i]), int(b.img[i]), int(b.cat[i]), float(b.score[i]),
                                 float(b.iou[i] if tp else b.best_iou[i]), int(b.keep[i]), int(b.gt_id[i]), other))
        return rows

    def error_count(self, kind: str, score: float, nms: float, low_iou: float = LOW_IOU) -> int:
        """Number of rows :meth:`errors` has for ``kind`` without a limit."""
        if kind == FN:
            return int(self.missed(score, nms).sum())
        return int(self._error_index(self.base(nms), kind, score, low_iou).size)

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

    def per_image_counts(self, score: float, nms: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(TP, FP, FN)`` [I] int64 per image of ``raw.image_ids`` at these thresholds."""
        base = self.base(nms)
        on = base.score > score
        ids = np.asarray(self.raw.image_ids)
        sorter = np.argsort(ids)
        img_pos = sorter[np.searchsorted(ids, base.img, sorter=sorter)]
        tp = np.bincount(img_pos[on & (base.kind == TP)], minlength=ids.size)
        fp = np.bincount(img_pos[on & (base.kind == FP)], minlength=ids.size)
        missed = self.missed(score, nms)
        fn = np.bincount(sorter[np.searchsorted(ids, base.g_img[missed], sorter=sorter)], minlength=ids.size)
        return tp, fp, fn

    def detection_info(self, raw_index: int, nms: float) -> tuple[str, int, float]:
        """``(kind, matched gt id, IoU)`` of one raw detection in the base (``"-"`` when
        NMS removed it)."""
        b = self.base(nms)
        hit = np.flatnonzero(b.keep == raw_index)
        if not hit.size:
            return "-", -1, float("nan")
        i = hit[0]
        return str(b.kind[i]), int(b.gt_id[i]), float(b.iou[i] if b.kind[i] == TP else b.best_iou[i])
