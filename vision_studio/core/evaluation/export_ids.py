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


def export_id_maps(store: Any) -> ExportIds:
    """The ids ``export --format coco`` writes for this project: categories keep their
    imported COCO id where there is one (else the store id, renumbered past the imported
    ones on a clash); images keep the store id."""
    import vision_studio.core.io.coco  # noqa: F401  (coco and coco_write import each other: coco first)
    from vision_studio.core.io.coco_write import export_category_ids

    return ExportIds(category=export_category_ids(store), image={im.id: im.id for im in store.images()})


def to_export_ids(results: Sequence[Mapping[str, Any]], ids: ExportIds) -> list[dict[str, Any]]:
    """Copies of COCO result dicts with ``image_id`` / ``category_id`` translated from
    store ids to exported ids (ids without a translation are kept as they are)."""
    cat, img = ids.category, ids.image
    return [{**r, "image_id": img.get(r["image_id"], r["image_id"]),
             "category_id": cat.get(r["category_id"], r["category_id"])} for r in results]
