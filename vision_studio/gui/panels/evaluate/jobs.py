"""The Evaluation panel's slow steps as plain functions for the worker thread — no Qt.

Each runs in :class:`~.worker.ComputeQueue`'s thread as ``job(report, stale)``. A job that
reads the project opens its OWN store connection (``ProjectStore.open`` in the worker;
never the GUI thread's), and every value it reports or returns is frozen — the core
session's :class:`~vision_studio.core.evaluation.session.EvalInputs`,
:class:`~vision_studio.core.evaluation.detection_base.Base` /
:class:`~vision_studio.core.evaluation.detection_base.FullResult` and this module's
results (plain values and read-only numpy arrays, never a Qt object, a tensor or a live
``COCOeval``).

* :func:`open_job` — open a checkpoint on a split: predictions from the cache, ground
  truth from the store, and (detection) the base evaluation at the NMS IoU, reported
  first so the live counts show at once, then AP and the confusion matrix;
* :func:`predicted_job` — the same after a fresh prediction;
* :func:`results_job` — the same for a COCO results file made by another tool
  (:func:`~vision_studio.core.evaluation.external_results.results_inputs`);
* :func:`step_job` — a threshold change that rested: a base for a new NMS IoU (reported
  first), then AP and the confusion matrix at the thresholds.

The COCO evaluations themselves go to ``compute`` — the panel passes the shared
:class:`~vision_studio.core.evaluation.compute_process.ComputeProcess`, whose child
process holds no GIL of the GUI's; the worker thread only waits for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from vision_studio.core.evaluation.compute_process import InThread
from vision_studio.core.evaluation.detection_base import Base, DetectionSource, FullResult
from vision_studio.core.evaluation.detection_session import detection_iou_type
from vision_studio.core.evaluation.session import EvalInputs, finish_inputs, prepare_inputs
from vision_studio.core.store import ProjectStore

Report = Callable[[Any], None]
Stale = Callable[[], bool]


@dataclass(frozen=True)
class OpenResult:
    """An opened evaluation.

    Attributes:
        inputs: The :class:`EvalInputs`; ``predictions`` is ``None`` when the cache had
            none (the panel then runs the prediction), else the ground truth is set.
        source: Detection: what the session evaluates; base: its base evaluation at the
            NMS IoU. Other tasks: ``None``.
    """

    inputs: EvalInputs
    source: DetectionSource | None = None
    base: Base | None = None


@dataclass(frozen=True)
class StepResult:
    """One step of a detection evaluation of ``source``: a new ``base`` (partial result)
    or the ``full`` result (AP, confusion matrix) at the thresholds."""

    source: DetectionSource
    base: Base | None = None
    full: FullResult | None = None


def open_job(compute: InThread, project: Path, checkpoint: Any, split: str, score: float, nms: float,
             report: Report, stale: Stale) -> OpenResult | StepResult | None:
    """Open ``checkpoint`` on ``split`` of the project file ``project``.

    Returns:
        ``OpenResult`` without predictions when the cache has none; else, after
        reporting the ``OpenResult``, the detection ``StepResult`` with the full result
        (``None`` for other tasks or when superseded).

    Raises:
        VisionStudioError: unreadable checkpoint, split without images (one line).
    """
    with ProjectStore.open(project) as store:
        inputs = prepare_inputs(store, checkpoint, split)
        if inputs.predictions is None:
            return OpenResult(inputs)
        inputs = finish_inputs(store, inputs)
        backend = store.get_setting("evaluation_backend", "faster")
    return _evaluate(compute, inputs, backend, score, nms, report, stale)


def predicted_job(compute: InThread, project: Path, inputs: EvalInputs, predictions: Any, score: float, nms: float,
                  report: Report, stale: Stale) -> StepResult | None:
    """:func:`open_job` after a fresh prediction (``predictions`` are cached on disk)."""
    with ProjectStore.open(project) as store:
        inputs = finish_inputs(store, inputs, predictions)
        backend = store.get_setting("evaluation_backend", "faster")
    return _evaluate(compute, inputs, backend, score, nms, report, stale)


def results_job(compute: InThread, project: Path, results_file: Path, split: str, score: float, nms: float,
                report: Report, stale: Stale) -> StepResult | None:
    """:func:`open_job` for predictions made elsewhere: the COCO results file
    ``results_file`` read against ``split`` of the project (no model, no cache).

    Raises:
        ConfigError: unreadable / not JSON / not a list of results, a result naming an
            image outside the split or an unknown category, a project without boxes or
            masks (the core's one-line message, naming the file).
    """
    from vision_studio.core.evaluation.external_results import results_inputs

    with ProjectStore.open(project) as store:
        inputs = results_inputs(store, results_file, split)
        backend = store.get_setting("evaluation_backend", "faster")
    return _evaluate(compute, inputs, backend, score, nms, report, stale)


def _evaluate(compute: InThread, inputs: EvalInputs, backend: str, score: float, nms: float,
              report: Report, stale: Stale) -> StepResult | None:
    if not inputs.is_detection:
        report(OpenResult(inputs))
        return None
    src = DetectionSource(inputs.predictions, inputs.gt.coco, detection_iou_type(inputs.task, inputs.predictions),
                          backend)
    report(OpenResult(inputs, src, compute.base(src, nms)))
    if stale():
        return None
    return StepResult(src, full=compute.full(src, score, nms))


def step_job(compute: InThread, src: DetectionSource, score: float, nms: float, need_base: bool,
             report: Report, stale: Stale) -> StepResult | None:
    """A rested threshold change: the base for ``nms`` when ``need_base`` (reported),
    then AP and the confusion matrix at ``(score, nms)``; ``None`` when superseded in
    between."""
    if need_base:
        report(StepResult(src, base=compute.base(src, nms)))
        if stale():
            return None
    return StepResult(src, full=compute.full(src, score, nms))
