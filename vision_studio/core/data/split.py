"""Train/validation split of a snapshot: the store's own split when it has one, else a
stratified, group-aware random split (scikit-learn's ``StratifiedGroupKFold``)."""
from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import PurePosixPath
from typing import Sequence

from vision_studio.core.data.snapshot import Sample, Snapshot
from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Task

log = logging.getLogger(__name__)

VAL_SPLIT_NAMES = ("val", "valid", "validation")
"""Store split names read as the validation set (Roboflow exports say ``valid``)."""
TRAIN_SPLIT_NAMES = ("train", "")

# Roboflow augmented copies: "<name>_png.rf.<hash>.jpg" or "<name>.rf.<hash>.jpg".
_RF = re.compile(r"^(?P<base>.+?)(?:_(?:png|jpe?g|bmp|tiff?|webp))?\.rf\.[0-9a-zA-Z]+(?:\.\w+)?$",
                 re.IGNORECASE)


def group_key(path: str) -> str:
    """The group an image belongs to for a leak-free split.

    Roboflow exports hold several augmented copies of one original, named
    ``<name>_png.rf.<hash>.jpg``; they share the group ``<name>``. Any other file is its
    own group (its path without extension).

    Args:
        path: Image path (any separators).

    Returns:
        The group key.
    """
    p = PurePosixPath(path.replace("\\", "/"))
    m = _RF.match(p.name)
    return str(p.parent / m.group("base")) if m else str(p.with_suffix(""))


def stratum(sample: Sample, task: str) -> int:
    """The class a sample is stratified by: its label (classification), else the category
    of most of its annotations (``-1`` for an image without any)."""
    if task == Task.CLASSIFICATION:
        return sample.label
    counts = Counter(a.category_id for a in sample.annotations)
    return counts.most_common(1)[0][0] if counts else -1


def stratified_split(samples: Sequence[Sample], task: str, val_fraction: float,
                     seed: int) -> tuple[list[Sample], list[Sample]]:
    """Split samples into train and validation, stratified by :func:`stratum` and keeping
    each :func:`group_key` group on one side.

    Args:
        samples: The samples to split.
        task: The task (chooses the stratum).
        val_fraction: Fraction of the samples for validation, in ``(0, 0.5]``.
        seed: Seed of the shuffle (same seed, same split).

    Returns:
        ``(train, val)``, each in the input order.

    Raises:
        ConfigError: if ``val_fraction`` is outside ``(0, 0.5]`` or there are fewer than 2
            groups to split.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    if not 0 < val_fraction <= 0.5:
        raise ConfigError(f"val_split: must be in (0, 0.5], got {val_fraction}")
    groups = [group_key(s.rel_path) for s in samples]
    n_groups = len(set(groups))
    if n_groups < 2:
        raise ConfigError("val_split: too few images to split off a validation set")
    n_splits = max(2, min(n_groups, round(1 / val_fraction)))
    y = np.array([stratum(s, task) for s in samples])
    counts = Counter(y.tolist())
    if min(counts.values()) < n_splits:  # too rare to stratify: merge the rare strata
        y = np.array([v if counts[v] >= n_splits else -2 for v in y.tolist()])
    kfold = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed % (2**32))
    train_idx, val_idx = next(kfold.split(np.zeros(len(samples)), y, groups))
    val_set = set(val_idx.tolist())
    return ([s for i, s in enumerate(samples) if i not in val_set],
            [s for i, s in enumerate(samples) if i in val_set])


def assign_splits(snapshot: Snapshot, val_fraction: float,
                  seed: int) -> tuple[list[Sample], list[Sample], str]:
    """The train and validation samples of a run.

    The store's ``val``/``valid`` images are the validation set when there are any, and
    ``train`` plus unassigned images the training set (``test`` images are never used).
    Without validation images, the training pool is split by :func:`stratified_split`.

    Args:
        snapshot: The run's snapshot.
        val_fraction: Validation fraction when the project has no validation split; 0
            trains without validation.
        seed: Seed of that split.

    Returns:
        ``(train, val, how)`` where ``how`` says where the split came from.

    Raises:
        ConfigError: no training image.
    """
    pool = [s for s in snapshot.samples if s.split in TRAIN_SPLIT_NAMES]
    val = [s for s in snapshot.samples if s.split in VAL_SPLIT_NAMES]
    how = "project splits"
    if not val and val_fraction > 0 and len(pool) > 1:
        pool, val = stratified_split(pool, snapshot.task, val_fraction, seed)
        how = f"stratified random split ({val_fraction:.0%} validation, seed {seed})"
    if not pool:
        raise ConfigError("no training images: give some labelled images the split 'train' "
                          "(or no split)")
    log.info("train %d / val %d images (%s)", len(pool), len(val), how)
    return pool, val, how


def check_examples(snapshot: Snapshot, train: Sequence[Sample]) -> None:
    """Fail before training when a category has no example among the training samples.

    Raises:
        ConfigError: naming the categories without a training example.
    """
    seen: set[int] = set()
    for s in train:
        if snapshot.task == Task.CLASSIFICATION:
            seen.add(snapshot.categories[s.label].id)
        else:
            seen.update(a.category_id for a in s.annotations)
    missing = [c.name for c in snapshot.categories if c.id not in seen]
    if missing:
        raise ConfigError("categories: no training example of " + ", ".join(repr(m) for m in missing)
                          + "; label some training images with it, or leave it out of "
                            "'categories'")
    if snapshot.task != Task.CLASSIFICATION and not any(s.annotations for s in train):
        raise ConfigError("no labelled training images: every training image is empty")
