"""Undo/redo commands over model *proposals* (issue 14: pre-labelling with the project's
own model).

A proposal (:class:`~vision_studio.core.types.Proposal`) is a model prediction stored in
the project but not an annotation: export, training and evaluation never read it. The
reviewer accepts it (it becomes an annotation, or an image tag for ``kind == "tag"``,
with ``source = "model:<run>"``, or ``"model:<run>:edited"`` when its geometry was
changed first) or rejects it (it is deleted). Like every command of
:mod:`vision_studio.gui.undo`, ``redo()`` and ``undo()`` each run ONE committed store
transaction, so the project file always holds what is on screen.

Redo after undo puts back exactly what the first redo made (the same annotation ids,
the same tags) instead of accepting again, so later commands on the stack that refer
to the accepted annotations' ids stay valid.

"Marks the image labelled": when an accept leaves no proposal at or above the review
threshold on an image, the image's status becomes
:attr:`~vision_studio.core.types.ImageStatus.DONE` (undo restores the old status). A
reject does the same when the image has an annotation or a tag (the good proposals were
accepted first, "reject the rest" finishes it); rejecting everything on an image with
nothing labelled leaves its status alone (it still needs drawing by hand).
"""
from __future__ import annotations

from typing import Mapping, Sequence

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, BBox, ImageStatus, Proposal
from vision_studio.gui.undo import StoreCommand

Edit = tuple[BBox | None, list[list[float]] | None]
"""An edited geometry: ``(bbox, segmentation)``, COCO xywh / COCO polygons in pixels."""


class AcceptProposalsCommand(StoreCommand):
    """Accept proposals (as they are, or with edited geometry).

    Args:
        store: The project.
        proposals: The proposals to accept (as read from the store).
        edits: ``{proposal id: (bbox, segmentation)}`` for proposals the user moved or
            resized first (their annotations get ``source = "model:<run>:edited"``).
        review_threshold: Proposals below this score do not count as "left to review"
            when deciding whether an image is done.
        categories: ``{proposal id: category id}`` for proposals the reviewer gave
            another category (the number keys); those become ``model:<run>:edited``.
        text: Undo text (default "Accept N proposal(s)").

    Attributes:
        created: The annotations the first redo created (with ids).
        done_images: Images this command marked ``done``.
    """

    def __init__(self, store: ProjectStore, proposals: Sequence[Proposal],
                 edits: Mapping[int, Edit] | None = None, *, review_threshold: float = 0.0,
                 categories: Mapping[int, int] | None = None, text: str | None = None) -> None:
        props = list(proposals)
        edited = " (edited)" if edits or categories else ""
        super().__init__(store, text or f"Accept {len(props)} proposal(s){edited}",
                         {p.image_id for p in props})
        self._props = props
        self._edits = dict(edits or {})
        self._categories = dict(categories or {})
        self.created: list[Annotation] = []
        self._tags_before: dict[int, tuple[int, ...]] = {}
        self._done = _DoneMarker(store, self.image_ids, review_threshold)
        self._first = True

    def _redo(self) -> None:
        tag_images = {p.image_id for p in self._props if p.kind == "tag"}
        if self._first:
            self._tags_before = {i: self.store.image_tags(i) for i in tag_images}
        else:  # the same annotation ids as the first time (later commands refer to them)
            self.store.delete_proposals([p.id for p in self._props if p.kind != "tag"])
            self.store.restore_annotations(self.created)
        for p in self._props:
            if self._first or p.kind == "tag":  # a tag has no id: accept it again
                bbox, seg = self._edits.get(p.id, (None, None))
                made = self.store.accept_proposal(p.id, bbox=bbox, segmentation=seg,
                                                  category_id=self._categories.get(p.id))
                if isinstance(made, Annotation):
                    self.created.append(made)
        self._first = False
        self._done.mark()

    @property
    def done_images(self) -> list[int]:
        """Images the last redo marked ``done``."""
        return self._done.images

    def _undo(self) -> None:
        self.store.delete_annotations([a.id for a in self.created])
        for image_id, tags in self._tags_before.items():
            self.store.set_image_tags(image_id, tags)
        self.store.restore_proposals(self._props)
        self._done.restore()


class RejectProposalsCommand(StoreCommand):
    """Reject (delete) proposals; undo restores them with their ids.

    Args:
        store: The project.
        proposals: The proposals to reject (as read from the store).
        text: Undo text (default "Reject N proposal(s)").
        review_threshold: As for :class:`AcceptProposalsCommand`; an image left with
            nothing at or above it is marked ``done`` when it has an annotation or a tag.

    Attributes:
        done_images: Images the last redo marked ``done``.
    """

    def __init__(self, store: ProjectStore, proposals: Sequence[Proposal], text: str | None = None,
                 *, review_threshold: float = 0.0) -> None:
        props = list(proposals)
        super().__init__(store, text or f"Reject {len(props)} proposal(s)", {p.image_id for p in props})
        self._ids = [p.id for p in props]
        self._deleted: list[Proposal] = props
        self._done = _DoneMarker(store, self.image_ids, review_threshold, needs_labels=True)

    @property
    def done_images(self) -> list[int]:
        """Images the last redo marked ``done``."""
        return self._done.images

    def _redo(self) -> None:
        self._deleted = self.store.delete_proposals(self._ids)
        self._done.mark()

    def _undo(self) -> None:
        self.store.restore_proposals(self._deleted)
        self._done.restore()


class _DoneMarker:
    """Marks the images with nothing left to review (no proposal scoring at least
    ``threshold``) ``done``, and puts their old status back; ``needs_labels``: only those
    that have an annotation or a tag."""

    def __init__(self, store: ProjectStore, image_ids, threshold: float, needs_labels: bool = False) -> None:
        self.store, self.image_ids = store, sorted(image_ids)
        self.threshold, self.needs_labels = float(threshold), needs_labels
        self.images: list[int] = []
        self._before: dict[int, str] = {}

    def mark(self) -> None:
        self._before, self.images = {}, []
        for image_id in self.image_ids:
            if self.store.proposals(image_id, min_score=self.threshold):
                continue
            if self.needs_labels and not (self.store.annotations(image_id) or self.store.image_tags(image_id)):
                continue
            image = self.store.image(image_id)
            if image.status != ImageStatus.DONE:
                self._before[image_id] = image.status
                self.store.update_image(image_id, status=ImageStatus.DONE)
                self.images.append(image_id)

    def restore(self) -> None:
        for image_id, status in self._before.items():
            self.store.update_image(image_id, status=status)
