"""The issues the dataset-health finders report, and their JSON form.

Every finder returns :class:`Issue` records; ``score`` is *higher = more likely a
problem*, in ``[0, 1]`` for every kind so that lists can be merged and sorted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("label", "overlooked_box", "bad_box", "swapped_class", "duplicate", "leak")
"""Issue kinds: a wrong image label; ObjectLab's three box issues; a near-duplicate pair
inside one split; a near-duplicate pair whose images are in different splits."""


@dataclass(frozen=True)
class Issue:
    """One suspected problem with the data.

    Attributes:
        kind: One of :data:`KINDS`.
        file_name: The image's path as stored in the project (relative to its root).
        image_id: Store id of that image.
        score: Higher = more likely a problem, in ``[0, 1]``: ``1 - label quality``
            for ``label`` (cleanlab's self-confidence score), ``1 - ObjectLab quality``
            for box issues, the pair's similarity for ``duplicate`` / ``leak``.
        given: ``label``: the category name stored on the image; ``bad_box`` /
            ``swapped_class``: the given box's category.
        suggested: ``label``: the category the out-of-fold probe predicts; box kinds:
            the category of the predicted box (``None`` when no prediction matches).
        other_file_name: ``duplicate`` / ``leak``: the twin image's stored path.
        other_image_id: Store id of the twin.
        split: The image's split; ``other_split`` the twin's.
        group: ``duplicate`` / ``leak``: index of the duplicate group (connected pairs).
        detail: A short human-readable explanation (how it was found).
        bbox: Box kinds: the given box, COCO ``(x, y, w, h)`` pixels (``None`` for an
            overlooked box, which has no given box).
        suggested_bbox: Box kinds: the predicted box that suggests the fix (COCO xywh).
        annotation_id: ``bad_box`` / ``swapped_class``: store id of the given box.
    """

    kind: str
    file_name: str
    image_id: int
    score: float
    given: str | None = None
    suggested: str | None = None
    other_file_name: str | None = None
    other_image_id: int | None = None
    split: str = ""
    other_split: str = ""
    group: int | None = None
    detail: str = ""
    bbox: tuple[float, ...] | None = None
    suggested_bbox: tuple[float, ...] | None = None
    annotation_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON object: ``kind``, ``file_name``, ``score`` always; the other fields
        only where they apply (not ``None`` / empty)."""
        out: dict[str, Any] = {"kind": self.kind, "file_name": self.file_name,
                               "score": round(float(self.score), 6), "image_id": self.image_id}
        for key in ("given", "suggested", "other_file_name", "other_image_id", "group",
                    "annotation_id"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for key in ("bbox", "suggested_bbox"):
            if getattr(self, key) is not None:
                out[key] = [float(v) for v in getattr(self, key)]
        for key in ("split", "other_split", "detail"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


def sort_issues(issues: list[Issue]) -> list[Issue]:
    """Worst first (score descending), ties by kind then file name."""
    return sorted(issues, key=lambda i: (-i.score, i.kind, i.file_name))
