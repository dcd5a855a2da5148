"""A read-once copy of what a training run needs from the project store."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Annotation, Category, Task

log = logging.getLogger(__name__)

IGNORE_INDEX = 255
"""Label of pixels no annotation covers (semantic segmentation), ignored by loss and metrics."""

UNLABELLED_CHOICES = ("ignore", "background")


@dataclass(frozen=True)
class Sample:
    """One image of a snapshot with its labels.

    Attributes:
        image_id: Store id of the image.
        path: Absolute path of the image file.
        rel_path: Path relative to the project root, as stored (used in reports).
        width: Width in pixels after EXIF orientation (from the store).
        height: Height in pixels after EXIF orientation (from the store).
        split: The image's split in the store (``""`` when none).
        label: Classification label index (``-1`` for the other tasks).
        annotations: The image's annotations (detection / segmentation), ordered by id,
            restricted to the snapshot's categories.
        window: ``None`` for the whole image; for a tile of a large image
            (:func:`vision_studio.core.large.tiled_training.tile_samples`) its region
            ``(x0, y0, x1, y1)`` in full-resolution pixels, ``x1``/``y1`` exclusive; then
            ``width``/``height`` and the annotations are the tile's.
    """

    image_id: int
    path: str
    rel_path: str
    width: int
    height: int
    split: str = ""
    label: int = -1
    annotations: tuple[Annotation, ...] = ()
    window: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class Snapshot:
    """Categories (in model label order) and labelled samples of one task.

    Attributes:
        task: One of :class:`~vision_studio.core.types.Task`.
        categories: The trained categories; their order defines the labels.
        samples: Every labelled sample, in store order.
        unlabelled_as: Semantic segmentation only: ``"ignore"`` (uncovered pixels = 255)
            or ``"background"`` (uncovered pixels = class 0, categories shift to 1..K).
        dropped: Names of store categories left out because no image uses them.
    """

    task: str
    categories: tuple[Category, ...]
    samples: tuple[Sample, ...]
    unlabelled_as: str = "ignore"
    dropped: tuple[str, ...] = field(default=())

    @property
    def label_offset(self) -> int:
        """Label of the first category: 1 for detection/instance (0 = background) and for
        semantic with a background class, else 0."""
        if self.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
            return 1
        if self.task == Task.SEMANTIC_SEGMENTATION and self.unlabelled_as == "background":
            return 1
        return 0

    @property
    def num_classes(self) -> int:
        """Number of model outputs, background included where the task has one."""
        return len(self.categories) + self.label_offset

    @property
    def class_names(self) -> list[str]:
        """Display name of every model label, ``"background"`` first where there is one."""
        names = [c.name for c in self.categories]
        return (["background"] if self.label_offset else []) + names

    def label_of(self, category_id: int) -> int:
        """Model label of a store category id. Raises KeyError for other categories."""
        return self._index[category_id] + self.label_offset

    @cached_property
    def _index(self) -> dict[int, int]:
        return {c.id: i for i, c in enumerate(self.categories)}

    def category_dicts(self) -> list[dict]:
        """``[{"id", "name"}]`` in model label order (stored in checkpoints)."""
        return [{"id": c.id, "name": c.name} for c in self.categories]


def take_snapshot(store: Any, task: str, categories: Sequence[int] | None = None,
                  unlabelled_as: str = "ignore", include_empty: bool = True) -> Snapshot:
    """Read everything a run of ``task`` needs from ``store``, once.

    Args:
        store: An open :class:`~vision_studio.core.store.ProjectStore`.
        task: One of :class:`~vision_studio.core.types.Task`.
        categories: Store category ids to train on, in label order; ``None`` = every
            category some image uses (categories nothing uses, like the ``id: 0``
            placeholder of Roboflow COCO exports, are left out and logged).
        unlabelled_as: Semantic segmentation: ``"ignore"`` or ``"background"``.
        include_empty: Detection / instance segmentation: keep images without any box
            (negatives). Classification keeps tagged images only, semantic segmentation
            images with at least one mask.

    Returns:
        The snapshot.

    Raises:
        ConfigError: unknown task / category id / ``unlabelled_as``, or no labelled image.
    """
    if task not in Task.ALL:
        raise ConfigError(f"task: unknown task {task!r}; choose one of {', '.join(Task.ALL)}")
    if unlabelled_as not in UNLABELLED_CHOICES:
        raise ConfigError(f"unlabelled_as: {unlabelled_as!r} is not one of {UNLABELLED_CHOICES}")
    all_cats = store.categories()
    images = store.images()
    if task == Task.CLASSIFICATION:
        tags = store.all_image_tags()
        usage = Counter(c for cs in tags.values() for c in cs)
    else:
        anns = store.annotations_by_image()
        usage = Counter(a.category_id for v in anns.values() for a in v
                        if task == Task.DETECTION or a.has_mask or task == Task.INSTANCE_SEGMENTATION)
    cats, dropped = _choose_categories(all_cats, usage, categories)
    ids = {c.id for c in cats}
    order = {c.id: i for i, c in enumerate(cats)}
    samples = []
    for im in images:
        common = dict(image_id=im.id, path=str(store.resolve(im)), rel_path=im.path,
                      width=im.width, height=im.height, split=im.split)
        if task == Task.CLASSIFICATION:
            mine = sorted((c for c in tags.get(im.id, ()) if c in ids), key=order.__getitem__)
            if not mine:
                continue
            if len(mine) > 1:
                log.warning("%s has %d category tags; single-label training uses %r",
                            im.path, len(mine), cats[order[mine[0]]].name)
            samples.append(Sample(label=order[mine[0]], **common))
            continue
        mine_a = tuple(a for a in anns.get(im.id, ()) if a.category_id in ids)
        if task == Task.SEMANTIC_SEGMENTATION:
            mine_a = tuple(a for a in mine_a if a.has_mask)
            if not mine_a:
                continue
        elif not mine_a and not include_empty:
            continue
        samples.append(Sample(annotations=mine_a, **common))
    if not samples or (task != Task.CLASSIFICATION and not any(s.annotations for s in samples)):
        raise ConfigError(f"the project has no labelled images for {task.replace('_', ' ')}: "
                          + _what_to_label(task))
    return Snapshot(task=task, categories=tuple(cats), samples=tuple(samples),
                    unlabelled_as=unlabelled_as, dropped=tuple(dropped))


def _choose_categories(all_cats: list[Category], usage: Counter,
                       wanted: Sequence[int] | None) -> tuple[list[Category], list[str]]:
    by_id = {c.id: c for c in all_cats}
    if wanted is not None:
        unknown = [i for i in wanted if i not in by_id]
        if unknown:
            raise ConfigError(f"categories: unknown category id(s) {unknown}; the project has "
                              f"{sorted(by_id)}")
        return [by_id[i] for i in wanted], []
    cats = [c for c in all_cats if usage.get(c.id)]
    dropped = [c.name for c in all_cats if not usage.get(c.id)]
    if dropped:
        log.warning("categories with no labelled example are left out of training: %s",
                    ", ".join(dropped))
    return cats, dropped


def _what_to_label(task: str) -> str:
    return {
        Task.CLASSIFICATION: "tag images with a category first",
        Task.DETECTION: "draw boxes on some images first",
        Task.INSTANCE_SEGMENTATION: "draw polygons or masks on some images first",
        Task.SEMANTIC_SEGMENTATION: "paint masks or draw polygons on some images first",
    }[task]
