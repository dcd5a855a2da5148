"""Label errors of a classification project: Confident Learning on out-of-fold
probabilities of linear probes.

Method (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in
Dataset Labels", JAIR 2021; the ``cleanlab`` library):

1. Each image's backbone features (see :mod:`.features`) are standardised and a
   multinomial logistic regression (L2, lbfgs: the same head as
   :mod:`vision_studio.core.models.linear_probe`) is fitted in K stratified folds; every
   image gets the class probabilities of the probe that did *not* see it (out of fold).
2. ``cleanlab.filter.find_label_issues`` flags the images whose given label the
   out-of-fold probabilities contradict (``prune_by_noise_rate``), and
   ``cleanlab.rank.get_label_quality_scores`` (self-confidence: the probability of the
   given label) ranks them; an issue's ``score`` is ``1 - quality``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from vision_studio.core.errors import ConfigError
from vision_studio.core.health.issues import Issue


@dataclass(frozen=True)
class LabelFindings:
    """Everything the label finder computed, row-aligned with its inputs.

    Attributes:
        pred_probs: [N, K] float64 out-of-fold probabilities (columns: class order).
        quality: [N] float64 label quality in [0, 1] (higher = more likely right).
        is_issue: [N] bool, cleanlab's verdict.
        suggested: [N] int64 argmax of ``pred_probs``.
        folds: Folds actually used.
    """

    pred_probs: np.ndarray
    quality: np.ndarray
    is_issue: np.ndarray
    suggested: np.ndarray
    folds: int


def _probe(C: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000,
                                                              random_state=seed))


def out_of_fold_probabilities(features: np.ndarray, labels: np.ndarray, *, folds: int = 5,
                              C: float = 0.1, seed: int = 0) -> tuple[np.ndarray, int]:
    """Out-of-fold class probabilities of K stratified logistic-regression probes.

    Args:
        features: [N, D] float features.
        labels: [N] int64 class indices ``0..K-1``; every class must occur at least twice.
        folds: K (>= 2); lowered to the size of the smallest class when that is smaller.
        C: Inverse L2 strength of the probes.
        seed: Shuffling seed of the folds.

    Returns:
        ``(pred_probs [N, K] float64, folds used)``.

    Raises:
        ConfigError: fewer than 2 classes, a class with a single image, or ``folds < 2``.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    labels = np.asarray(labels, np.int64)
    if folds < 2:
        raise ConfigError(f"folds must be at least 2, got {folds}")
    counts = np.bincount(labels)
    present = counts[counts > 0]
    if len(present) < 2:
        raise ConfigError("label errors: the images need at least two different categories")
    if len(present) != len(counts) or present.min() < 2:
        small = [int(k) for k in np.flatnonzero(counts < 2)]
        raise ConfigError(f"label errors: every category needs at least 2 images "
                          f"(class indices {small} have fewer)")
    k = int(min(folds, present.min()))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    probs = cross_val_predict(_probe(C, seed), features, labels, cv=cv, method="predict_proba")
    return probs.astype(np.float64), k


def find_label_errors(features: np.ndarray, labels: np.ndarray, *, folds: int = 5,
                      C: float = 0.1, seed: int = 0) -> LabelFindings:
    """Run the finder on features and given labels (see the module docstring).

    Raises:
        ConfigError: see :func:`out_of_fold_probabilities`.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    probs, k = out_of_fold_probabilities(features, labels, folds=folds, C=C, seed=seed)
    labels = np.asarray(labels, np.int64)
    quality = get_label_quality_scores(labels, probs, method="self_confidence")
    is_issue = find_label_issues(labels, probs, filter_by="prune_by_noise_rate")
    return LabelFindings(pred_probs=probs, quality=np.asarray(quality, np.float64),
                         is_issue=np.asarray(is_issue, bool),
                         suggested=np.argmax(probs, axis=1).astype(np.int64), folds=k)


def label_issues(findings: LabelFindings, labels: np.ndarray, image_ids: Sequence[int],
                 paths: Sequence[str], splits: Sequence[str], class_names: Sequence[str]
                 ) -> list[Issue]:
    """:class:`Issue` records (kind ``label``) of the flagged images."""
    out = []
    for r in np.flatnonzero(findings.is_issue):
        given, sug = int(labels[r]), int(findings.suggested[r])
        out.append(Issue(kind="label", file_name=paths[r], image_id=int(image_ids[r]),
                         score=float(1.0 - findings.quality[r]), given=class_names[given],
                         suggested=class_names[sug], split=splits[r],
                         detail=f"out-of-fold probe ({findings.folds} folds): "
                                f"p({class_names[given]}) = {findings.pred_probs[r, given]:.2f}, "
                                f"p({class_names[sug]}) = {findings.pred_probs[r, sug]:.2f}"))
    return out


def loss_ranking_baseline(features: np.ndarray, labels: np.ndarray, *, C: float = 0.1,
                          seed: int = 0) -> np.ndarray:
    """Baseline score: cross-entropy of the given label under one probe fitted on *all*
    images (the usual "sort by the model's loss"). Returns [N] float64, higher = worse."""
    labels = np.asarray(labels, np.int64)
    probs = _probe(C, seed).fit(features, labels).predict_proba(features)
    return -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None))
