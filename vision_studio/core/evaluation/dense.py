"""Classification and semantic-segmentation results of an evaluation session — no Qt.

Both wrap :func:`~.metrics.classification_metrics` /
:func:`~.metrics.semantic_confusion` + :func:`~.metrics.semantic_metrics` and keep, for
every confusion-matrix cell, the images behind it. Both are frozen (read-only arrays),
built once per evaluation by :func:`classification_result` / :func:`semantic_result`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from vision_studio.core.evaluation.matching import read_only
from vision_studio.core.evaluation.metrics import classification_metrics, semantic_confusion, semantic_metrics


@dataclass(frozen=True)
class ImageRow:
    """One image of a classification list: true and predicted label, confidence."""

    image_id: int
    true: int
    pred: int
    confidence: float


@dataclass(frozen=True)
class ClassificationResult:
    """Accuracy, per-class P/R/F1 and the confusion matrix of per-image probabilities.

    Attributes:
        names: The C class names.
        image_ids: [N] int64 images with a label (others are left out).
        y_true, y_pred: [N] int64; probs: [N, C] float; confidence: [N] max probability.
        metrics: :func:`~.metrics.classification_metrics`' dict.
    """

    names: tuple[str, ...]
    image_ids: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray
    confidence: np.ndarray
    metrics: Mapping[str, Any]

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


def classification_result(inputs: Any) -> ClassificationResult:
    """The :class:`ClassificationResult` of a finished classification
    :class:`~.session.EvalInputs` (images without a label are left out)."""
    pred, labels = inputs.predictions, np.asarray(inputs.gt.labels)
    sel = labels >= 0
    probs = np.asarray(pred.probs)[sel]
    m = classification_metrics(labels[sel], probs, list(inputs.class_names))
    r = ClassificationResult(tuple(inputs.class_names), np.asarray(pred.image_ids)[sel], labels[sel], m["y_pred"],
                             probs, probs.max(axis=1) if probs.size else np.zeros(0), m)
    read_only(r.image_ids, r.y_true, r.y_pred, r.probs, r.confidence)
    return r


@dataclass(frozen=True)
class SemanticResult:
    """Pixel confusion (summed over images), IoU / Dice / accuracy, images per cell.

    Attributes:
        names: The C names of the model labels.
        image_ids: [I] int64.
        per_image: [I, C, C] int64 pixel confusion per image (rows true).
        confusion: [C, C] int64, their sum.
        metrics: :func:`~.metrics.semantic_metrics`' dict.
        pixel_accuracy: [I] float64 per image (NaN without labelled pixels).
    """

    names: tuple[str, ...]
    image_ids: np.ndarray
    per_image: np.ndarray
    confusion: np.ndarray
    metrics: Mapping[str, Any]
    pixel_accuracy: np.ndarray

    def cell_images(self, true: int, pred: int) -> list[tuple[int, int]]:
        """``(image id, pixels)`` of the images with pixels of class ``true`` predicted
        as ``pred``, most pixels first."""
        n = self.per_image[:, true, pred]
        idx = np.flatnonzero(n)
        idx = idx[np.argsort(-n[idx], kind="stable")]
        return [(int(self.image_ids[i]), int(n[i])) for i in idx]


def semantic_result(inputs: Any) -> SemanticResult:
    """The :class:`SemanticResult` of a finished semantic-segmentation
    :class:`~.session.EvalInputs`."""
    pred, gt_maps = inputs.predictions, inputs.gt.maps
    names = tuple(inputs.class_names)
    C = len(names)
    per_image = np.stack([semantic_confusion(p, g, C) for p, g in zip(pred.label_maps, gt_maps)]) \
        if len(gt_maps) else np.zeros((0, C, C), np.int64)
    confusion = per_image.sum(0) if len(gt_maps) else np.zeros((C, C), np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.diagonal(per_image, axis1=1, axis2=2).sum(1) / per_image.sum((1, 2))
    r = SemanticResult(names, np.asarray(pred.image_ids), per_image, confusion,
                       semantic_metrics(confusion, list(names)), acc)
    read_only(r.per_image, r.confusion, r.pixel_accuracy)
    return r
