"""Images: batched inserts, paged reads, splits and status."""
from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Mapping, Sequence

from vision_studio.core.store.rows import StoreError, _image, _next_id
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
        params = [(im.path, int(im.width), int(im.height), im.split, im.checksum, im.status)
                  for im in images]
        first = self.add_image_rows(params)
        return [ImageRecord(id=first + i, path=p[0], width=p[1], height=p[2], split=p[3],
                            checksum=p[4], status=p[5]) for i, p in enumerate(params)]

    def add_image_rows(self, rows: Sequence[tuple]) -> int:
        """Bulk-insert images given as column tuples (fast path of importers).

        Each row is ``(path, width, height, split, checksum, status)``: the project-
        relative POSIX path, the size in pixels (ints) and strings, as
        :class:`~vision_studio.core.types.ImageRecord` holds them.

        Returns:
            The id of the first row; the rows get consecutive ids in order (the table is
            ``AUTOINCREMENT`` and the insert runs under the write lock in one transaction).

        Raises:
            StoreError: a path is already in the project (or twice in ``rows``); nothing
                of the batch is kept unless an enclosing :meth:`transaction` goes on.
        """
        with self._write() as c:
            try:
                first = _next_id(c, "images")
                c.executemany("INSERT INTO images(path, width, height, split, checksum, status) "
                              "VALUES(?, ?, ?, ?, ?, ?)", rows)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"image already in the project: {exc}") from exc
        return first

    def image(self, image_id: int) -> ImageRecord:
        """One image. Raises StoreError if unknown."""
        rows = self._read("SELECT id, path, width, height, split, checksum, status FROM images "
                          "WHERE id = ?", (image_id,))
        if not rows:
            raise StoreError(f"unknown image id {image_id}")
        return _image(rows[0])

    def image_by_path(self, path: str) -> ImageRecord | None:
        """The image stored under the relative ``path``, or ``None``."""
        rows = self._read("SELECT id, path, width, height, split, checksum, status FROM images "
                          "WHERE path = ?", (path,))
        return _image(rows[0]) if rows else None

    def images(self, split: str | None = None, offset: int = 0, limit: int = -1) -> list[ImageRecord]:
        """Images ordered by id, optionally of one split, paged by ``offset``/``limit``."""
        sql = "SELECT id, path, width, height, split, checksum, status FROM images"
        params: list[Any] = []
        if split is not None:
            sql += " WHERE split = ?"
            params.append(split)
        sql += " ORDER BY id LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [_image(r) for r in self._read(sql, params)]

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
                     checksum: str | None = None) -> ImageRecord:
        """Change fields of an image; returns the updated record."""
        old = self.image(image_id)
        new = ImageRecord(id=old.id, path=old.path,
                          width=old.width if width is None else int(width),
                          height=old.height if height is None else int(height),
                          split=old.split if split is None else split,
                          checksum=old.checksum if checksum is None else checksum,
                          status=old.status if status is None else status)
        with self._write() as c:
            c.execute("UPDATE images SET width = ?, height = ?, split = ?, checksum = ?, status = ? "
                      "WHERE id = ?", (new.width, new.height, new.split, new.checksum, new.status,
                                       image_id))
        return new

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
