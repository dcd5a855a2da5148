"""Annotations: batched inserts and fast row paths, reads by image, updates, deletes and restores."""
from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Iterable, Iterator, Sequence

from vision_studio.core.store.rows import (
    _ANN_COLS,
    _ANN_COLS_V1,
    StoreError,
    _annotation,
    _annotation_params,
    _next_id,
    _with_id,
)
from vision_studio.core.types import Annotation


class AnnotationsMixin:
    """Annotations: batched inserts and fast row paths, reads by image, updates, deletes and restores. 

    Mixed into :class:`~vision_studio.core.store.ProjectStore`; relies on its
    ``_write()`` / ``_read()``.
    """

    # ------------------------------------------------------------------ annotations
    def add_annotation(self, ann: Annotation) -> Annotation:
        """Insert one annotation (its ``id`` is ignored); returns it with id and area.

        Raises:
            StoreError: unknown image/category, non-positive bbox size, a polygon with
                fewer than 3 points.
        """
        return self.add_annotations([ann])[0]

    def add_annotations(self, anns: Iterable[Annotation]) -> list[Annotation]:
        """Insert annotations in one batch (``executemany``); returns them with ids."""
        anns = list(anns)
        params = [_annotation_params(a) for a in anns]
        with self._write() as c:
            try:
                first = _next_id(c, "annotations")
                c.executemany(
                    "INSERT INTO annotations(image_id, category_id, x, y, w, h, polygons, rle, "
                    "iscrowd, area, attributes, extra, source) "
                    "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", params)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"annotation refers to an unknown image or category ({exc})") from exc
        return [_with_id(a, first + i, p[9]) for i, (a, p) in enumerate(zip(anns, params))]

    def add_annotation_rows(self, rows: Sequence[tuple]) -> int:
        """Bulk-insert annotations given as column tuples (fast path of importers).

        Each row is ``(image_id, category_id, x, y, w, h, polygons_json, rle_json,
        iscrowd, area, attributes_json)``, optionally followed by ``extra_json, source``
        (schema 2; all rows of one call the same width; without them ``extra`` is none
        and ``source`` is ``""``), where the ``*_json`` values are compact JSON
        text (as :meth:`add_annotations` stores them), or ``None`` or ``""`` for none
        (both are stored as NULL; ``""`` is the fast spelling: the ``sqlite3`` module
        binds ``str``, ``int`` and ``float`` directly but sends ``None`` through its
        adapter look-up, which costs about 0.8 s of CPU per 1M rows of three ``None``).
        The caller has validated the rows (``w``/``h`` > 0, polygons of >= 3 points,
        finite numbers, area computed); only referential integrity is checked here.

        Returns:
            The number of rows inserted.

        Raises:
            StoreError: a row refers to an unknown image or category, or the rows are
                not all 11 or all 13 values long.
        """
        if not rows:
            return 0
        width = len(rows[0])
        if width not in (11, 13):
            raise StoreError(f"an annotation row has 11 or 13 values, got {width}")
        tail = (", extra, source", ", NULLIF(?, ''), ?") if width == 13 else ("", "")
        with self._write() as c:
            try:
                c.executemany(
                    "INSERT INTO annotations(image_id, category_id, x, y, w, h, polygons, rle, "
                    f"iscrowd, area, attributes{tail[0]}) VALUES(?, ?, ?, ?, ?, ?, NULLIF(?, ''), "
                    f"NULLIF(?, ''), ?, ?, NULLIF(?, ''){tail[1]})", rows)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"annotation refers to an unknown image or category ({exc})") from exc
            except sqlite3.ProgrammingError as exc:
                raise StoreError(f"annotation rows of different widths ({exc})") from exc
        return len(rows)

    def iter_annotation_rows(self, batch: int = 20000, *, extended: bool = False) -> Iterator[tuple]:
        """All annotations ordered by id as raw column tuples ``(id, image_id,
        category_id, x, y, w, h, polygons_json, rle_json, iscrowd, area,
        attributes_json)`` (JSON text or ``None``), read in batches: the fast path of
        streaming exports, which can copy the JSON text without parsing it.

        Args:
            batch: Rows per query.
            extended: Append ``extra_json`` (JSON text or ``None``) and ``source``
                (str) to each tuple (14 values).
        """
        cols = _ANN_COLS if extended else _ANN_COLS_V1
        last = 0
        while True:
            rows = self._read(f"SELECT {cols} FROM annotations WHERE id > ? ORDER BY id LIMIT ?",
                              (last, batch))
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def restore_annotations(self, anns: Iterable[Annotation]) -> None:
        """Re-insert deleted annotations with their original ids (for undo)."""
        anns = list(anns)
        with self._write() as c:
            c.executemany(
                "INSERT INTO annotations(id, image_id, category_id, x, y, w, h, polygons, rle, "
                "iscrowd, area, attributes, extra, source) "
                "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.id, *_annotation_params(a)) for a in anns])

    def annotation(self, ann_id: int) -> Annotation:
        """One annotation. Raises StoreError if unknown."""
        rows = self._read(f"SELECT {_ANN_COLS} FROM annotations WHERE id = ?", (ann_id,))
        if not rows:
            raise StoreError(f"unknown annotation id {ann_id}")
        return _annotation(rows[0])

    def annotations(self, image_id: int | None = None, category_id: int | None = None) -> list[Annotation]:
        """Annotations ordered by id, optionally of one image and/or one category."""
        sql, params = f"SELECT {_ANN_COLS} FROM annotations", []
        where = []
        if image_id is not None:
            where.append("image_id = ?")
            params.append(image_id)
        if category_id is not None:
            where.append("category_id = ?")
            params.append(category_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_annotation(r) for r in self._read(sql + " ORDER BY id", params)]

    def iter_annotations(self, batch: int = 20000) -> Iterator[Annotation]:
        """All annotations ordered by id, read in batches (for exports of 1M rows)."""
        for r in self.iter_annotation_rows(batch, extended=True):
            yield _annotation(r)

    def annotations_by_image(self, image_ids: Iterable[int] | None = None) -> dict[int, list[Annotation]]:
        """``{image_id: [annotations]}`` in one query (all images when ``None``)."""
        out: dict[int, list[Annotation]] = defaultdict(list)
        if image_ids is None:
            for a in self.iter_annotations():
                out[a.image_id].append(a)
            return dict(out)
        ids = list(image_ids)
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            marks = ",".join("?" * len(chunk))
            for r in self._read(f"SELECT {_ANN_COLS} FROM annotations WHERE image_id IN ({marks}) "
                                "ORDER BY id", chunk):
                a = _annotation(r)
                out[a.image_id].append(a)
        return dict(out)

    def annotation_count(self, image_id: int | None = None) -> int:
        """Number of annotations, optionally of one image."""
        if image_id is None:
            return self._read("SELECT COUNT(*) FROM annotations")[0][0]
        return self._read("SELECT COUNT(*) FROM annotations WHERE image_id = ?", (image_id,))[0][0]

    def update_annotation(self, ann: Annotation) -> Annotation:
        """Replace the stored annotation with id ``ann.id``; returns it as stored."""
        p = _annotation_params(ann)
        with self._write() as c:
            n = c.execute("UPDATE annotations SET image_id = ?, category_id = ?, x = ?, y = ?, w = ?, "
                          "h = ?, polygons = ?, rle = ?, iscrowd = ?, area = ?, attributes = ?, "
                          "extra = ?, source = ? WHERE id = ?", (*p, ann.id)).rowcount
            if not n:
                raise StoreError(f"unknown annotation id {ann.id}")
        return _with_id(ann, ann.id, p[9])

    def delete_annotations(self, ann_ids: Iterable[int]) -> list[Annotation]:
        """Delete annotations; returns what was deleted (for undo)."""
        ids = list(ann_ids)
        out = []
        with self._write() as c:
            for i in range(0, len(ids), 900):
                chunk = ids[i:i + 900]
                marks = ",".join("?" * len(chunk))
                out += [_annotation(r) for r in c.execute(
                    f"SELECT {_ANN_COLS} FROM annotations WHERE id IN ({marks}) ORDER BY id", chunk)]
                c.execute(f"DELETE FROM annotations WHERE id IN ({marks})", chunk)
        return out
