"""Picks the task view of the Evaluation panel."""
from __future__ import annotations

from typing import Any

from vision_studio.core.types import Task
from vision_studio.gui.panels.evaluate.detection_view import DetectionView
from vision_studio.gui.panels.evaluate.layout import EvalWidgets
from vision_studio.gui.panels.evaluate.views import ClassificationView, SemanticView, TaskView


def make_view(ui: EvalWidgets, store: Any, inputs: Any, session: Any = None) -> TaskView:
    """The view for ``inputs.task`` (detection: with ``session``, a
    :class:`~vision_studio.core.evaluation.detection_session.DetectionSession`, when given)."""
    if inputs.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        return DetectionView(ui, store, inputs, session)
    if inputs.task == Task.CLASSIFICATION:
        return ClassificationView(ui, store, inputs)
    return SemanticView(ui, store, inputs)
