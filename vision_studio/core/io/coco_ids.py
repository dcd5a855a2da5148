"""The COCO ids a project is written with: one id space for every COCO file the program
writes for a project (exported ground truth, evaluation results, predictions).

A project keeps its own ids (store ids, >= 1). What ``export --format coco`` writes
instead (:func:`export_id_maps`):

* **Imported ids are kept.** A category imported from COCO keeps its original id
  (``Category.extra["coco_id"]``; projects imported before schema v2 recorded it in the
  project setting :data:`CATEGORY_IDS_SETTING` instead, which is still read), and an
  image keeps its original id (``ImageRecord.extra["coco_id"]``), so results keyed by
  the original ids match the exported ground truth.
* **Everything else gets ``offset + store id``**, where ``offset`` is the largest kept
  imported id of that kind (0 when there is none, so a project made in the app exports
  its store ids unchanged). Such an id is larger than every kept id, so it never
  collides with one, and it stays the same from export to export as long as the set of
  imported ids does not change (importing a file with larger ids shifts it).
* Only ``int`` ids are kept (``bool`` excluded); an imported id claimed by two records
  (two datasets imported into one project with overlapping ids) stays with the record of
  the lower store id and the other one is treated as not imported.

Evaluation and prediction call :func:`export_id_maps` (with the split they work on) to
key their COCO results the same way (``maps.category[store id]``, ``maps.image[store
id]``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord

CATEGORY_IDS_SETTING = "coco.category_ids"
"""Legacy project setting (before schema v2): ``{"<store category id>": COCO id}``."""

ANN_OFFSET_SETTING = "coco.max_annotation_id"
"""Project setting: the largest annotation id ever imported from COCO (an int); exported
annotations that are not imported (or whose id is taken) are numbered past it."""

INFO_SETTING, LICENSES_SETTING = "coco_info", "coco_licenses"
"""Project settings holding the imported top-level ``info`` (object) and ``licenses``
(list), written again on export."""

COCO_ID = "coco_id"
"""Key of the original COCO id in the ``extra`` mapping of images, categories and
annotations."""


def imported_id(extra: Any) -> int | None:
    """The ``coco_id`` kept in an ``extra`` mapping, when it is an ``int`` (not a bool)."""
    value = extra.get(COCO_ID) if type(extra) is dict or isinstance(extra, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def assign_ids(items: Iterable[tuple[int, int | None]]) -> dict[int, int]:
    """``{store id: exported id}`` by the module's rule.

    Args:
        items: ``(store id, imported id or None)`` pairs, any order.

    Returns:
        Every store id mapped: to its imported id when it is the lowest store id that
        claims it, else to ``offset + store id`` with ``offset = max(0, largest kept
        imported id)``. The values are distinct.
    """
    pairs = sorted(items)
    kept: dict[int, int] = {}
    claimed: set[int] = set()
    for sid, orig in pairs:
        if orig is not None and orig not in claimed:
            kept[sid] = orig
            claimed.add(orig)
    offset = max(0, max(claimed, default=0))
    return {sid: kept.get(sid, offset + sid) for sid, _ in pairs}


def _category_ids(store: ProjectStore) -> dict[int, int]:
    legacy = store.get_setting(CATEGORY_IDS_SETTING, {}) or {}
    items = []
    for c in store.categories():
        orig = imported_id(c.extra)
        if orig is None:
            orig = imported_id({COCO_ID: legacy.get(str(c.id))})
        items.append((c.id, orig))
    return assign_ids(items)


@dataclass(frozen=True)
class CocoIdMaps:
    """Store id → exported COCO id, for categories and images (read-only mappings).

    Attributes:
        category: ``{store category id: COCO category id}`` for every category.
        image: ``{store image id: COCO image id}`` for every image of the split the
            maps were made for.
    """

    category: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    image: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))


def export_id_maps(store: ProjectStore, split: str | None = None, *,
                   images: Sequence[ImageRecord] | None = None) -> CocoIdMaps:
    """The ids ``export --format coco`` writes for ``store`` (see the module docstring).

    Image ids are unique within one exported file, so they depend on what is exported:
    pass the same ``split`` as the export (datasets split in several files, such as
    Roboflow's, number the images of each file from 0 again; each split exported on
    its own keeps them all, the whole project in one file cannot).

    Args:
        store: The project.
        split: The split exported (``None`` = all images, as ``write_coco`` without
            ``split``).
        images: ``store.images(split)`` when the caller has it already (not read again).

    Returns:
        The category map (every category) and the image map (the images of ``split``).
    """
    records = store.images(split) if images is None else images
    ids = assign_ids((im.id, imported_id(im.extra)) for im in records)
    return CocoIdMaps(category=MappingProxyType(_category_ids(store)),
                      image=MappingProxyType(ids))
