"""Classification and semantic-segmentation metrics for the Evaluation view — no Qt.

Both wrap the evaluation core (:func:`~vision_studio.core.evaluation.metrics.
classification_metrics`, :func:`~vision_studio.core.evaluation.metrics.semantic_confusion`
/ :func:`~vision_studio.core.evaluation.metrics.semantic_metrics`) and keep, for every
confusion-matrix cell, the images behind it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class ImageRow:
    """One image of a classification list: true and predicted label, confidence."""

    image_id: int
    true: int
    pred: int
    confidence: float


class ClassificationEvaluator:
    """Accuracy, per-class P/R/F1 and the confusion matrix of per-image probabilities.

    Args:
        pred: ``ClassificationPredictions`` (probabilities [I, C]).
        labels: [I] int64 true labels (-1 = image without a label: left out).
        class_names: The C names.
    """

    def __init__(self, pred: Any, labels: np.ndarray, class_names: Sequence[str]) -> None:
        from vision_studio.core.evaluation.metrics import classification_metrics

        self.pred = pred
        self.names = list(class_names)
        sel = np.asarray(labels) >= 0
        self.image_ids = np.asarray(pred.image_ids)[sel]
        self.y_true = np.asarray(labels)[sel]
        self.probs = np.asarray(pred.probs)[sel]
        self.metrics = classification_metrics(self.y_true, self.probs, self.names)
        self.y_pred = self.metrics["y_pred"]
        self.confidence = self.probs.max(axis=1) if self.probs.size else np.zeros(0)

    def rows(self, kind: str = "all", cell: tuple[int, int] | None = None) -> list[ImageRow]:
        """Images (``"all"`` or ``"wrong"``, or those of one confusion ``cell`` (true,
        predicted)) sorted by descending confidence."""
        sel = np.ones(self.y_true.size, bool)
        if kind == "wrong":
            sel &= self.y_true != self.y_pred
        if cell is not None:
            sel &= (self.y_true == cell[0]) & (self.y_pred == cell[1])
        idx = np.flatnonzero(sel)
        idx = idx[np.argsort(-self.confidence[idx], kind="stable")]
        return [ImageRow(int(self.image_ids[i]), int(self.y_true[i]), int(self.y_pred[i]),
                         float(self.confidence[i])) for i in idx]


class SemanticEvaluator:
    """Pixel confusion (summed over images), IoU / Dice / accuracy, images per cell.

    Args:
        pred: ``SemanticPredictions`` (uint8 label maps).
        gt_maps: The true uint8 label maps (255 = void), same sizes.
        class_names: The C names of the model labels.
    """

    def __init__(self, pred: Any, gt_maps: Sequence[np.ndarray], class_names: Sequence[str]) -> None:
        from vision_studio.core.evaluation.metrics import semantic_confusion, semantic_metrics

        self.pred = pred
        self.names = list(class_names)
        C = len(self.names)
        self.image_ids = np.asarray(pred.image_ids)
        self.per_image = np.stack([semantic_confusion(p, g, C) for p, g in zip(pred.label_maps, gt_maps)]) \
            if len(gt_maps) else np.zeros((0, C, C), np.int64)
        self.confusion = self.per_image.sum(0) if len(gt_maps) else np.zeros((C, C), np.int64)
        self.metrics = semantic_metrics(self.confusion, self.names)
        with np.errstate(invalid="ignore", divide="ignore"):
            tp = np.diagonal(self.per_image, axis1=1, axis2=2).sum(1)
            self.pixel_accuracy = tp / self.per_image.sum((1, 2))

    def cell_images(self, true: int, pred: int) -> list[tuple[int, int]]:
        """``(image id, pixels)`` of the images with pixels of class ``true`` predicted
        as ``pred``, most pixels first."""
        n = self.per_image[:, true, pred]
        idx = np.flatnonzero(n)
        idx = idx[np.argsort(-n[idx], kind="stable")]
        return [(int(self.image_ids[i]), int(n[i])) for i in idx]
