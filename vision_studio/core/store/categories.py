"""Categories: add, rename, recolour, merge, delete and restore."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from vision_studio.core.store.rows import (
    _ANN_COLS,
    _CAT_COLS,
    StoreError,
    _annotation,
    _category,
    _extra_json,
)
from vision_studio.core.store.schema import PALETTE
from vision_studio.core.types import Annotation, Category


class CategoriesMixin:
    """Categories: add, rename, recolour, merge, delete and restore. 

    Mixed into :class:`~vision_studio.core.store.ProjectStore`; relies on its
    ``_write()`` / ``_read()``.
    """

    # ------------------------------------------------------------------ categories
    def add_category(self, name: str, color: str | None = None, supercategory: str = "",
                     extra: Mapping[str, Any] | None = None) -> Category:
        """Add a category; a colour from :data:`PALETTE` is chosen when none is given.

        Args:
            name: Display name (stripped; must not be empty).
            color: ``"#rrggbb"``, or ``None`` for the next palette colour.
            supercategory: COCO ``supercategory``.
            extra: Imported fields to keep (e.g. ``{"coco_id": 18}``).

        Raises:
            StoreError: if ``name`` is empty or ``extra`` is not a JSON object.
        """
        return self.add_categories([(name, color, supercategory, extra)])[0]

    def add_categories(self, items: Iterable[tuple]) -> list[Category]:
        """Add several categories at once, each ``(name, color or None, supercategory)``
        or ``(name, color or None, supercategory, extra or None)``."""
        out = []
        with self._write() as c:
            n = c.execute("SELECT COUNT(*) FROM categories").fetchone()[0]
            for item in items:
                name, color, supercategory = item[:3]
                extra = dict(item[3] or {}) if len(item) > 3 else {}
                name = (name or "").strip()
                if not name:
                    raise StoreError("a category needs a name")
                color = color or PALETTE[n % len(PALETTE)]
                cur = c.execute("INSERT INTO categories(name, color, supercategory, extra) "
                                "VALUES(?, ?, ?, ?)",
                                (name, color, supercategory or "", _extra_json(extra)))
                out.append(Category(id=cur.lastrowid, name=name, color=color,
                                    supercategory=supercategory or "", extra=extra))
                n += 1
        return out

    def categories(self) -> list[Category]:
        """All categories ordered by id."""
        return [_category(r) for r in self._read(
            f"SELECT {_CAT_COLS} FROM categories ORDER BY id")]

    def category(self, category_id: int) -> Category:
        """One category. Raises StoreError if unknown."""
        rows = self._read(f"SELECT {_CAT_COLS} FROM categories WHERE id = ?", (category_id,))
        if not rows:
            raise StoreError(f"unknown category id {category_id}")
        return _category(rows[0])

    def update_category(self, category_id: int, *, name: str | None = None,
                        color: str | None = None, supercategory: str | None = None,
                        extra: Mapping[str, Any] | None = None) -> Category:
        """Rename / recolour a category (``None`` = keep); returns the updated record."""
        old = self.category(category_id)
        new = Category(id=old.id, name=(name.strip() if name is not None else old.name),
                       color=color or old.color,
                       supercategory=old.supercategory if supercategory is None else supercategory,
                       extra=dict(old.extra if extra is None else extra))
        if not new.name:
            raise StoreError("a category needs a name")
        with self._write() as c:
            c.execute("UPDATE categories SET name = ?, color = ?, supercategory = ?, extra = ? "
                      "WHERE id = ?", (new.name, new.color, new.supercategory,
                                       _extra_json(new.extra), category_id))
        return new

    def restore_category(self, category: Category) -> None:
        """Re-insert a deleted category with its original id (for undo)."""
        with self._write() as c:
            c.execute("INSERT INTO categories(id, name, color, supercategory, extra) "
                      "VALUES(?, ?, ?, ?, ?)", (category.id, category.name, category.color,
                                                category.supercategory, _extra_json(category.extra)))

    def delete_category(self, category_id: int) -> tuple[Category, list[Annotation], list[tuple[int, int]]]:
        """Delete a category with its annotations and image tags.

        Returns:
            What was deleted, ``(category, annotations, tags)``, so that an undo can
            restore it with :meth:`restore_category`, :meth:`restore_annotations` and
            :meth:`add_image_tags`.
        """
        cat = self.category(category_id)
        with self._write() as c:
            anns = [_annotation(r) for r in c.execute(
                f"SELECT {_ANN_COLS} FROM annotations WHERE category_id = ?", (category_id,))]
            tags = [tuple(r) for r in c.execute(
                "SELECT image_id, category_id FROM image_tags WHERE category_id = ?", (category_id,))]
            c.execute("DELETE FROM categories WHERE id = ?", (category_id,))
        return cat, anns, tags

    def merge_categories(self, source_ids: Iterable[int], target_id: int) -> int:
        """Move every annotation and tag of ``source_ids`` to ``target_id`` and delete
        the source categories. Returns the number of annotations moved."""
        self.category(target_id)
        sources = [s for s in source_ids if s != target_id]
        moved = 0
        with self._write() as c:
            for s in sources:
                moved += c.execute("UPDATE annotations SET category_id = ? WHERE category_id = ?",
                                   (target_id, s)).rowcount
                c.execute("INSERT OR IGNORE INTO image_tags(image_id, category_id) "
                          "SELECT image_id, ? FROM image_tags WHERE category_id = ?", (target_id, s))
                c.execute("DELETE FROM categories WHERE id = ?", (s,))
        return moved
