"""Export of the Evaluation view: the core session's report folder at the panel's current
thresholds (``metrics.json``, ``results.json``, PR-curve PNGs, confusion-matrix PNG, IoU
histogram, overlay PNGs — the files ``vision-studio evaluate`` writes, by the same
code) plus a PNG of the view."""
from __future__ import annotations

from pathlib import Path
from typing import Any

OVERLAYS = 12


def export_report(view: Any, store: Any, score: float, nms: float, out: Path, results: bool = False) -> Path:
    """Write the report of a task view's evaluation into ``out`` (created); with
    ``results``, the evaluated predictions came from a COCO results file (``metrics.json``
    names it as ``"results"``, as ``vision-studio evaluate --results`` does).

    Raises:
        OSError: the folder cannot be written.
    """
    from vision_studio.core.evaluation import report_folder as R
    from vision_studio.core.evaluation.dense import ClassificationResult
    from vision_studio.core.evaluation.export_ids import export_id_maps
    from vision_studio.core.images import read_image

    inputs = view.inputs
    head = {"task": inputs.task, "results" if results else "checkpoint": str(inputs.checkpoint), "split": inputs.split}
    if inputs.is_detection:
        session = view.session
        R.write_detection_report(out, inputs, score, nms, head=head, iou_types=(session.iou_type,),
                                 backend=session.source.backend, confusion_min_score=0.0, ids=export_id_maps(store, inputs.split),
                                 image_reader=lambda im: read_image(store.resolve(im)), overlays=OVERLAYS)
    elif isinstance(view.ev, ClassificationResult):
        R.write_classification_report(out, view.ev, inputs, head)
    else:
        R.write_semantic_report(out, view.ev, head)
    return out
