"""An import as ONE undo step in the GUI.

Imports run in a worker thread on their own connection (:mod:`.dialogs.worker`), outside
the undo stack. :func:`snapshot` records the project just before an import starts;
:class:`ImportCommand`, built when the import has finished, finds what it added — images
(with their annotations, tags and problems), annotations and tags on images that were
already there, categories — and, with "replace their annotations", the annotations it
replaced. Pushing the command does nothing more (the import is done); undo removes what
the import added and puts the replaced annotations back; redo does the import's changes
again, with the same ids.
"""
from __future__ import annotations

from dataclasses import dataclass

from vision_studio.core.store import ProjectStore
from vision_studio.core.store.removal import RemovedImages, remove_images, restore_images
from vision_studio.core.types import Annotation, Category
from vision_studio.gui.undo import StoreCommand


@dataclass(frozen=True)
class Before:
    """The project just before an import.

    Attributes:
        max_image: Highest image id (0: none).
        max_category: Highest category id.
        annotation_ids: Ids of every annotation.
        tags: ``{image_id: category ids}``.
        annotations: Every annotation, kept only when the import may replace some.
    """

    max_image: int
    max_category: int
    annotation_ids: frozenset[int]
    tags: dict[int, tuple[int, ...]]
    annotations: tuple[Annotation, ...] = ()


def snapshot(store: ProjectStore, replacing: bool = False) -> Before:
    """Record ``store`` before an import (``replacing``: it may replace annotations)."""
    anns = store.annotations()
    return Before(max((im.id for im in store.images()), default=0),
                  max((c.id for c in store.categories()), default=0),
                  frozenset(a.id for a in anns), store.all_image_tags(),
                  tuple(anns) if replacing else ())


class ImportCommand(StoreCommand):
    """Undo / redo of a finished import (see the module docstring).

    Attributes:
        added_images, added_annotations, added_categories: What the import added (the
            annotations are those on images that existed before).
        replaced: Annotations the import deleted (replace mode).
    """

    changes_images = True
    changes_problems = True

    def __init__(self, store: ProjectStore, before: Before, text: str) -> None:
        images = [im.id for im in store.images() if im.id > before.max_image]
        old_images = set(images)
        anns = store.annotations()
        now = {a.id for a in anns}
        super().__init__(store, text, images)
        self.added_images = images
        self.added_annotations = [a for a in anns if a.id not in before.annotation_ids
                                  and a.image_id not in old_images]
        self.replaced = [a for a in before.annotations if a.id not in now]
        self.added_categories: list[Category] = [c for c in store.categories()
                                                 if c.id > before.max_category]
        tags = store.all_image_tags()
        self._tags = {i: (before.tags.get(i, ()), t) for i, t in tags.items()
                      if i not in old_images and set(t) != set(before.tags.get(i, ()))}
        self.image_ids |= {a.image_id for a in self.added_annotations + self.replaced} | set(self._tags)
        self._removed: RemovedImages | None = None
        self._done = True  # the import itself did the first "redo"

    @property
    def empty(self) -> bool:
        """The import changed nothing."""
        return not (self.added_images or self.added_annotations or self.replaced
                    or self.added_categories or self._tags)

    def _redo(self) -> None:
        if self._done:
            return
        for c in self.added_categories:
            self.store.restore_category(c)
        if self._removed is not None:
            restore_images(self.store, self._removed)
        self.store.delete_annotations([a.id for a in self.replaced])
        self.store.restore_annotations(self.added_annotations)
        for image_id, (_old, new) in self._tags.items():
            self.store.set_image_tags(image_id, new)
        self._done = True

    def _undo(self) -> None:
        for image_id, (old, _new) in self._tags.items():
            self.store.set_image_tags(image_id, old)
        self.store.delete_annotations([a.id for a in self.added_annotations])
        self.store.restore_annotations(self.replaced)
        self._removed = remove_images(self.store, self.added_images) if self.added_images else None
        for c in self.added_categories:
            self.store.delete_category(c.id)
        self._done = False
