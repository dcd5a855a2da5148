"""Export of the Evaluation view: the evaluation core's report folder at the panel's
current thresholds (``metrics.json``, PR-curve PNGs, confusion-matrix PNG, IoU histogram,
overlay PNGs — the files ``vision-studio evaluate`` writes) plus a PNG of the view."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from vision_studio.core.types import Task

OVERLAYS = 12


def export_report(panel: Any, out: Path) -> Path:
    """Write the report of the panel's last evaluation into ``out`` (created).

    Raises:
        VisionStudioError: nothing evaluated yet; OSError: the folder cannot be written.
    """
    from vision_studio.core.errors import VisionStudioError
    from vision_studio.core.evaluation import report

    view, inputs = panel.view, panel.inputs
    if view is None or inputs is None:
        raise VisionStudioError("nothing evaluated yet")
    out.mkdir(parents=True, exist_ok=True)
    head = {"task": inputs.task, "checkpoint": str(inputs.checkpoint), "split": inputs.split}
    if inputs.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        _detection(panel, view, out, head)
    elif inputs.task == Task.CLASSIFICATION:
        m = view.ev.metrics
        report.write_metrics_json(out / "metrics.json", {**head, **m})
        report.save_confusion_matrix(m["confusion"], view.ev.names, out / "confusion.png")
    else:
        m = view.ev.metrics
        report.write_metrics_json(out / "metrics.json", {**head, **m, "confusion": view.ev.confusion})
        report.save_confusion_matrix(view.ev.confusion, view.ev.names, out / "confusion.png", normalize=True,
                                     title="Pixel confusion (row-normalised)")
    panel.save_view_png(out / "view.png")
    return out


def _detection(panel: Any, view: Any, out: Path, head: dict[str, Any]) -> None:
    from vision_studio.core.evaluation import report
    from vision_studio.core.images import read_image

    from vision_studio.core.evaluation.coco_eval import evaluate_coco

    ev = view.evaluator
    keep = view.raw.filter(panel.score, panel.nms)
    results = ev.results(keep)
    # a fresh evaluation (as ``vision-studio evaluate``): the cached ones keep no COCOeval
    # object, which the per-detection outcomes (TP/FP/FN, IoU histogram) come from
    res = evaluate_coco(ev.gt, results, ev.iou_type, ev.backend)
    cm, _cells = ev.confusion(panel.score, panel.nms)
    names = [view.names[c] for c in ev.category_ids]
    payload = {**head, "score_threshold": panel.score, "nms_iou": panel.nms,
               ev.iou_type: dict(res.to_dict(), outcomes=res.outcomes.counts(), confusion_matrix=cm),
               "confusion_labels": names + ["background"]}
    report.write_metrics_json(out / "metrics.json", payload)
    report.save_pr_curves(res, out / "pr_curves", prefix=f"pr_{ev.iou_type}")
    report.save_iou_histogram(res.outcomes.matched_ious(), out / f"iou_hist_{ev.iou_type}.png")
    report.save_confusion_matrix(cm, names + ["background"], out / f"confusion_{ev.iou_type}.png",
                                 title=f"Detection confusion ({ev.iou_type}, IoU 0.5, score > {panel.score:.3f})")
    by_img: dict[int, list[dict]] = {}
    for r in results:
        by_img.setdefault(r["image_id"], []).append(r)
    for im in view.inputs.images[:OVERLAYS]:
        report.save_overlay(read_image(view.store.resolve(im)), view.gt_by_image.get(im.id, []),
                            by_img.get(im.id, []), view.names, out / "overlays" / f"{im.id:06d}.png",
                            title=f"{im.path} (score > {panel.score:.3f})")
