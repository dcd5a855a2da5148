"""The one place where results written for other tools get the exported COCO ids.

Inside the program every evaluation uses the store's ids. A COCO results file written
for a project (``vision-studio evaluate``'s ``results.json``, ``predict --out`` with
``--project``) must instead use the ids of ``vision-studio export --format coco`` of the
same project, so that plain pycocotools on the exported ground truth and these results
gives the program's numbers: :func:`export_id_maps` reads them, :func:`to_export_ids`
applies them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class ExportIds:
    """``{store id: exported COCO id}`` of categories and images."""

    category: Mapping[int, int]
    image: Mapping[int, int]


def export_id_maps(store: Any, split: str | None = None) -> ExportIds:
    """The ids ``export --format coco [--split split]`` writes for this project
    (:func:`vision_studio.core.io.coco_ids.export_id_maps`; image ids depend on the split
    exported: ``None`` or ``"all"`` = every image)."""
    from vision_studio.core.io.coco_ids import export_id_maps as coco_export_id_maps

    maps = coco_export_id_maps(store, None if split in (None, "all") else split)
    return ExportIds(category=maps.category, image=maps.image)


def to_export_ids(results: Sequence[Mapping[str, Any]], ids: ExportIds) -> list[dict[str, Any]]:
    """Copies of COCO result dicts with ``image_id`` / ``category_id`` translated from
    store ids to exported ids (ids without a translation are kept as they are)."""
    cat, img = ids.category, ids.image
    return [{**r, "image_id": img.get(r["image_id"], r["image_id"]),
             "category_id": cat.get(r["category_id"], r["category_id"])} for r in results]
