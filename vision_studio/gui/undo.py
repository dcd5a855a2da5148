"""Undo/redo commands over :class:`~vision_studio.core.store.ProjectStore` operations.

Every user edit in the GUI is one :class:`QUndoCommand` pushed on the session's
unbounded :class:`QUndoStack`. ``redo()`` (which ``QUndoStack.push`` calls at once) and
``undo()`` each run ONE store transaction that is committed before they return, so the
project file always holds what is on screen: killing the process loses nothing.

Widgets do not need to be told about an edit by the command: they listen to
``QUndoStack.indexChanged`` and re-read the store (see ``AnnotationCanvas``). Each
command exposes :attr:`StoreCommand.image_ids` (the images whose annotations or tags it
changes; empty for category commands, which may touch any image) so that listeners can
tell which images to refresh.

Geometry conventions are those of :mod:`vision_studio.core.types`: COCO bbox
``(x, y, w, h)`` in image pixels, flat polygons ``(x1, y1, x2, y2, ...)``. When the
geometry of an annotation changes, :func:`with_geometry` sets its bbox to the polygons'
bounding box and its area as COCO does (:mod:`vision_studio.core.geometry`: the
polygons' rasterised pixel count, or ``w * h`` for a plain box), so a drawn polygon has
the same area as the same polygon imported from COCO.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from typing import Iterable, Sequence

from PySide6.QtGui import QUndoCommand

from vision_studio.core import geometry
from vision_studio.core.errors import VisionStudioError
from vision_studio.core.store import ProjectStore
from vision_studio.core.store.removal import RemovedImages, remove_images, restore_images
from vision_studio.core.types import Annotation, BBox, Category, Polygon, Problem, Proposal

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- geometry helpers
def with_geometry(ann: Annotation, *, bbox: BBox | None = None,
                  polygons: Sequence[Polygon] | None = None) -> Annotation:
    """A copy of ``ann`` with new geometry, its bbox and its COCO ``area``.

    When ``polygons`` are given, the bbox becomes their bounding box (COCO keeps the
    bbox of a polygon annotation equal to the polygon's extent) and the area their
    rasterised pixel count (:func:`vision_studio.core.geometry.annotation_area`, the
    same convention as imported COCO polygons); else ``bbox`` is used and the area is
    ``w * h`` (an annotation's own polygons or RLE mask, when it has them, keep giving
    the area).

    Raises:
        ValueError: with neither ``bbox`` nor ``polygons``, or polygons without a point.
    """
    if polygons is not None:
        polys = tuple(tuple(float(v) for v in p) for p in polygons)
        return replace(ann, polygons=polys, bbox=geometry.polygons_bbox(polys),
                       area=geometry.annotation_area((0, 0, 0, 0), polys))
    if bbox is None:
        raise ValueError("with_geometry needs a bbox or polygons")
    box = tuple(float(v) for v in bbox)
    return replace(ann, bbox=box, area=geometry.annotation_area(box, ann.polygons, ann.rle))


def clip_to_image(a: Annotation, width: int, height: int) -> Annotation | None:
    """``a`` with its geometry clipped to an image of ``width`` x ``height`` pixels
    (:func:`~vision_studio.core.geometry.clip_polygons` /
    :func:`~vision_studio.core.geometry.clip_box`, area recomputed), or None if nothing
    is left; an RLE mask is kept only when its size matches the image."""
    if a.polygons:
        polys = geometry.clip_polygons(a.polygons, width, height)
        return with_geometry(a, polygons=polys) if polys else None
    if a.rle is not None:
        size = list(a.rle.get("size", []))
        return a if size == [int(height), int(width)] else None
    box = geometry.clip_box(a.bbox, width, height)
    return None if box is None else with_geometry(a, bbox=box)


# ---------------------------------------------------------------------- base class
class StoreCommand(QUndoCommand):
    """Base of every store command: runs ``_redo``/``_undo`` inside one transaction.

    A store error (say the category was deleted meanwhile by another window) is logged
    and kept in :attr:`error` instead of escaping into Qt; the command is then marked
    obsolete so that the stack drops it.

    Attributes:
        store: The project store the command edits.
        image_ids: Images whose annotations/tags this command changes.
        error: The message of the last failed redo/undo, or ``""``.
    """

    changes_images = False  # True for commands that add or remove images
    changes_problems = False  # True for commands that change the problem list

    def __init__(self, store: ProjectStore, text: str, image_ids: Iterable[int] = ()) -> None:
        super().__init__(text)
        self.store = store
        self.image_ids: set[int] = set(image_ids)
        self.error = ""

    def redo(self) -> None:  # noqa: D102 - Qt override
        self._run(self._redo)

    def undo(self) -> None:  # noqa: D102 - Qt override
        self._run(self._undo)

    def _run(self, step) -> None:
        self.error = ""
        try:
            with self.store.transaction():
                step()
        except VisionStudioError as exc:
            self.error = f"{self.text()} failed: {exc}"
            log.error("%s", self.error)
            self.setObsolete(True)

    def _redo(self) -> None:
        raise NotImplementedError

    def _undo(self) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------------- annotations
class AddAnnotationsCommand(StoreCommand):
    """Add annotations (a drawn shape, pasted shapes). Redo after undo re-inserts them
    under the same ids, so later commands that refer to the ids stay valid.

    Attributes:
        added: The annotations as stored (with ids), after the first redo.
    """

    def __init__(self, store: ProjectStore, anns: Sequence[Annotation], text: str = "Add shape") -> None:
        super().__init__(store, text, (a.image_id for a in anns))
        self._new = list(anns)
        self.added: list[Annotation] = []

    def _redo(self) -> None:
        if self.added:
            self.store.restore_annotations(self.added)
        else:
            self.added = self.store.add_annotations(self._new)

    def _undo(self) -> None:
        self.store.delete_annotations([a.id for a in self.added])

    @property
    def ids(self) -> list[int]:
        """Ids of the added annotations."""
        return [a.id for a in self.added]


class PasteAnnotationsCommand(AddAnnotationsCommand):
    """Paste copied shapes onto an image (same as adding them)."""

    def __init__(self, store: ProjectStore, anns: Sequence[Annotation]) -> None:
        super().__init__(store, anns, text=f"Paste {len(anns)} shape(s)")


class DeleteAnnotationsCommand(StoreCommand):
    """Delete annotations; undo restores them with their ids."""

    def __init__(self, store: ProjectStore, ann_ids: Sequence[int], text: str | None = None) -> None:
        anns = [store.annotation(i) for i in ann_ids]
        super().__init__(store, text or f"Delete {len(anns)} shape(s)", (a.image_id for a in anns))
        self._ids = [a.id for a in anns]
        self._deleted: list[Annotation] = anns

    def _redo(self) -> None:
        self._deleted = self.store.delete_annotations(self._ids)

    def _undo(self) -> None:
        self.store.restore_annotations(self._deleted)


class ModifyAnnotationsCommand(StoreCommand):
    """Replace annotations by new versions (same ids); undo writes the old ones back.

    Used for every geometry or category change: move/resize a box, move/insert/delete a
    polygon vertex, move a polygon, change category. A drag is ONE command, pushed on
    mouse release.
    """

    def __init__(self, store: ProjectStore, old: Sequence[Annotation], new: Sequence[Annotation],
                 text: str = "Edit shape") -> None:
        if [a.id for a in old] != [a.id for a in new]:
            raise ValueError("old and new annotations must have the same ids in the same order")
        super().__init__(store, text, {a.image_id for a in old} | {a.image_id for a in new})
        self._old = list(old)
        self._new = list(new)

    def _redo(self) -> None:
        for a in self._new:
            self.store.update_annotation(a)

    def _undo(self) -> None:
        for a in self._old:
            self.store.update_annotation(a)


class MoveResizeBoxCommand(ModifyAnnotationsCommand):
    """Move or resize one box to ``bbox`` (pixels)."""

    def __init__(self, store: ProjectStore, old: Annotation, bbox: BBox, text: str = "Move/resize box") -> None:
        super().__init__(store, [old], [with_geometry(old, bbox=bbox)], text)


class MoveShapesCommand(ModifyAnnotationsCommand):
    """Translate shapes (boxes and polygons) by ``(dx, dy)`` pixels."""

    def __init__(self, store: ProjectStore, old: Sequence[Annotation], dx: float, dy: float) -> None:
        new = []
        for a in old:
            if a.polygons:
                polys = [[v + (dx if i % 2 == 0 else dy) for i, v in enumerate(p)] for p in a.polygons]
                new.append(with_geometry(a, polygons=polys))
            else:
                x, y, w, h = a.bbox
                new.append(with_geometry(a, bbox=(x + dx, y + dy, w, h)))
        super().__init__(store, old, new, f"Move {len(old)} shape(s)")


def _set_vertex(ann: Annotation, poly: int, points: list[float]) -> Annotation:
    polys = [list(p) for p in ann.polygons]
    polys[poly] = points
    return with_geometry(ann, polygons=polys)


class MoveVertexCommand(ModifyAnnotationsCommand):
    """Move vertex ``vertex`` of polygon ``poly`` of an annotation to ``(x, y)``."""

    def __init__(self, store: ProjectStore, old: Annotation, poly: int, vertex: int, x: float, y: float) -> None:
        pts = list(old.polygons[poly])
        pts[2 * vertex:2 * vertex + 2] = [x, y]
        super().__init__(store, [old], [_set_vertex(old, poly, pts)], "Move vertex")


class InsertVertexCommand(ModifyAnnotationsCommand):
    """Insert a vertex ``(x, y)`` before index ``vertex`` of polygon ``poly``
    (``vertex = i + 1`` inserts on the edge from point i to point i + 1)."""

    def __init__(self, store: ProjectStore, old: Annotation, poly: int, vertex: int, x: float, y: float) -> None:
        pts = list(old.polygons[poly])
        pts[2 * vertex:2 * vertex] = [x, y]
        super().__init__(store, [old], [_set_vertex(old, poly, pts)], "Insert vertex")


class DeleteVertexCommand(ModifyAnnotationsCommand):
    """Delete vertex ``vertex`` of polygon ``poly``.

    Raises:
        ValueError: if the polygon would keep fewer than 3 points.
    """

    def __init__(self, store: ProjectStore, old: Annotation, poly: int, vertex: int) -> None:
        pts = list(old.polygons[poly])
        if len(pts) <= 6:
            raise ValueError("a polygon keeps at least 3 points")
        del pts[2 * vertex:2 * vertex + 2]
        super().__init__(store, [old], [_set_vertex(old, poly, pts)], "Delete vertex")


class ChangeCategoryCommand(ModifyAnnotationsCommand):
    """Give annotations another category."""

    def __init__(self, store: ProjectStore, old: Sequence[Annotation], category_id: int) -> None:
        name = store.category(category_id).name
        new = [replace(a, category_id=category_id) for a in old]
        super().__init__(store, old, new, f"Set category of {len(old)} shape(s) to {name}")


# ---------------------------------------------------------------------- image tags
class SetImageTagsCommand(StoreCommand):
    """Replace an image's image-level tags (classification labels)."""

    def __init__(self, store: ProjectStore, image_id: int, category_ids: Iterable[int]) -> None:
        super().__init__(store, "Set image tags", [image_id])
        self._image_id = image_id
        self._new = tuple(dict.fromkeys(category_ids))
        self._old: tuple[int, ...] = store.image_tags(image_id)

    def _redo(self) -> None:
        self._old = self.store.set_image_tags(self._image_id, self._new)

    def _undo(self) -> None:
        self.store.set_image_tags(self._image_id, self._old)


# ---------------------------------------------------------------------- categories
class AddCategoryCommand(StoreCommand):
    """Add a category; redo after undo restores it under the same id.

    Attributes:
        category: The category as stored, after the first redo.
    """

    def __init__(self, store: ProjectStore, name: str, color: str | None = None,
                 supercategory: str = "") -> None:
        super().__init__(store, f"Add category {name}")
        self._args = (name, color, supercategory)
        self.category: Category | None = None

    def _redo(self) -> None:
        if self.category is None:
            self.category = self.store.add_category(*self._args)
        else:
            self.store.restore_category(self.category)

    def _undo(self) -> None:
        assert self.category is not None
        self.store.delete_category(self.category.id)


class UpdateCategoryCommand(StoreCommand):
    """Rename and/or recolour a category."""

    def __init__(self, store: ProjectStore, category_id: int, *, name: str | None = None,
                 color: str | None = None) -> None:
        self._old = store.category(category_id)
        what = "Rename" if name is not None else "Recolour"
        super().__init__(store, f"{what} category {self._old.name}")
        self._name, self._color = name, color

    def _redo(self) -> None:
        self.store.update_category(self._old.id, name=self._name, color=self._color)

    def _undo(self) -> None:
        self.store.update_category(self._old.id, name=self._old.name, color=self._old.color)


class RenameCategoryCommand(UpdateCategoryCommand):
    """Rename a category."""

    def __init__(self, store: ProjectStore, category_id: int, name: str) -> None:
        super().__init__(store, category_id, name=name)


class RecolourCategoryCommand(UpdateCategoryCommand):
    """Give a category another ``#rrggbb`` colour."""

    def __init__(self, store: ProjectStore, category_id: int, color: str) -> None:
        super().__init__(store, category_id, color=color)


class MergeCategoriesCommand(StoreCommand):
    """Merge ``source_ids`` into ``target_id`` (annotations, tags and model proposals
    move, sources are deleted); undo restores the sources, their annotations' and
    proposals' categories, the tags and the tags' provenance."""

    def __init__(self, store: ProjectStore, source_ids: Iterable[int], target_id: int) -> None:
        self._target = target_id
        self._sources = [store.category(i) for i in dict.fromkeys(source_ids) if i != target_id]
        target = store.category(target_id)
        super().__init__(store, f"Merge {len(self._sources)} category(ies) into {target.name}")
        self._moved: list[tuple[int, int]] = []
        self._tags: dict[int, tuple[int, ...]] = {}
        self._proposals: list[Proposal] = []
        self._tag_sources: dict[tuple[int, int], str] = {}

    def _redo(self) -> None:
        src = {c.id for c in self._sources}
        anns = [a for c in src for a in self.store.annotations(category_id=c)]
        self._moved = [(a.id, a.category_id) for a in anns]
        all_tags = self.store.all_image_tags()
        self._tags = {i: t for i, t in all_tags.items() if src & set(t)}
        self._tag_sources = {k: v for c in sorted(src | {self._target}) for k, v in self.store.tag_sources(c).items()}
        self._proposals = [p for c in src for p in self.store.proposals(category_id=c)]
        self.store.merge_categories(src, self._target)  # (the sources' proposals go with them)
        self.store.restore_proposals([replace(p, category_id=self._target) for p in self._proposals])
        had_target = {i for i, t in all_tags.items() if self._target in t}
        self.store.set_tag_sources({(i, self._target): v for (i, c), v in self._tag_sources.items()
                                    if c != self._target and i not in had_target})
        self.image_ids = {a.image_id for a in anns} | set(self._tags) | {p.image_id for p in self._proposals}

    def _undo(self) -> None:
        self.store.delete_proposals([p.id for p in self._proposals])
        for c in self._sources:
            self.store.restore_category(c)
        for ann_id, cat in self._moved:
            self.store.update_annotation(replace(self.store.annotation(ann_id), category_id=cat))
        for image_id, tags in self._tags.items():
            self.store.set_image_tags(image_id, tags)
        self.store.set_tag_sources(self._tag_sources)
        self.store.restore_proposals(self._proposals)


class DeleteCategoryCommand(StoreCommand):
    """Delete a category with its annotations, tags and model proposals; undo restores
    all of them (the same ids, the tags' provenance)."""

    def __init__(self, store: ProjectStore, category_id: int) -> None:
        cat = store.category(category_id)
        super().__init__(store, f"Delete category {cat.name}")
        self._id = category_id
        self._deleted: tuple[Category, list[Annotation], list[tuple[int, int]]] | None = None
        self._proposals: list[Proposal] = []
        self._tag_sources: dict[tuple[int, int], str] = {}

    def _redo(self) -> None:
        self._proposals = self.store.proposals(category_id=self._id)  # the delete cascades to them
        self._tag_sources = self.store.tag_sources(self._id)
        self._deleted = self.store.delete_category(self._id)
        _, anns, tags = self._deleted
        self.image_ids = {a.image_id for a in anns} | {i for i, _ in tags} | {p.image_id for p in self._proposals}

    def _undo(self) -> None:
        assert self._deleted is not None
        cat, anns, tags = self._deleted
        self.store.restore_category(cat)
        self.store.restore_annotations(anns)
        self.store.add_image_tags(tags)
        self.store.set_tag_sources(self._tag_sources)
        self.store.restore_proposals(self._proposals)


# ---------------------------------------------------------------------- images
class RemoveImagesCommand(StoreCommand):
    """Remove images from the project (with their annotations, tags and problems; the
    files on disk stay); undo puts every row back under the same ids.

    Attributes:
        removed: What the last redo removed (:class:`RemovedImages`), or None.
    """

    changes_images = True  # listeners re-read the image list, not just some images
    changes_problems = True

    def __init__(self, store: ProjectStore, image_ids: Iterable[int]) -> None:
        ids = sorted(set(image_ids))
        super().__init__(store, f"Remove {len(ids)} image(s) from the project", ids)
        self.removed: RemovedImages | None = None

    def _redo(self) -> None:
        self.removed = remove_images(self.store, sorted(self.image_ids))

    def _undo(self) -> None:
        if self.removed is not None:
            try:
                restore_images(self.store, self.removed)
            except sqlite3.IntegrityError as exc:  # a path or id taken meanwhile
                raise VisionStudioError(f"cannot put the images back: {exc}") from exc


class DismissProblemsCommand(StoreCommand):
    """Dismiss recorded problems (the user says they are not problems); undo brings them
    back. ``image_ids`` are their images (their browser badges change)."""

    changes_problems = True

    def __init__(self, store: ProjectStore, problems: Sequence[Problem]) -> None:
        super().__init__(store, f"Dismiss {len(problems)} problem(s)",
                         (p.image_id for p in problems if p.image_id is not None))
        self._ids = [p.id for p in problems]

    def _redo(self) -> None:
        for pid in self._ids:
            self.store.dismiss_problem(pid)

    def _undo(self) -> None:
        for pid in self._ids:
            self.store.dismiss_problem(pid, dismissed=False)
