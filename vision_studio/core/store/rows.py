"""Row <-> dataclass conversion, value checks and id helpers shared by the store's parts."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Any, Mapping

from vision_studio.core.geometry import annotation_area
from vision_studio.core.errors import StoreError
from vision_studio.core.types import Annotation, Category, ImageRecord, RunRecord

__all__ = ["StoreError"]  # re-exported: ``from vision_studio.core.store.rows import StoreError``


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _json_or_none(value: Any) -> str | None:
    if value is None or value == () or value == {} or value == []:
        return None
    return json.dumps(value, separators=(",", ":"))


def _json_object(text: str | None) -> dict[str, Any]:
    """A stored JSON object column (NULL or ``''`` = empty)."""
    return json.loads(text) if text else {}


def _extra_json(extra: Any) -> str | None:
    """The ``extra`` column of a record: NULL for none, else a compact JSON object.

    Raises:
        StoreError: ``extra`` is not a mapping or holds values JSON cannot represent.
    """
    if not extra:
        return None
    if not isinstance(extra, Mapping):
        raise StoreError(f"extra must be a mapping, got {type(extra).__name__}")
    try:
        return json.dumps(dict(extra), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise StoreError(f"extra is not plain JSON ({exc})") from exc


_CAT_COLS = "id, name, color, supercategory, extra"


def _category(row: sqlite3.Row | tuple) -> Category:
    return Category(id=row[0], name=row[1], color=row[2], supercategory=row[3],
                    extra=_json_object(row[4]))


_IMAGE_COLS = "id, path, width, height, split, checksum, status, extra, check_key"


def _image(row: sqlite3.Row | tuple) -> ImageRecord:
    return ImageRecord(id=row[0], path=row[1], width=row[2], height=row[3],
                       split=row[4], checksum=row[5], status=row[6],
                       extra=_json_object(row[7]), check_key=row[8])


_ANN_COLS_V1 = "id, image_id, category_id, x, y, w, h, polygons, rle, iscrowd, area, attributes"
_ANN_COLS = _ANN_COLS_V1 + ", extra, source"


def _annotation(row: sqlite3.Row | tuple) -> Annotation:
    polys = tuple(tuple(p) for p in json.loads(row[7])) if row[7] else ()
    return Annotation(
        id=row[0], image_id=row[1], category_id=row[2], bbox=(row[3], row[4], row[5], row[6]),
        polygons=polys, rle=json.loads(row[8]) if row[8] else None, iscrowd=bool(row[9]),
        area=row[10], attributes=_json_object(row[11]), extra=_json_object(row[12]),
        source=row[13],
    )


def _annotation_params(a: Annotation) -> tuple:
    x, y, w, h = (float(v) for v in a.bbox)
    if not (w > 0 and h > 0):
        raise StoreError(f"bbox must have positive width and height, got {a.bbox}")
    # COCO convention (core.geometry): RLE / rasterised polygon pixel count, else w * h
    area = float(a.area) if a.area else annotation_area((x, y, w, h), a.polygons, a.rle)
    polys = [list(map(float, p)) for p in a.polygons]
    for p in polys:
        if len(p) < 6 or len(p) % 2:
            raise StoreError(f"a polygon needs at least 3 (x, y) points, got {len(p) // 2}")
    return (a.image_id, a.category_id, x, y, w, h, _json_or_none(polys),
            _json_or_none(dict(a.rle) if a.rle else None), int(bool(a.iscrowd)), area,
            _json_or_none(dict(a.attributes)), _extra_json(a.extra), str(a.source or ""))


_RUN_COLS = ("id, name, task, out_dir, config, status, best_metric, metric_name, notes, "
             "created_at, pid, host")


def _run(row: sqlite3.Row | tuple) -> RunRecord:
    return RunRecord(id=row[0], name=row[1], task=row[2], out_dir=row[3],
                     config=json.loads(row[4]), status=row[5], best_metric=row[6],
                     metric_name=row[7], notes=row[8], created_at=row[9], pid=row[10],
                     host=row[11])


def _next_id(c: sqlite3.Connection, table: str) -> int:
    """The id SQLite's AUTOINCREMENT gives the next row of ``table`` (ids never reused,
    so undo can restore deleted rows under their old ids)."""
    seq = c.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    top = c.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]
    return max(seq[0] if seq else 0, top) + 1


def _with_id(a: Annotation, ann_id: int, area: float) -> Annotation:
    return Annotation(image_id=a.image_id, category_id=a.category_id,
                      bbox=tuple(float(v) for v in a.bbox), polygons=a.polygons, rle=a.rle,
                      iscrowd=a.iscrowd, area=area, attributes=a.attributes, id=ann_id,
                      extra=dict(a.extra or {}), source=str(a.source or ""))
