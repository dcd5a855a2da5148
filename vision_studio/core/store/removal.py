"""Removing images from a project, and putting them back (the GUI's undo), plus the
range of stored image paths (for showing paths relative to the dataset's folder).

Queries over the store's schema, so they live in the store package (like
:mod:`vision_studio.core.store.filters`) and go through the store's serialised
``_read`` / ``_write`` helpers. Rows are copied column by column as the file has them
(``SELECT *``), so a removal made on a schema with more columns (v2's ``extra``,
``check_key``, ``dismissed``...) is restored exactly, ids included.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from vision_studio.core.store import ProjectStore

# Tables holding rows of an image, in the order they are restored (parents first);
# each with the column that names the image.
_TABLES: tuple[tuple[str, str], ...] = (("images", "id"), ("annotations", "image_id"),
                                        ("image_tags", "image_id"), ("problems", "image_id"),
                                        ("proposals", "image_id"), ("queue_scores", "image_id"))


@dataclass(frozen=True)
class RemovedImages:
    """Everything :func:`remove_images` deleted, to give to :func:`restore_images`.

    Attributes:
        image_ids: The removed images' ids, ascending.
        rows: ``(table, column names, rows)`` per table, rows as plain tuples.
    """

    image_ids: tuple[int, ...]
    rows: tuple[tuple[str, tuple[str, ...], tuple[tuple, ...]], ...]

    def count(self, table: str) -> int:
        """Rows removed from ``table`` (``"images"``, ``"annotations"``...)."""
        return sum(len(r) for t, _, r in self.rows if t == table)


def remove_images(store: ProjectStore, image_ids: Sequence[int]) -> RemovedImages:
    """Remove images from the project with their annotations, tags and problems, in one
    transaction (the files on disk are untouched).

    Args:
        store: The open project.
        image_ids: Ids to remove; unknown ids are ignored.

    Returns:
        What was removed, for :func:`restore_images`.
    """
    ids = sorted({int(i) for i in image_ids})
    out = []
    with store._write() as c:
        for start in range(0, len(ids), 900):  # SQLite's default limit of bound parameters
            chunk = ids[start:start + 900]
            marks = ",".join("?" * len(chunk))
            for table, column in _TABLES:
                cur = c.execute(f"SELECT * FROM {table} WHERE {column} IN ({marks})", chunk)
                names = tuple(d[0] for d in cur.description)
                out.append((table, names, tuple(cur.fetchall())))
            c.execute(f"DELETE FROM images WHERE id IN ({marks})", chunk)  # cascades
    found = tuple(sorted(r[0] for t, _, rows in out if t == "images" for r in rows))
    return RemovedImages(found, tuple(out))


def restore_images(store: ProjectStore, removed: RemovedImages) -> None:
    """Put back what :func:`remove_images` removed, under the same ids, in one transaction.

    Raises:
        sqlite3.IntegrityError: when an id or path has been taken meanwhile (the
            transaction is rolled back; nothing is half restored).
    """
    order = {t: i for i, (t, _) in enumerate(_TABLES)}
    with store._write() as c:
        for table, names, rows in sorted(removed.rows, key=lambda r: order[r[0]]):
            if rows:
                cols = ", ".join(names)
                marks = ",".join("?" * len(names))
                c.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)


def image_path_bounds(store: ProjectStore) -> tuple[str, str] | None:
    """The first and last stored image paths in code-point order (one indexed query),
    or None for a project without images. Their common folder is the common folder of
    every image path."""
    lo, hi = store._read("SELECT MIN(path), MAX(path) FROM images")[0]
    return None if lo is None else (lo, hi)
