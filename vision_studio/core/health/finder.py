"""Run the dataset-health finders on a project.

Public API::

    find_issues(store, *, labels=True, duplicates=True, folds=5, weights="in1k",
                progress=None) -> HealthReport
    classification_labels(store, feats) -> (labels [N] int64, class_names, rows)
    leakage_warnings(store, *, weights=None, image_ids=None, max_new=None) -> list[str]

Detection / segmentation issues from a checkpoint: :mod:`.from_checkpoint`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from vision_studio.core.errors import ConfigError
from vision_studio.core.health import duplicates as dup
from vision_studio.core.health.features import (ImageFeatures, Progress, cached_embeddings,
                                                compute_features, uncached_hashes)
from vision_studio.core.health.issues import Issue, sort_issues
from vision_studio.core.health.labels import LabelFindings, find_label_errors, label_issues


@dataclass
class HealthReport:
    """What :func:`find_issues` found.

    Attributes:
        issues: Worst first.
        features: The images examined (ids, paths, splits, hashes, embeddings).
        label_findings: Classification findings (``None`` when not run), row-aligned
            with ``label_rows``.
        label_rows: Rows of ``features`` that have a label (classification).
        class_names: Names of the label indices.
        notes: Lines to tell the user (what was skipped and why).
    """

    issues: list[Issue]
    features: ImageFeatures
    label_findings: LabelFindings | None = None
    label_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    class_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def classification_labels(store: Any, feats: ImageFeatures
                          ) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Image-level labels (first tag, by category order) of the rows of ``feats``.

    Returns:
        ``(labels [M] int64 in 0..K-1, class names [K], rows [M] into feats)``; images
        without a tag are left out; categories no image uses are left out of ``K``.
    """
    tags = store.all_image_tags()
    cats = [c for c in store.categories() if any(c.id in t for t in tags.values())]
    index = {c.id: k for k, c in enumerate(cats)}
    rows, labels = [], []
    for r, iid in enumerate(feats.image_ids):
        mine = [index[c] for c in tags.get(int(iid), ()) if c in index]
        if mine:
            rows.append(r)
            labels.append(min(mine))
    return np.array(labels, np.int64), [c.name for c in cats], np.array(rows, np.int64)


def find_issues(store: Any, *, labels: bool = True, duplicates: bool = True, folds: int = 5,
                weights: str | os.PathLike | None = "in1k", C: float = 0.1,
                hash_distance: int = dup.HASH_DISTANCE, cosine: float = dup.COSINE,
                progress: Progress | None = None) -> HealthReport:
    """Label errors (classification: image tags) and near-duplicates / leakage.

    Args:
        store: An open project.
        labels: Look for label errors (needs image-level tags on >= 2 categories).
        duplicates: Look for near-duplicates and leakage.
        folds: K of the out-of-fold probes.
        weights: Backbone weights (timm tag or ``.pth`` file).
        C: Inverse L2 strength of the probes.
        hash_distance, cosine: Duplicate thresholds (see :mod:`.duplicates`).
        progress: ``progress(done, total)`` while images are embedded.

    Raises:
        ConfigError: no images; labels asked for but the project has no usable tags.
    """
    feats = compute_features(store, weights=weights, embeddings=True, progress=progress)
    report = HealthReport(issues=[], features=feats)
    if feats.failed:
        report.notes.append(f"{len(feats.failed)} image(s) could not be read and were skipped")
    if labels:
        y, names, rows = classification_labels(store, feats)
        if len(y) == 0:
            report.notes.append("label errors: no image has a category tag (classification); "
                                "skipped")
        else:
            f = find_label_errors(feats.features[rows], y, folds=folds, C=C)
            report.label_findings, report.label_rows, report.class_names = f, rows, names
            report.issues += label_issues(f, y, feats.image_ids[rows],
                                          [feats.paths[r] for r in rows],
                                          [feats.splits[r] for r in rows], names)
    if duplicates:
        pairs = dup.find_duplicates(feats.phashes, feats.features, hash_distance=hash_distance,
                                    cosine=cosine)
        report.issues += dup.duplicate_issues(pairs, feats.image_ids, feats.paths, feats.splits)
    report.issues = sort_issues(report.issues)
    return report


def leakage_warnings(store: Any, *, weights: str | os.PathLike | None = None,
                     splits: Sequence[str] = ("train", "val", "test"),
                     image_ids: Sequence[int] | None = None,
                     max_new: int | None = None) -> list[str]:
    """Warnings for the pre-training checks: images of one split with a copy in another.

    Cheap by default: perceptual hashes (cached beside the project; each image is
    decoded once, then only new or changed ones) plus the backbone embeddings *if* a
    previous health run left them in the cache for every image (never computed here).
    With ``weights`` the embeddings are computed where missing (the CNN runs).

    Args:
        store: An open project.
        weights: Compute embeddings with these weights (``None``: cached ones only).
        splits: The splits that must not share images.
        image_ids: Only these images (e.g. the training snapshot's); default: all.
        max_new: Decode at most this many images that have no cached hash; with more,
            nothing is computed and one line says how to run the check (``None``: no limit).

    Returns:
        One line per split pair with copies, e.g. ``"3 val image(s) have a near-copy in
        train (e.g. val/ants/x.jpg ~ train/ants/y.jpg): val metrics are inflated; ..."``,
        or the one "not checked" line; empty when there is no leak or fewer than two
        splits in use.
    """
    wanted = None if image_ids is None else {int(i) for i in image_ids}
    images = [im for im in store.images()
              if im.split in splits and (wanted is None or im.id in wanted)]
    if len({im.split for im in images}) < 2:
        return []
    ids = [im.id for im in images]
    if weights is None and max_new is not None:
        new = uncached_hashes(store, ids)
        if new > max_new:
            return [f"train/val leakage not checked: {new} images have no perceptual hash "
                    f"yet; run Dataset health or `vision-studio find-errors --duplicates` "
                    f"once (about {new * 0.01:.0f} s) to find val/test images with copies "
                    f"in train"]
    try:
        feats = compute_features(store, weights=weights, embeddings=weights is not None,
                                 image_ids=ids)
    except ConfigError:  # none of them readable: the data checks say so
        return []
    embeddings = feats.features if weights is not None else cached_embeddings(store, feats)
    return _leak_lines(feats, embeddings, splits)


def _leak_lines(feats: ImageFeatures, embeddings: np.ndarray | None,
                splits: Sequence[str]) -> list[str]:
    pairs = dup.find_duplicates(feats.phashes, embeddings)
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for issue in dup.duplicate_issues(pairs, feats.image_ids, feats.paths, feats.splits):
        if issue.kind == "leak" and issue.split in splits and issue.other_split in splits:
            found.setdefault((issue.split, issue.other_split), []).append(
                (issue.file_name, issue.other_file_name or ""))
    how = "hashes and embeddings" if embeddings is not None else "perceptual hashes"
    out = []
    for (a, b), items in sorted(found.items()):
        n = len({x for x, _ in items})
        out.append(f"{n} {a} image(s) have a near-copy in {b} (e.g. {items[0][0]} ~ "
                   f"{items[0][1]}; found by {how}): {a} metrics are inflated; move the "
                   f"copies to one split or remove them (Dataset health lists them all)")
    return out
