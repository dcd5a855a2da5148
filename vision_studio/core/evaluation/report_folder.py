"""The report folder of an evaluation session — what ``vision-studio evaluate`` and the
Evaluation panel's "Export report…" write: ``metrics.json``, ``results.json`` (COCO
results in the exported COCO ids, detection), PR-curve PNGs, confusion-matrix PNG(s),
the IoU histogram of matched pairs and overlay PNGs. Callers check the folder first
(:func:`~vision_studio.core.outputs.check_output`); every file is written through a
temporary file renamed into place."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from vision_studio.core.evaluation import report
from vision_studio.core.evaluation.coco_eval import CocoEvalResult, evaluate_coco
from vision_studio.core.evaluation.detection_base import MAX_PER_IMAGE
from vision_studio.core.evaluation.export_ids import ExportIds, to_export_ids
from vision_studio.core.evaluation.outcomes import detection_confusion_matrix
from vision_studio.core.outputs import atomic_write_text


def write_detection_report(out: Path, inputs: Any, score: float, nms: float, *, head: Mapping[str, Any],
                           iou_types: Sequence[str], backend: str, confusion_min_score: float,
                           ids: ExportIds, image_reader: Callable[[Any], np.ndarray],
                           overlays: int, overlay_min_score: float = 0.0) -> list[CocoEvalResult]:
    """Evaluate ``filter(score, nms)`` of a detection session and write its report.

    Args:
        out: The folder (created).
        inputs: A finished :class:`~.session.EvalInputs` (detection / instance segm.).
        score, nms: The thresholds (``score > score`` kept, class-wise NMS IoU).
        head: Fields that start ``metrics.json`` (task, checkpoint, split ...).
        iou_types: ``("bbox",)``, ``("segm",)`` or both.
        backend: COCO evaluation backend.
        confusion_min_score: The confusion matrix counts detections with score >= this.
        ids: Exported COCO ids for ``results.json`` (:func:`~.export_ids.export_id_maps`).
        image_reader: ``ImageRecord`` → HxWx3 uint8 (for the overlays).
        overlays: Overlay PNGs to write (the first images of the split).
        overlay_min_score: Overlays show detections with score >= this.

    Returns:
        One :class:`~.coco_eval.CocoEvalResult` per IoU type (with outcomes).
    """
    out.mkdir(parents=True, exist_ok=True)
    raw, gt = inputs.predictions, inputs.gt.coco
    results = raw.to_coco_results(raw.filter(score, nms, MAX_PER_IMAGE))
    atomic_write_text(out / "results.json", json.dumps(to_export_ids(results, ids)))
    payload: dict[str, Any] = {**head, "score_threshold": score, "nms_iou": nms}
    names = [c["name"] for c in inputs.categories] + ["background"]
    cat_ids = [int(c["id"]) for c in inputs.categories]
    evaluated = []
    for iou_type in iou_types:
        res = evaluate_coco(gt, results, iou_type, backend=backend)
        evaluated.append(res)
        cm = detection_confusion_matrix(gt, results, cat_ids, iou_type, score_threshold=confusion_min_score)
        payload[iou_type] = dict(res.to_dict(), outcomes=res.outcomes.counts(), confusion_matrix=cm)
        report.save_pr_curves(res, out / "pr_curves", prefix=f"pr_{iou_type}")
        report.save_iou_histogram(res.outcomes.matched_ious(), out / f"iou_hist_{iou_type}.png")
        report.save_confusion_matrix(cm, names, out / f"confusion_{iou_type}.png",
                                     title=f"Detection confusion ({iou_type}, IoU 0.5, score >= "
                                           f"{confusion_min_score:.2f})")
    payload["confusion_labels"] = names
    report.write_metrics_json(out / "metrics.json", payload)
    _overlays(inputs, results, out / "overlays", overlays, overlay_min_score, image_reader)
    return evaluated


def _overlays(inputs: Any, results: list[dict], out: Path, limit: int, min_score: float,
              image_reader: Callable[[Any], np.ndarray]) -> None:
    names = {int(c["id"]): c["name"] for c in inputs.categories}
    by_img_gt: dict[int, list] = {}
    for a in inputs.gt.coco["annotations"]:
        by_img_gt.setdefault(a["image_id"], []).append(a)
    by_img: dict[int, list] = {}
    for r in results:
        if r["score"] >= min_score:
            by_img.setdefault(r["image_id"], []).append(r)
    for im in inputs.images[:limit]:
        g, p = by_img_gt.get(im.id, []), by_img.get(im.id, [])
        report.save_overlay(image_reader(im), g, p, names, out / f"{im.id:06d}.png",
                            title=f"{im.path}: {len(p)} predictions (score >= {min_score:g}, solid), "
                                  f"{len(g)} ground truth (dashed)")


def write_classification_report(out: Path, result: Any, inputs: Any, head: Mapping[str, Any]) -> None:
    """``metrics.json`` (metrics and, per labelled image, its true label and
    probabilities) and ``confusion.png`` of a :class:`~.dense.ClassificationResult`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {im.id: im.path for im in inputs.images}
    m = dict(result.metrics)
    m["images"] = [{"image_id": int(i), "path": paths[int(i)], "true": int(t), "probs": p}
                   for i, t, p in zip(result.image_ids, result.y_true, result.probs)]
    report.write_metrics_json(out / "metrics.json", {**head, **m})
    report.save_confusion_matrix(result.metrics["confusion"], list(result.names), out / "confusion.png")


def write_semantic_report(out: Path, result: Any, head: Mapping[str, Any]) -> None:
    """``metrics.json`` (with the pixel confusion) and the row-normalised
    ``confusion.png`` of a :class:`~.dense.SemanticResult`."""
    out.mkdir(parents=True, exist_ok=True)
    report.write_metrics_json(out / "metrics.json", {**head, **result.metrics, "confusion": result.confusion})
    report.save_confusion_matrix(result.confusion, list(result.names), out / "confusion.png", normalize=True,
                                 title="Pixel confusion (row-normalised)")
