"""COCOeval's matching rule and ranked precision / recall: the shared lowest level of the
evaluation package (imported by :mod:`.outcomes` and :mod:`.coco_eval`, importing
neither).

Source of the rule: pycocotools ``COCOeval.evaluateImg`` and ``COCOeval.accumulate``
(https://github.com/cocodataset/cocoapi, ``PythonAPI/pycocotools/cocoeval.py``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

TP, FP, FN, IGNORED = "TP", "FP", "FN", "ignored"
MATCH_IOU = 0.5
AREA_ALL = (0.0, 1e10)


def precision_recall_at_ranks(is_tp: Sequence[bool] | np.ndarray, num_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each ranked detection of one class (not interpolated).

    Args:
        is_tp: [N] bool, one per detection sorted by descending score: whether it is a
            true positive (matched, as COCOeval matches, to a ground truth not matched
            by a higher-scored detection). Ignored detections must be left out.
        num_gt: Number of ground-truth objects of the class that count (> 0).

    Returns:
        ``(precision [N], recall [N])`` float64: after rank ``i``,
        precision = TP(i) / (i + 1) and recall = TP(i) / num_gt (the cumulative sums
        COCOeval's ``accumulate`` builds before interpolation).

    Raises:
        ValueError: if ``num_gt`` < 1.
    """
    if num_gt < 1:
        raise ValueError("num_gt must be at least 1")
    tp = np.cumsum(np.asarray(is_tp, dtype=bool), dtype=np.float64)
    ranks = np.arange(1, tp.size + 1, dtype=np.float64)
    return tp / ranks, tp / float(num_gt)


def greedy_match(ious: np.ndarray, gt_ignore: np.ndarray, gt_crowd: np.ndarray, thr: float) -> np.ndarray:
    """COCOeval's greedy matching at one IoU threshold (``COCOeval.evaluateImg``).

    Args:
        ious: [D, G] float64 IoU, rows = detections by descending score, columns = ground
            truth in any order.
        gt_ignore: [G] bool, ground truth to ignore (crowd or outside the area range).
        gt_crowd: [G] bool, ``iscrowd`` (may be matched by several detections).
        thr: IoU threshold (a match needs IoU >= thr, capped at 1 - 1e-10 as COCOeval).

    Returns:
        [D] int64 column of the matched ground truth, -1 for none. Each detection takes,
        among still-free regular ground truth, the highest IoU (on ties the last
        column in the ignore-last order, as COCOeval's loop); only when none qualifies
        is an ignored one considered.
    """
    D, G = ious.shape
    order = np.argsort(gt_ignore, kind="mergesort")  # regular first, ignored last
    iou_s = ious[:, order]
    ig, crowd = gt_ignore[order], gt_crowd[order]
    thr = min(thr, 1 - 1e-10)
    taken = np.zeros(G, dtype=bool)
    out = np.full(D, -1, dtype=np.int64)
    candidates = np.nonzero(iou_s.max(axis=1) >= thr)[0] if G else []
    for d in candidates:
        row = iou_s[d]
        free = ~(taken & ~crowd)
        for group in (~ig, ig):
            v = np.where(free & group, row, -np.inf)
            best = v.max()
            if best >= thr:
                m = G - 1 - int(np.argmax(v[::-1]))  # last column reaching the max
                taken[m] = True
                out[d] = order[m]
                break
    return out


def read_only(*arrays: np.ndarray) -> None:
    """Mark numpy arrays read-only (``setflags(write=False)``): values handed between
    threads must not change under a reader."""
    for a in arrays:
        if isinstance(a, np.ndarray):
            a.setflags(write=False)


class ReadOnlyArrays:
    """Mixin for frozen dataclasses of numpy arrays: an unpickled copy (e.g. a result
    back from another process) has read-only arrays too (pickle makes them writable)."""

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for v in state.values():
            for a in (v if isinstance(v, tuple) else (v,)):
                if isinstance(a, np.ndarray):
                    a.setflags(write=False)
