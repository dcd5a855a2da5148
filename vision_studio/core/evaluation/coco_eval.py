"""COCO detection / instance-segmentation metrics on in-memory COCO objects.

The numbers are those of the COCO evaluation protocol as implemented by pycocotools'
``COCOeval`` (https://github.com/cocodataset/cocoapi, ``PythonAPI/pycocotools/cocoeval.py``):
10 IoU thresholds 0.50:0.05:0.95, 101 recall points, area ranges all / small (< 32²) /
medium / large (> 96²), ``maxDets`` 1 / 10 / 100. By default the evaluation runs on
faster-coco-eval's ``COCOeval_faster`` (a C++ port of the same algorithm that gives the
same numbers, several times faster); ``backend="pycocotools"`` forces the reference.

Nothing is written to disk: the ground truth is a COCO dict (``images``, ``annotations``,
``categories``) and the results a list of COCO result dicts (``image_id``,
``category_id``, ``bbox`` ``[x, y, w, h]`` pixels and/or ``segmentation`` RLE/polygons,
``score``), exactly what a COCO results JSON file holds.
"""
from __future__ import annotations

import contextlib
import io
import logging
import math
import operator
from collections import deque
import warnings
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from vision_studio.core.errors import ConfigError, VisionStudioError
from vision_studio.core.gcpause import gc_paused
from vision_studio.core.evaluation.matching import ReadOnlyArrays, read_only
from vision_studio.core.evaluation.outcomes import DetectionOutcomes, outcomes_from_evaluator

log = logging.getLogger(__name__)

STAT_NAMES: tuple[str, ...] = (
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
"""Names of ``COCOeval.stats`` in order: AP at IoU .50:.95, .50, .75, AP small / medium /
large, AR with 1 / 10 / 100 detections per image, AR small / medium / large."""

BACKENDS = ("faster", "pycocotools")
IouType = Literal["bbox", "segm"]


class EvaluationError(VisionStudioError):
    """Ground truth or results that cannot be evaluated; the message says why."""


@dataclass(frozen=True)
class ClassAP:
    """Per-category COCO average precision (area "all", 100 detections per image).

    Attributes:
        category_id: The COCO category id.
        name: The category name.
        num_gt: Ground-truth objects of this category that count (not ``iscrowd``).
        ap: AP averaged over IoU .50:.95; NaN when the category has no ground truth.
        ap50: AP at IoU 0.50 (NaN without ground truth).
        ap75: AP at IoU 0.75 (NaN without ground truth).
    """

    category_id: int
    name: str
    num_gt: int
    ap: float
    ap50: float
    ap75: float


@dataclass(frozen=True)
class CocoEvalResult(ReadOnlyArrays):
    """Everything one COCO evaluation produced: plain values and read-only arrays, no
    live ``COCOeval`` (safe to hand to another thread or process, and to pickle).

    Attributes:
        iou_type: ``"bbox"`` or ``"segm"``.
        backend: ``"faster"`` or ``"pycocotools"``.
        stats: The 12 summary numbers by name (:data:`STAT_NAMES`); -1 where COCOeval
            has nothing to average (e.g. no large objects), as pycocotools reports it.
        per_class: One :class:`ClassAP` per evaluated category, in ``category_ids`` order.
        category_ids: The evaluated category ids (sorted, as COCOeval sorts them).
        precision: ``eval['precision']``, float64 [T, R, K, A, M] (IoU thresholds,
            recall points, categories, area ranges, maxDets); -1 = no ground truth.
        scores: ``eval['scores']`` [T, R, K, A, M]: the detection score reached at each
            recall point.
        recall: ``eval['recall']`` [T, K, A, M].
        iou_thresholds: [T] float64 (0.50 ... 0.95).
        recall_thresholds: [R] float64 (0.00 ... 1.00, 101 points).
        computed_outcomes: The per-detection outcomes when they were asked for
            (``evaluate_coco(..., with_outcomes=True)``), else ``None``.
    """

    iou_type: str
    backend: str
    stats: dict[str, float]
    per_class: tuple[ClassAP, ...]
    category_ids: tuple[int, ...]
    precision: np.ndarray
    scores: np.ndarray
    recall: np.ndarray
    iou_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    computed_outcomes: DetectionOutcomes | None = None

    def class_index(self, category_id: int) -> int:
        """Index ``k`` of a category in the K axis of :attr:`precision`.

        Raises:
            KeyError: if the category was not evaluated.
        """
        try:
            return self.category_ids.index(int(category_id))
        except ValueError:
            raise KeyError(f"category {category_id} was not evaluated") from None

    def pr_curve(self, category_id: int, iou: float | str = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The interpolated precision–recall curve of one category (area all, 100 dets).

        Args:
            category_id: COCO category id.
            iou: ``0.5``, ``0.75`` (any value of :attr:`iou_thresholds`) or ``"mean"``
                for the mean over IoU .50:.95.

        Returns:
            ``(recall [R], precision [R], score [R])``; precision is NaN where COCOeval
            stores -1 (no ground truth); ``score`` is the detection score at which each
            recall point is reached (NaN for the mean curve and where undefined).
        """
        k = self.class_index(category_id)
        prec = self.precision[:, :, k, 0, -1].astype(np.float64)
        score = self.scores[:, :, k, 0, -1].astype(np.float64)
        if iou == "mean":
            valid = prec > -1
            with np.errstate(invalid="ignore"):
                y = np.where(valid, prec, 0).sum(0) / valid.sum(0)
            return self.recall_thresholds.copy(), y, np.full_like(y, np.nan)
        t = int(np.argmin(np.abs(self.iou_thresholds - float(iou))))
        if not math.isclose(self.iou_thresholds[t], float(iou), abs_tol=1e-9):
            raise ValueError(f"IoU {iou} is not one of the evaluated thresholds")
        y, s = prec[t], score[t]
        return self.recall_thresholds.copy(), np.where(y > -1, y, np.nan), np.where(y > -1, s, np.nan)

    @property
    def outcomes(self) -> DetectionOutcomes:
        """Per-detection TP / FP and per-ground-truth TP / FN at IoU 0.50, area all,
        100 detections (:class:`~vision_studio.core.evaluation.outcomes.DetectionOutcomes`),
        from COCOeval's own matching.

        Raises:
            EvaluationError: the evaluation ran with ``with_outcomes=False``.
        """
        if self.computed_outcomes is None:
            raise EvaluationError("this evaluation was run without per-detection outcomes")
        return self.computed_outcomes

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible summary (stats, per-class AP, PR curves at .50/.75/mean);
        NaN becomes ``None``."""
        curves = {}
        for c in self.per_class:
            curves[str(c.category_id)] = {
                key: _json_list(self.pr_curve(c.category_id, iou)[1])
                for key, iou in (("iou50", 0.5), ("iou75", 0.75), ("mean", "mean"))}
        return {
            "iou_type": self.iou_type,
            "backend": self.backend,
            "stats": {k: _json_float(v) for k, v in self.stats.items()},
            "per_class": [{"category_id": c.category_id, "name": c.name, "num_gt": c.num_gt,
                           "AP": _json_float(c.ap), "AP50": _json_float(c.ap50),
                           "AP75": _json_float(c.ap75)} for c in self.per_class],
            "recall_thresholds": _json_list(self.recall_thresholds),
            "pr_curves": curves,
        }


def _json_float(v: float) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def _json_list(a: np.ndarray) -> list[float | None]:
    return [_json_float(v) for v in np.asarray(a, dtype=np.float64)]


def _mean_valid(a: np.ndarray) -> float:
    a = a[a > -1]
    return float(a.mean()) if a.size else float("nan")


def _prepare_gt(gt: Mapping[str, Any], iou_type: str) -> dict[str, Any]:
    """A shallow copy of ``gt`` (COCOeval writes into annotation dicts) with the fields
    COCOeval needs filled in where missing: ``iscrowd`` = 0 and ``area`` (mask area for
    segm, else ``w * h``)."""
    for key in ("images", "annotations", "categories"):
        if key not in gt:
            raise EvaluationError(f"ground truth has no {key!r} list")
    anns = []
    for a in gt["annotations"]:
        a = dict(a)
        a.setdefault("iscrowd", 0)
        if "area" not in a:
            a["area"] = _ann_area(a, gt, iou_type)
        anns.append(a)
    out = dict(gt)
    out["annotations"] = anns
    out["images"] = [dict(i) for i in gt["images"]]
    out["categories"] = [dict(c) for c in gt["categories"]]
    return out


def _ann_area(a: dict[str, Any], gt: Mapping[str, Any], iou_type: str) -> float:
    if iou_type == "segm" and a.get("segmentation"):
        from pycocotools import mask as mask_utils

        img = next((i for i in gt["images"] if i["id"] == a["image_id"]), None)
        if img is None:
            raise EvaluationError(f"annotation {a.get('id')} refers to unknown image {a['image_id']}")
        seg = a["segmentation"]
        rle = (mask_utils.merge(mask_utils.frPyObjects(seg, img["height"], img["width"]))
               if isinstance(seg, list) else seg)
        return float(mask_utils.area(rle))
    return float(a["bbox"][2] * a["bbox"][3])


def _check_results(results: Sequence[Mapping[str, Any]], iou_type: str) -> list[dict[str, Any]]:
    """Copies of the result dicts (``COCO.loadRes`` writes into them), each checked for
    the keys the evaluation needs (one C-level pass: ``operator.itemgetter``)."""
    key = "bbox" if iou_type == "bbox" else "segmentation"
    out = list(map(dict, results))
    try:
        deque(map(operator.itemgetter("image_id", "category_id", "score", key), out), maxlen=0)
    except KeyError:
        need = {"image_id", "category_id", "score", key}
        i = next(i for i, r in enumerate(out) if not need <= r.keys())
        raise EvaluationError(
            f"result {i} lacks one of image_id, category_id, score, {key} (needed for {iou_type})") from None
    return out


def _run_pycocotools(gt: dict, results: list[dict], iou_type: str):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    # pycocotools prints progress to stdout; keep it out of the user's console.
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results) if results else _empty_results(COCO, gt)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    log.debug("pycocotools output:\n%s", buf.getvalue())
    return ev


def _empty_results(coco_cls, gt: dict):
    res = coco_cls()
    res.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
    res.createIndex()
    return res


def _run_faster(gt: dict, results: list[dict], iou_type: str):
    from faster_coco_eval import COCO

    from vision_studio.core.evaluation.coco_lean import LeanCOCOeval, load_results

    with contextlib.redirect_stdout(io.StringIO()) as buf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # id-0 warning: logged by evaluate_coco
        coco_gt = COCO(gt)
        coco_dt = load_results(coco_gt, results)
        # one thread for the RLE IoUs: its pool of 8 threads costs CPU time and, GIL-bound,
        # gains no wall time (measured in benchmarks/bench_coco_eval.py)
        ev = LeanCOCOeval(coco_gt, coco_dt, iou_type, print_function=log.debug, rle_iou_max_workers=1)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    log.debug("faster-coco-eval output:\n%s", buf.getvalue())
    return ev


def evaluate_coco(gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]],
                  iou_type: IouType = "bbox", backend: str = "faster", *,
                  with_outcomes: bool = True) -> CocoEvalResult:
    """COCO evaluation of ``results`` against ``gt`` (both in memory).

    Args:
        gt: COCO ground-truth dict with ``images`` (``id``, ``width``, ``height``),
            ``annotations`` (``id`` >= 1 recommended — COCOeval uses annotation ids as
            match markers, so a ground truth with id 0 can never count as matched by a
            detection; ``bbox`` [x, y, w, h] pixels; ``segmentation`` polygons/RLE for
            segm; ``iscrowd`` and ``area`` are filled in when missing) and ``categories``.
            Not modified.
        results: COCO result dicts (``image_id``, ``category_id``, ``score``, and
            ``bbox`` for bbox / ``segmentation`` for segm). Not modified. Detection ids are
            assigned in list order (``id = index + 1``), as ``COCO.loadRes`` does.
        iou_type: ``"bbox"`` or ``"segm"``.
        backend: ``"faster"`` (faster-coco-eval, default) or ``"pycocotools"``.
        with_outcomes: Also read the per-detection outcomes from the evaluator (costs
            a pass over the matches; the numbers and curves do not need it).

    Returns:
        The :class:`CocoEvalResult` (the ``COCOeval`` object is dropped here).

    Raises:
        ConfigError: unknown ``iou_type`` or ``backend``.
        EvaluationError: malformed ground truth or results (missing keys, results on
            images that are not in the ground truth).
    """
    if iou_type not in ("bbox", "segm"):
        raise ConfigError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"evaluation backend must be one of {BACKENDS}, got {backend!r}")
    with gc_paused():
        gt_c = _prepare_gt(gt, iou_type)
        res_c = _check_results(results, iou_type)
    known = {i["id"] for i in gt_c["images"]}
    unknown = {r["image_id"] for r in res_c} - known
    if unknown:
        raise EvaluationError(
            f"{len(unknown)} result image id(s) are not in the ground truth, e.g. {sorted(unknown)[:5]}")
    if any(a.get("id") == 0 for a in gt_c["annotations"]):
        log.warning("ground truth has an annotation with id 0: COCOeval cannot count it as matched")
    runner = _run_faster if backend == "faster" else _run_pycocotools
    # hundreds of thousands of small dicts (results, their index): without a pause the
    # cyclic collector walks them again and again (core.gcpause; bench_coco_eval.py)
    with gc_paused():
        ev = runner(gt_c, res_c, iou_type)
        outcomes = outcomes_from_evaluator(ev, backend) if with_outcomes else None
        return _result_from_evaluator(ev, iou_type, backend, gt_c, outcomes)


def _result_from_evaluator(ev: Any, iou_type: str, backend: str, gt: dict,
                           outcomes: DetectionOutcomes | None) -> CocoEvalResult:
    p = ev.params
    cat_ids = tuple(int(c) for c in p.catIds)
    names = {c["id"]: c.get("name", str(c["id"])) for c in gt["categories"]}
    precision = np.array(ev.eval["precision"], dtype=np.float64)
    num_gt: dict[int, int] = {}
    for a in gt["annotations"]:
        if not a.get("iscrowd", 0):
            num_gt[a["category_id"]] = num_gt.get(a["category_id"], 0) + 1
    t50 = int(np.argmin(np.abs(np.asarray(p.iouThrs) - 0.5)))
    t75 = int(np.argmin(np.abs(np.asarray(p.iouThrs) - 0.75)))
    per_class = []
    for k, cid in enumerate(cat_ids):
        pk = precision[:, :, k, 0, -1]
        per_class.append(ClassAP(category_id=cid, name=str(names.get(cid, cid)),
                                 num_gt=num_gt.get(cid, 0), ap=_mean_valid(pk),
                                 ap50=_mean_valid(pk[t50]), ap75=_mean_valid(pk[t75])))
    stats = np.asarray(ev.stats, dtype=np.float64)[:12]
    arrays = {"precision": precision, "scores": np.array(ev.eval["scores"], dtype=np.float64),
              "recall": np.array(ev.eval["recall"], dtype=np.float64),
              "iou_thresholds": np.array(p.iouThrs, dtype=np.float64),
              "recall_thresholds": np.array(p.recThrs, dtype=np.float64)}
    read_only(*arrays.values())
    return CocoEvalResult(iou_type=iou_type, backend=backend,
                          stats={n: float(v) for n, v in zip(STAT_NAMES, stats)},
                          per_class=tuple(per_class), category_ids=cat_ids, computed_outcomes=outcomes,
                          **arrays)
