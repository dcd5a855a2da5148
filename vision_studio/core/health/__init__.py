"""Dataset health: likely label errors, near-duplicates, train/val/test leakage and a
2-D map of the images by what the backbone sees (issue 15).

Parts: ``features`` (cached lite0 embeddings + perceptual hashes), ``labels``
(Confident Learning on out-of-fold linear probes), ``duplicates`` (phash + cosine
neighbours, groups, leaks), ``embedding_map`` (UMAP / PCA), ``finder`` (runs them on a
project), ``boxes`` (ObjectLab box issues), ``segmentation`` (cleanlab.segmentation per
image), ``from_checkpoint`` (both from a checkpoint's predictions on held-out images),
``issues`` (the records and their JSON). No Qt here.
"""
from vision_studio.core.health.finder import (
    HealthReport,
    classification_labels,
    find_issues,
    leakage_warnings,
)
from vision_studio.core.health.from_checkpoint import CheckpointFindings, checkpoint_issues
from vision_studio.core.health.issues import KINDS, Issue, sort_issues

__all__ = ["KINDS", "CheckpointFindings", "HealthReport", "Issue", "checkpoint_issues",
           "classification_labels", "find_issues", "leakage_warnings", "sort_issues"]
