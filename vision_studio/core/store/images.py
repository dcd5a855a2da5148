"""Images: batched inserts, paged reads, splits and status."""
from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any, Iterable, Mapping, Sequence

from vision_studio.core.store.rows import _IMAGE_COLS, StoreError, _extra_json, _image, _next_id
from vision_studio.core.types import ImageRecord


class ImagesMixin:
    """Images: batched inserts, paged reads, splits and status. 

    Mixed into :class:`~vision_studio.core.store.ProjectStore`; relies on its
    ``_write()`` / ``_read()``.
    """

    # ------------------------------------------------------------------ images
    def add_image(self, image: ImageRecord) -> ImageRecord:
        """Insert one image (its ``id`` is ignored); returns it with the new id.

        Raises:
            StoreError: if the path is already in the project.
        """
        return self.add_images([image])[0]

    def add_images(self, images: Iterable[ImageRecord]) -> list[ImageRecord]:
        """Insert images in one batch (``executemany``); returns them with their new ids.

        Raises:
            StoreError: on a path already in the project (or twice in ``images``).
        """
        images = list(images)
        params = [(im.path, int(im.width), int(im.height), im.split, im.checksum, im.status,
                   _extra_json(im.extra), im.check_key) for im in images]
        first = self.add_image_rows(params)
        return [replace(im, id=first + i, width=p[1], height=p[2], extra=dict(im.extra or {}))
                for i, (im, p) in enumerate(zip(images, params))]

    def add_image_rows(self, rows: Sequence[tuple]) -> int:
        """Bulk-insert images given as column tuples (fast path of importers).

        Each row is ``(path, width, height, split, checksum, status)``, optionally
        followed by ``extra_json, check_key`` (schema 2; all rows of one call the same
        width): the project-relative POSIX path, the size in pixels (ints) and strings,
        as :class:`~vision_studio.core.types.ImageRecord` holds them; ``extra_json`` is
        a compact JSON object, or ``None`` / ``""`` for none.

        Returns:
            The id of the first row; the rows get consecutive ids in order (the table is
            ``AUTOINCREMENT`` and the insert runs under the write lock in one transaction).

        Raises:
            StoreError: a path is already in the project (or twice in ``rows``), or the
                rows are not all 6 or all 8 values long; nothing of the batch is kept
                unless an enclosing :meth:`transaction` goes on.
        """
        width = len(rows[0]) if rows else 6
        if width not in (6, 8):
            raise StoreError(f"an image row has 6 or 8 values, got {width}")
        tail = (", extra, check_key", ", NULLIF(?, ''), ?") if width == 8 else ("", "")
        with self._write() as c:
            try:
                first = _next_id(c, "images")
                c.executemany(f"INSERT INTO images(path, width, height, split, checksum, status{tail[0]}) "
                              f"VALUES(?, ?, ?, ?, ?, ?{tail[1]})", rows)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"image already in the project: {exc}") from exc
            except sqlite3.ProgrammingError as exc:
                raise StoreError(f"image rows of different widths ({exc})") from exc
        return first

    def image(self, image_id: int) -> ImageRecord:
        """One image. Raises StoreError if unknown."""
        rows = self._read(f"SELECT {_IMAGE_COLS} FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise StoreError(f"unknown image id {image_id}")
        return _image(rows[0])

    def image_by_path(self, path: str) -> ImageRecord | None:
        """The image stored under the relative ``path``, or ``None``."""
        rows = self._read(f"SELECT {_IMAGE_COLS} FROM images WHERE path = ?", (path,))
        return _image(rows[0]) if rows else None

    def images(self, split: str | None = None, offset: int = 0, limit: int = -1) -> list[ImageRecord]:
        """Images ordered by id, optionally of one split, paged by ``offset``/``limit``."""
        sql = f"SELECT {_IMAGE_COLS} FROM images"
        params: list[Any] = []
        if split is not None:
            sql += " WHERE split = ?"
            params.append(split)
        sql += " ORDER BY id LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [_image(r) for r in self._read(sql, params)]

    def image_paths(self) -> list[str]:
        """Every image's stored relative POSIX path, ordered by id (no records built)."""
        return [r[0] for r in self._read("SELECT path FROM images ORDER BY id")]

    def image_count(self, split: str | None = None) -> int:
        """Number of images, optionally of one split."""
        if split is None:
            return self._read("SELECT COUNT(*) FROM images")[0][0]
        return self._read("SELECT COUNT(*) FROM images WHERE split = ?", (split,))[0][0]

    def splits(self) -> dict[str, int]:
        """Image count per split name (``""`` = unassigned)."""
        return dict(self._read("SELECT split, COUNT(*) FROM images GROUP BY split ORDER BY split"))

    def update_image(self, image_id: int, *, split: str | None = None, status: str | None = None,
                     width: int | None = None, height: int | None = None,
                     checksum: str | None = None, extra: Mapping[str, Any] | None = None,
                     check_key: str | None = None) -> ImageRecord:
        """Change fields of an image (``None`` = keep); returns the updated record.

        Raises:
            StoreError: unknown ``image_id``, or ``extra`` not a JSON object.
        """
        with self._write() as c:  # read and write under one lock and transaction
            old = self.image(image_id)
            changes = {"width": None if width is None else int(width),
                       "height": None if height is None else int(height),
                       "split": split, "checksum": checksum, "status": status,
                       "extra": None if extra is None else dict(extra), "check_key": check_key}
            new = replace(old, **{k: v for k, v in changes.items() if v is not None})
            c.execute("UPDATE images SET width = ?, height = ?, split = ?, checksum = ?, status = ?, "
                      "extra = ?, check_key = ? WHERE id = ?",
                      (new.width, new.height, new.split, new.checksum, new.status,
                       _extra_json(new.extra), new.check_key, image_id))
        return new

    def set_check_keys(self, keys: Mapping[int, str]) -> None:
        """Record full verifications in one transaction: ``{image_id: check_key}``
        (``"<size>:<mtime_ns>"`` of the file when it was verified, ``""`` to forget)."""
        with self._write() as c:
            c.executemany("UPDATE images SET check_key = ? WHERE id = ?",
                          [(str(k), int(i)) for i, k in keys.items()])

    def set_splits(self, splits: Mapping[int, str]) -> None:
        """Assign splits to many images in one transaction (``{image_id: split}``)."""
        with self._write() as c:
            c.executemany("UPDATE images SET split = ? WHERE id = ?",
                          [(s, i) for i, s in splits.items()])

    def delete_image(self, image_id: int) -> None:
        """Remove an image from the project with its annotations, tags and problems
        (the file on disk is untouched)."""
        with self._write() as c:
            c.execute("DELETE FROM images WHERE id = ?", (image_id,))
