"""Image paths as a user wants to read them: relative to the dataset's folder.

Stored paths are relative to the project's root, which gives
``../../../../x/shared/data/camvid_small/val/0016E5_07979.png`` when the project file
lives far from the images (issue 12). Lists show the path relative to the folder that
holds every image of the project (``val/0016E5_07979.png``) and put the full path in
the tooltip.
"""
from __future__ import annotations

import os
from pathlib import Path

from vision_studio.core.store import ProjectStore
from vision_studio.core.store.removal import image_path_bounds
from vision_studio.core.types import ImageRecord


def dataset_folder(store: ProjectStore) -> Path:
    """The deepest folder holding every image of ``store`` (absolute), or the project's
    root when it has no image. One indexed query: the common folder of the first and
    last stored paths in code-point order is that of all paths."""
    bounds = image_path_bounds(store)
    if bounds is None:
        return store.root
    parents = [str(store.resolve(p).parent) for p in bounds]
    try:
        return Path(os.path.commonpath(parents))
    except ValueError:  # different drives (Windows): no common folder
        return store.root


def display_path(store: ProjectStore, folder: Path, image: ImageRecord) -> str:
    """``image``'s path relative to ``folder`` (see :func:`dataset_folder`), POSIX
    separators; the absolute path when the image is outside ``folder``."""
    full = store.resolve(image)
    try:
        return full.relative_to(folder).as_posix()
    except ValueError:
        return str(full)
