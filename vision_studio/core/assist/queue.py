"""The Label-next queue: score images by what a checkpoint is unsure of (or by diversity,
or typicality) and store the scores in the project (``queue_scores``; higher = label sooner).

Strategies (formulas and sources in :mod:`vision_studio.core.assist.uncertainty`):

* ``entropy``, ``margin``, ``least_confident`` — classification: of the
  image's softmax; detection / instance segmentation: the mean binary uncertainty of
  the image's top-10 detection scores after class-wise NMS (IoU 0.5, score floor 0.001);
  semantic segmentation: the mean over pixels;
* ``coreset`` — k-center greedy (Sener & Savarese 2018) on pooled backbone features:
  the labelled images are the initial centres; an image's score is its distance to the
  nearest centre when the greedy pass picks it (so the queue's order is the pick order).
  Features: timm ``tf_efficientnet_lite0`` pooled pre-logits with ImageNet weights
  (``weights``), from the dataset-health feature cache
  (:func:`vision_studio.core.health.features.compute_features`) — the same features
  for every task, whatever the checkpoint's architecture;
* ``typiclust`` (the default,
  :data:`~vision_studio.core.assist.uncertainty.DEFAULT_STRATEGY`) — TypiClust (Hacohen,
  Dekel & Weinshall, *Active Learning on a Budget*, ICML 2022): k-means of the labelled
  + pool features (the same cache) into ``labelled + batch`` clusters; the queue takes,
  round after round, the most typical image (densest neighbourhood) of the cluster with
  the fewest labelled images — a model-free choice of representative images, the
  paper's answer for small budgets;
* ``random`` — uniform random scores from ``seed`` (the baseline).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vision_studio.core.assist.common import UNLABELLED, Cancel, Progress, checked_progress, select_images
from vision_studio.core.assist.inference import (LoadedModel, load_model, run_classification,
                                                 run_detections, run_semantic)
from vision_studio.core.assist.uncertainty import (STRATEGIES, UNCERTAINTY, detection_image_scores,
                                                   k_center_greedy, nearest_sq_distance,
                                                   softmax_uncertainty, typiclust)
from vision_studio.core.errors import ConfigError
from vision_studio.core.types import ImageRecord, Task

MAX_PICKS = 2000
"""Greedy picks of ``coreset`` and ``typiclust`` (the queue's head; the rest is ordered
by distance, or by typicality)."""
BATCH = 20
"""``typiclust``: the labelling batch its clusters are made for (``labelled + BATCH``)."""


@dataclass(frozen=True)
class QueueResult:
    """Scored images, best first.

    Attributes:
        strategy: The strategy used.
        run: The run whose checkpoint scored them (``""`` for ``random``).
        image_ids: [N] int64 store ids, highest score first (ties: lower id first).
        scores: [N] float64 scores in that order.
    """

    strategy: str
    run: str
    image_ids: np.ndarray
    scores: np.ndarray

    def top(self, n: int) -> list[tuple[int, float]]:
        """The first ``n`` ``(image_id, score)``."""
        return [(int(i), float(s)) for i, s in zip(self.image_ids[:n], self.scores[:n])]


def _ranked(strategy: str, run: str, ids: Sequence[int], scores: np.ndarray) -> QueueResult:
    ids = np.asarray(ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.lexsort((ids, -scores))
    return QueueResult(strategy, run, ids[order], scores[order])


def model_uncertainty(model: LoadedModel, store: Any, images: Sequence[ImageRecord], strategy: str,
                      *, progress: Progress | None = None, cancel: Cancel = None) -> np.ndarray:
    """[len(images)] uncertainty of each image under ``model`` (see the module).

    Raises:
        ConfigError: ``strategy`` is not an uncertainty (entropy, margin, least_confident).
    """
    if strategy not in UNCERTAINTY:
        raise ConfigError(f"--strategy: {strategy!r} is not a model uncertainty "
                          f"({', '.join(UNCERTAINTY)})")
    if model.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        raw = run_detections(model, store, images, progress=progress, cancel=cancel)
        keep = raw.filter(score_threshold=raw.score_floor, nms_iou=0.5, max_per_image=100)
        return detection_image_scores(raw.img_index[keep], raw.scores[keep], len(images), strategy)
    if model.task == Task.CLASSIFICATION:
        pred = run_classification(model, store, images, progress=progress, cancel=cancel)
        return softmax_uncertainty(pred.probs, strategy)
    sem = run_semantic(model, store, images, progress=progress, cancel=cancel)
    return np.array([s.uncertainty[strategy] for s in sem], dtype=np.float64)


def _features(store: Any, images: Sequence[ImageRecord], weights: str | os.PathLike,
              progress: Progress | None, cancel: Cancel) -> tuple[list[int], np.ndarray, np.ndarray | None]:
    """``(pool ids, [N, D] pool features, [M, D] labelled features or None)`` from the
    dataset-health feature cache (images whose features fail are left out)."""
    from vision_studio.core.health.features import compute_features

    labelled = store.labelled_image_ids()
    wanted = {im.id for im in images} | labelled
    feats = compute_features(store, weights=weights, image_ids=sorted(wanted),
                             progress=checked_progress(progress, cancel))
    rows = feats.index_of()
    pool = [im.id for im in images if im.id in rows]
    in_pool = set(pool)
    centres = [i for i in labelled if i in rows and i not in in_pool]
    x = feats.features
    return pool, x[[rows[i] for i in pool]], (x[[rows[i] for i in centres]] if centres else None)


def coreset_scores(store: Any, images: Sequence[ImageRecord], *, weights: str | os.PathLike = "in1k",
                   progress: Progress | None = None, cancel: Cancel = None,
                   max_picks: int = MAX_PICKS) -> tuple[list[int], np.ndarray]:
    """k-center greedy scores of ``images`` against the project's labelled images.

    The greedy pass picks at most ``max_picks`` images (each pick costs a pass over the
    pool); the others score their distance to the nearest centre after those picks,
    which is at most the last pick's, so the order stays the greedy order.

    Returns:
        ``(image_ids, scores)`` of the images whose features could be computed.
    """
    pool, px, cx = _features(store, images, weights, progress, cancel)
    order, dist = k_center_greedy(px, cx, n=max_picks)
    scores = np.empty(len(pool), dtype=np.float64)
    scores[order] = dist
    if len(order) < len(pool):  # the rest: distance to the nearest centre after the picks
        rest = np.setdiff1d(np.arange(len(pool)), order)
        picked = px[order] if cx is None else np.concatenate([cx, px[order]])
        scores[rest] = np.sqrt(nearest_sq_distance(px[rest], picked))
    return pool, scores


def typiclust_scores(store: Any, images: Sequence[ImageRecord], *, weights: str | os.PathLike = "in1k",
                     batch: int = BATCH, seed: int = 0, progress: Progress | None = None,
                     cancel: Cancel = None, max_picks: int = MAX_PICKS) -> tuple[list[int], np.ndarray]:
    """TypiClust scores (:func:`~vision_studio.core.assist.uncertainty.typiclust`) of
    ``images`` against the project's labelled images, clusters made for ``batch``.

    Returns:
        ``(image_ids, scores)`` of the images whose features could be computed.
    """
    pool, px, cx = _features(store, images, weights, progress, cancel)
    if not pool:
        return pool, np.zeros(0)
    return pool, typiclust(px, cx, batch, seed=seed, max_picks=max_picks)


def score_images(store: Any, strategy: str, checkpoint: str | Path | None = None, *,
                 images: str = UNLABELLED, image_records: Sequence[ImageRecord] | None = None,
                 device: str = "auto", weights: str | os.PathLike = "in1k", seed: int = 0,
                 progress: Progress | None = None, cancel: Cancel = None,
                 model: LoadedModel | None = None, save: bool = True, batch: int = BATCH) -> QueueResult:
    """Score images for the Label-next queue and (``save``) store the scores with
    :meth:`~vision_studio.core.store.ProjectStore.set_queue_scores`, replacing the
    strategy's earlier ones.

    Args:
        store: The open project.
        strategy: One of ``entropy``, ``margin``, ``least_confident``, ``coreset``,
            ``typiclust``, ``random`` (default :data:`~vision_studio.core.assist.uncertainty.DEFAULT_STRATEGY`).
        checkpoint: The checkpoint (needed by the uncertainties; names the run of
            ``coreset`` scores when given).
        images: ``"unlabelled"`` (default), ``"all"`` or a split name.
        image_records: These images instead of ``images``.
        device: ``"auto"`` = GPU when present.
        weights: ``coreset`` / ``typiclust``: backbone weights of the feature cache
            (timm tag or .pth).
        seed: ``random``: the generator's seed; ``typiclust``: the k-means seed.
        progress: ``progress(done, total)`` images.
        cancel: Checked after every batch (:class:`~vision_studio.core.assist.common.Cancelled`).
        model: An already loaded checkpoint.
        save: Store the scores.
        batch: ``typiclust``: images labelled before the queue is scored again.

    Raises:
        ConfigError: unknown strategy, an uncertainty without a checkpoint, unknown split.
        CheckpointError, ImageDecodeError, Cancelled.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy: unknown strategy {strategy!r} (one of {', '.join(STRATEGIES)})")
    chosen = list(image_records) if image_records is not None else select_images(store, images)
    run = model.run if model is not None else ""
    if strategy in UNCERTAINTY and model is None:
        if checkpoint is None:
            raise ConfigError(f"--strategy {strategy} needs a checkpoint")
        model = load_model(store, checkpoint, device)
        run = model.run
    elif checkpoint is not None and model is None:
        from vision_studio.core.assist.common import run_name

        run = run_name(store, checkpoint)
    if not chosen:
        result = _ranked(strategy, run, [], np.zeros(0))
    elif strategy in UNCERTAINTY:
        scores = model_uncertainty(model, store, chosen, strategy, progress=progress, cancel=cancel)
        result = _ranked(strategy, run, [im.id for im in chosen], scores)
    elif strategy == "coreset":
        ids, scores = coreset_scores(store, chosen, weights=weights, progress=progress, cancel=cancel)
        result = _ranked(strategy, run, ids, scores)
    elif strategy == "typiclust":
        ids, scores = typiclust_scores(store, chosen, weights=weights, batch=batch, seed=seed,
                                       progress=progress, cancel=cancel)
        result = _ranked(strategy, run, ids, scores)
    else:
        rng = np.random.default_rng(seed)
        result = _ranked(strategy, run, [im.id for im in chosen], rng.random(len(chosen)))
    if save:
        store.set_queue_scores(strategy, run, dict(zip(result.image_ids.tolist(), result.scores.tolist())))
    return result
