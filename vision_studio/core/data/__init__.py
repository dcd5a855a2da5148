"""Torch datasets built from a snapshot of the project store, with
``torchvision.transforms.v2`` presets per task and a stratified, group-aware split helper.

The store is read once, up front (:func:`take_snapshot`), so that the GUI can keep editing
the project while a run trains on a fixed copy of the labels.

Label conventions (the ones torchvision's models expect):

* classification: label ``i`` = the i-th category of :attr:`Snapshot.categories`;
* detection / instance segmentation: labels ``1..K`` (``0`` is the background class);
* semantic segmentation: class ``i`` = the i-th category, pixels no annotation covers are
  ``255`` (ignored), or class ``0`` = "background" with ``unlabelled_as="background"``.
"""
from vision_studio.core.data.snapshot import (
    IGNORE_INDEX,
    Sample,
    Snapshot,
    take_snapshot,
)
from vision_studio.core.data.split import (
    VAL_SPLIT_NAMES,
    assign_splits,
    check_examples,
    group_key,
    stratified_split,
)
from vision_studio.core.data.transforms_options import AUGMENTATION_DEFAULTS, parse_augmentation

_LAZY = {  # these need torch: imported on first use so that the GUI can import splits cheaply
    "build_transforms": "vision_studio.core.data.transforms",
    "Batch": "vision_studio.core.data.datasets",
    "Skipped": "vision_studio.core.data.datasets",
    "VisionDataset": "vision_studio.core.data.datasets",
    "collate": "vision_studio.core.data.datasets",
}


def __getattr__(name: str):  # PEP 562 lazy attributes
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AUGMENTATION_DEFAULTS", "Batch", "IGNORE_INDEX", "Sample", "Skipped", "Snapshot",
    "VAL_SPLIT_NAMES", "VisionDataset", "assign_splits", "build_transforms", "check_examples",
    "collate", "group_key", "parse_augmentation", "stratified_split", "take_snapshot",
]
