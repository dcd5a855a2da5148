"""Filtered, paged views of a project's images for browsers (GUI image list, CLI).

A project may hold 100k images and 1M annotations: a browser must never build every
``ImageRecord`` up front. :func:`filter_image_ids` returns only the matching ids (one
SQL query over indexed columns, a plain ``list[int]``: ~1 MB for 100k images), and
:func:`images_by_ids` fetches the records of one visible page.

These are queries over the store's schema, so they live in the store package and read
through :class:`~vision_studio.core.store.ProjectStore`'s serialised read helper: they
obey the store's lock and see every committed edit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from vision_studio.core.store import ProjectStore
from vision_studio.core.store.rows import _IMAGE_COLS, _image
from vision_studio.core.types import ImageRecord


@dataclass(frozen=True)
class ImageFilter:
    """Which images a browser shows.

    Attributes:
        split: Only images of this split (``""`` = unassigned); ``None`` = any split.
        category_id: Only images with at least one annotation or tag of this category.
        labelled: ``True`` = images with an annotation or tag, ``False`` = images with
            neither, ``None`` = both.
        has_problems: ``True`` = only images with a recorded problem (decode error, box
            outside the image...); ``False`` = only images without; ``None`` = both.
        name_contains: Case-insensitive substring of the stored relative path.
    """

    split: str | None = None
    category_id: int | None = None
    labelled: bool | None = None
    has_problems: bool | None = None
    name_contains: str = ""

    def is_empty(self) -> bool:
        """True when the filter keeps every image."""
        return self == ImageFilter()


def _where(flt: ImageFilter) -> tuple[str, list[Any]]:
    """SQL ``WHERE`` clause (or ``""``) and its parameters for ``flt`` over ``images i``."""
    clauses: list[str] = []
    params: list[Any] = []
    if flt.split is not None:
        clauses.append("i.split = ?")
        params.append(flt.split)
    if flt.category_id is not None:
        # one pass over the category's index entries; a correlated EXISTS per image made
        # SQLite scan the category's 50k annotations for each of 33k images (minutes)
        clauses.append("i.id IN (SELECT image_id FROM annotations WHERE category_id = ? "
                       "UNION SELECT image_id FROM image_tags WHERE category_id = ?)")
        params += [flt.category_id, flt.category_id]
    if flt.labelled is not None:
        labelled = ("(EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = i.id) OR "
                    "EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = i.id))")
        clauses.append(labelled if flt.labelled else f"NOT {labelled}")
    if flt.has_problems is not None:
        exists = "EXISTS (SELECT 1 FROM problems p WHERE p.image_id = i.id AND p.dismissed = 0)"
        clauses.append(exists if flt.has_problems else f"NOT {exists}")
    if flt.name_contains.strip():
        # instr(lower(...)) rather than LIKE: no escaping of % and _ in user text.
        clauses.append("instr(lower(i.path), ?) > 0")
        params.append(flt.name_contains.strip().lower())
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def filter_image_ids(store: ProjectStore, flt: ImageFilter | None = None) -> list[int]:
    """Ids of the images matching ``flt``, ordered by id.

    Args:
        store: The open project.
        flt: The filter; ``None`` keeps every image.

    Returns:
        Image ids (ints), ascending. 100k ids take about 1 MB and ~50 ms to read.
    """
    where, params = _where(flt or ImageFilter())
    rows = store._read(f"SELECT i.id FROM images i{where} ORDER BY i.id", params)
    return [r[0] for r in rows]


def images_by_ids(store: ProjectStore, ids: Sequence[int]) -> list[ImageRecord]:
    """The records of ``ids`` in the order given (unknown ids are left out).

    Args:
        store: The open project.
        ids: Image ids, typically one visible page (a few hundred).
    """
    found: dict[int, ImageRecord] = {}
    ids = list(ids)
    for start in range(0, len(ids), 900):  # SQLite's default limit of bound parameters
        chunk = ids[start:start + 900]
        marks = ",".join("?" * len(chunk))
        for row in store._read(f"SELECT {_IMAGE_COLS} FROM images WHERE id IN ({marks})", chunk):
            found[row[0]] = _image(row)
    return [found[i] for i in ids if i in found]


def _rows_per_image(store: ProjectStore, table: str, ids: Iterable[int]) -> dict[int, int]:
    """``{image_id: number of rows of table}`` for ``ids`` (images with none are absent)."""
    out: dict[int, int] = {}
    ids = list(ids)
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        marks = ",".join("?" * len(chunk))
        out.update(dict(store._read(
            f"SELECT image_id, COUNT(*) FROM {table} WHERE image_id IN ({marks}) "
            "GROUP BY image_id", chunk)))
    return out


def annotation_counts_by_image(store: ProjectStore, ids: Iterable[int]) -> dict[int, int]:
    """``{image_id: number of annotations}`` for ``ids`` (images with none are absent)."""
    return _rows_per_image(store, "annotations", ids)


def proposal_counts_by_image(store: ProjectStore, ids: Iterable[int]) -> dict[int, int]:
    """``{image_id: number of model proposals}`` for ``ids`` (images with none are absent)."""
    return _rows_per_image(store, "proposals", ids)


def tags_by_image(store: ProjectStore, ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
    """``{image_id: (tagged category ids)}`` for the tagged images among ``ids``."""
    out: dict[int, list[int]] = {}
    ids = list(ids)
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        marks = ",".join("?" * len(chunk))
        for image_id, cat in store._read(
                f"SELECT image_id, category_id FROM image_tags WHERE image_id IN ({marks}) "
                "ORDER BY image_id, category_id", chunk):
            out.setdefault(image_id, []).append(cat)
    return {k: tuple(v) for k, v in out.items()}


def problem_image_ids(store: ProjectStore, ids: Iterable[int]) -> set[int]:
    """The subset of ``ids`` that has at least one recorded, not dismissed problem."""
    out: set[int] = set()
    ids = list(ids)
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        marks = ",".join("?" * len(chunk))
        out.update(r[0] for r in store._read(
            f"SELECT DISTINCT image_id FROM problems WHERE image_id IN ({marks}) "
            "AND dismissed = 0", chunk))
    return out


def category_usage(store: ProjectStore) -> dict[int, tuple[int, int]]:
    """``{category_id: (annotations, tagged images)}`` for every category (zeros included)."""
    rows = store._read(
        "SELECT c.id, (SELECT COUNT(*) FROM annotations a WHERE a.category_id = c.id), "
        "(SELECT COUNT(*) FROM image_tags t WHERE t.category_id = c.id) FROM categories c")
    return {r[0]: (r[1], r[2]) for r in rows}
