"""The Evaluation view's slow steps as plain functions for the worker thread — no Qt.

Each runs in :class:`~.worker.ComputeQueue`'s thread as ``job(report, stale)``: it reads
the store (whose reads are serialised with its writes by the store's lock), the cached
predictions and the ground truth, and returns frozen dataclasses of plain data and numpy
arrays (core result objects, never a Qt object or a tensor). The GUI thread keeps them
in the evaluator's caches and shows them.

* :func:`open_job` — open a checkpoint on a split: predictions from the cache, ground
  truth from the store, and (detection) the base evaluation at the NMS IoU, reported
  first so the live counts show at once, then AP and the confusion matrix;
* :func:`predicted_job` — the same after a fresh prediction;
* :func:`step_job` — a threshold change that rested: a base for a new NMS IoU (reported
  first), then AP and the confusion matrix at the thresholds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from vision_studio.core.types import Task
from vision_studio.gui.panels.evaluate import data as D
from vision_studio.gui.panels.evaluate.detection import Base, DetectionEvaluator, FullResult, detection_iou_type

Report = Callable[[Any], None]
Stale = Callable[[], bool]


@dataclass(frozen=True)
class OpenResult:
    """An opened evaluation.

    Attributes:
        inputs: The :class:`~.data.EvalInputs`; ``predictions`` is ``None`` when the
            cache had none (the panel then runs the prediction), else ground truth is set.
        evaluator: Detection: the :class:`DetectionEvaluator` with the base for the NMS
            IoU already computed; other tasks: ``None``.
    """

    inputs: D.EvalInputs
    evaluator: DetectionEvaluator | None = None


@dataclass(frozen=True)
class StepResult:
    """One step of a detection evaluation for ``evaluator``: a new ``base`` (partial
    result) or the ``full`` result (AP, confusion matrix) at the thresholds."""

    evaluator: DetectionEvaluator
    base: Base | None = None
    full: FullResult | None = None


def open_job(store: Any, checkpoint: Any, split: str, score: float, nms: float,
             report: Report, stale: Stale) -> OpenResult | StepResult | None:
    """Open ``checkpoint`` on ``split`` (see the module docstring).

    Returns:
        ``OpenResult`` without predictions when the cache has none; else, after
        reporting the ``OpenResult``, the detection ``StepResult`` with the full result
        (``None`` for other tasks or when superseded).

    Raises:
        VisionStudioError: unreadable checkpoint, split without images (one line).
    """
    inputs = D.prepare_inputs(store, checkpoint, split)
    if inputs.predictions is None:
        return OpenResult(inputs)
    return _evaluate(store, inputs, None, score, nms, report, stale)


def predicted_job(store: Any, inputs: D.EvalInputs, predictions: Any, score: float, nms: float,
                  report: Report, stale: Stale) -> StepResult | None:
    """:func:`open_job` after a fresh prediction (``predictions`` are cached on disk)."""
    return _evaluate(store, inputs, predictions, score, nms, report, stale)


def _evaluate(store: Any, inputs: D.EvalInputs, predictions: Any, score: float, nms: float,
              report: Report, stale: Stale) -> StepResult | None:
    D.finish_inputs(store, inputs, predictions)
    if inputs.task not in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        report(OpenResult(inputs))
        return None
    ev = DetectionEvaluator(inputs.predictions, inputs.gt["coco"], detection_iou_type(inputs))
    ev.put_base(ev.compute_base(nms))  # not shared yet: no other thread reads its caches
    report(OpenResult(inputs, ev))
    if stale():
        return None
    return StepResult(ev, full=ev.compute_full(score, nms))


def step_job(ev: DetectionEvaluator, score: float, nms: float, base: Base | None,
             report: Report, stale: Stale) -> StepResult | None:
    """A rested threshold change: the base for ``nms`` when ``base`` is ``None``
    (reported), then AP and the confusion matrix at ``(score, nms)``; ``None`` when
    superseded in between. Touches none of ``ev``'s caches."""
    if base is None:
        report(StepResult(ev, base=ev.compute_base(nms)))
        if stale():
            return None
    return StepResult(ev, full=ev.compute_full(score, nms))
