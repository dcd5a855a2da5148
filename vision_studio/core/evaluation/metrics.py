"""Classification and semantic-segmentation metrics.

Classification: accuracy, top-k accuracy, per-class precision / recall / F1 with macro and
support-weighted averages, top-k accuracy and the confusion matrix (rows = true class,
columns = predicted), computed with ``sklearn.metrics``.

Semantic segmentation: everything derives from a pixel confusion matrix accumulated over
images with ``np.bincount`` (the approach of torchvision's ``references/segmentation``
``ConfusionMatrix``): per-class IoU = TP / (TP + FP + FN), Dice/F1 = 2 TP / (2 TP + FP +
FN), pixel accuracy = sum(TP) / labelled pixels; pixels labelled ``ignore_index`` (the void
label, 255) are not counted. mIoU / mean Dice average over classes present in the ground
truth or the predictions (classes absent from both are NaN and left out).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from vision_studio.core.errors import ConfigError


def classification_metrics(y_true: Sequence[int] | np.ndarray, y_prob: np.ndarray,
                           class_names: Sequence[str], top_k: Sequence[int] = (1, 5)) -> dict[str, Any]:
    """Metrics of single-label classification.

    Args:
        y_true: [N] int true class indices in 0..C-1.
        y_prob: [N, C] float class probabilities (or scores; only their order matters
            for top-k, the argmax is the prediction).
        class_names: The C class names.
        top_k: The k of the top-k accuracies reported (k >= C gives 1.0; skipped).

    Returns:
        ``{"accuracy", "top_k": {k: acc}, "per_class": [{"name", "precision",
        "recall", "f1", "support"}], "macro": {...}, "weighted": {...},
        "confusion": [C, C] int64 ndarray (rows true, columns predicted),
        "y_pred": [N] int64}``. Precision of a class never predicted is 0 (sklearn's
        ``zero_division=0``).

    Raises:
        ConfigError: shapes that do not agree or labels out of range.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, top_k_accuracy_score

    y_true = np.asarray(y_true, dtype=np.int64)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    C = len(class_names)
    if y_prob.ndim != 2 or y_prob.shape != (y_true.shape[0], C):
        raise ConfigError(f"y_prob must be [N={y_true.shape[0]}, C={C}], got {list(y_prob.shape)}")
    if y_true.size and (y_true.min() < 0 or y_true.max() >= C):
        raise ConfigError(f"y_true holds labels outside 0..{C - 1}")
    labels = np.arange(C)
    y_pred = y_prob.argmax(axis=1) if y_true.size else np.zeros(0, np.int64)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out: dict[str, Any] = {
        "accuracy": float((y_pred == y_true).mean()) if y_true.size else float("nan"),
        "top_k": {},
        "per_class": [{"name": n, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                       "support": int(s[i])} for i, n in enumerate(class_names)],
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).astype(np.int64),
        "y_pred": y_pred.astype(np.int64),
    }
    for k in top_k:
        if k < C and y_true.size:
            # scikit-learn's top-k accuracy; with 2 classes it takes the positive-class score
            score = y_prob[:, 1] if C == 2 else y_prob
            out["top_k"][int(k)] = float(top_k_accuracy_score(y_true, score, k=int(k), labels=labels))
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg,
                                                        zero_division=0)
        out[avg] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    return out


def semantic_confusion(pred: np.ndarray, target: np.ndarray, num_classes: int,
                       ignore_index: int = 255) -> np.ndarray:
    """Pixel confusion matrix of one image (or a batch): add these up over a split.

    Args:
        pred: Predicted labels, int array of any shape (values 0..num_classes-1).
        target: True labels, same shape; ``ignore_index`` marks void pixels.
        num_classes: C.
        ignore_index: The void label (255), not counted.

    Returns:
        [C, C] int64; rows = true class, columns = predicted class.

    Raises:
        ConfigError: shapes differ, or labels out of range (other than the void label).
    """
    pred = np.asarray(pred).ravel().astype(np.int64)
    target = np.asarray(target).ravel().astype(np.int64)
    if pred.shape != target.shape:
        raise ConfigError(f"prediction and target differ in size ({pred.size} vs {target.size} pixels)")
    keep = target != ignore_index
    pred, target = pred[keep], target[keep]
    if target.size and (target.min() < 0 or target.max() >= num_classes or pred.min() < 0
                        or pred.max() >= num_classes):
        raise ConfigError(f"labels outside 0..{num_classes - 1} (void label {ignore_index} aside)")
    return np.bincount(target * num_classes + pred, minlength=num_classes ** 2).reshape(
        num_classes, num_classes).astype(np.int64)


def semantic_metrics(confusion: np.ndarray, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """IoU, Dice, accuracy from an accumulated pixel confusion matrix.

    Args:
        confusion: [C, C] counts, rows true, columns predicted (:func:`semantic_confusion`).
        class_names: Optional names (default ``"0"``, ``"1"``...).

    Returns:
        ``{"pixel_accuracy", "mIoU", "mean_dice", "mean_class_accuracy",
        "per_class": [{"name", "iou", "dice", "accuracy", "pixels"}]}``; a class absent
        from both ground truth and predictions has NaN IoU / Dice and is left out of the
        means; ``accuracy`` (recall) is NaN without ground-truth pixels.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    C = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(C)]
    tp = np.diag(cm)
    gt_pix, pred_pix = cm.sum(1), cm.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        union = gt_pix + pred_pix - tp
        iou = np.where(union > 0, tp / union, np.nan)
        dice = np.where(gt_pix + pred_pix > 0, 2 * tp / (gt_pix + pred_pix), np.nan)
        acc = np.where(gt_pix > 0, tp / gt_pix, np.nan)
    total = cm.sum()

    def _mean(a: np.ndarray) -> float:
        a = a[~np.isnan(a)]
        return float(a.mean()) if a.size else float("nan")

    return {
        "pixel_accuracy": float(tp.sum() / total) if total else float("nan"),
        "mIoU": _mean(iou), "mean_dice": _mean(dice), "mean_class_accuracy": _mean(acc),
        "per_class": [{"name": names[i], "iou": float(iou[i]), "dice": float(dice[i]),
                       "accuracy": float(acc[i]), "pixels": int(gt_pix[i])} for i in range(C)],
    }


def nan_to_none(obj: Any) -> Any:
    """Recursively turn NaN/inf floats into ``None`` and arrays into lists (for JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return nan_to_none(obj.tolist())
    if isinstance(obj, np.generic):
        return nan_to_none(obj.item())
    if isinstance(obj, dict):
        return {str(k): nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [nan_to_none(v) for v in obj]
    return obj
