"""Undo commands of the health review that :mod:`vision_studio.gui.undo` lacks.

* :class:`DismissIssuesCommand` — "keep the label" / "not a duplicate": the issue keys
  go into the project setting :data:`DISMISSED_SETTING`, so a later search does not
  list them again;
* :class:`MoveSplitCommand` — move images to another split (a leak's copy to its
  twin's split).

Accepting a suggested label is :class:`~vision_studio.gui.undo.SetImageTagsCommand`;
removing a duplicate is :class:`~vision_studio.gui.undo.RemoveImagesCommand`. Like every
:class:`~vision_studio.gui.undo.StoreCommand`, each redo/undo is one committed store
transaction.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from vision_studio.core.health import Issue
from vision_studio.core.store import ProjectStore
from vision_studio.gui.undo import StoreCommand

DISMISSED_SETTING = "health_dismissed"
"""Project setting: sorted list of :func:`issue_key` strings the user dismissed."""


def issue_key(issue: Issue) -> str:
    """A stable key of an issue, by stored paths: ``label|<file>|<given>`` (a new label
    makes a new issue), ``pair|<file a>|<file b>`` (sorted) for duplicates and leaks."""
    if issue.kind in ("duplicate", "leak"):
        a, b = sorted((issue.file_name, issue.other_file_name or ""))
        return f"pair|{a}|{b}"
    return f"{issue.kind}|{issue.file_name}|{issue.given or ''}"


def dismissed_keys(store: ProjectStore) -> set[str]:
    """The dismissed issue keys stored in the project (empty when none or malformed)."""
    value = store.get_setting(DISMISSED_SETTING, [])
    return {str(v) for v in value} if isinstance(value, list) else set()


class DismissIssuesCommand(StoreCommand):
    """Remember issues as dismissed (the user keeps the label / the pair); undo forgets."""

    def __init__(self, store: ProjectStore, issues: Sequence[Issue]) -> None:
        ids = [i.image_id for i in issues]
        super().__init__(store, f"Keep {len(issues)} flagged image(s) as they are", ids)
        self._keys = {issue_key(i) for i in issues}
        self._added: set[str] = set()

    def _redo(self) -> None:
        have = dismissed_keys(self.store)
        self._added = self._keys - have
        self.store.set_setting(DISMISSED_SETTING, sorted(have | self._keys))

    def _undo(self) -> None:
        have = dismissed_keys(self.store)
        self.store.set_setting(DISMISSED_SETTING, sorted(have - self._added))


class MoveSplitCommand(StoreCommand):
    """Move images to ``split``; undo puts each back in its own former split."""

    changes_images = True  # the browser's split filter and counts change

    def __init__(self, store: ProjectStore, image_ids: Iterable[int], split: str) -> None:
        ids = sorted(set(int(i) for i in image_ids))
        super().__init__(store, f"Move {len(ids)} image(s) to split {split or '(none)'}", ids)
        self._split = split
        self._old: dict[int, str] = {}

    def _redo(self) -> None:
        self._old = {i: self.store.image(i).split for i in sorted(self.image_ids)}
        self.store.set_splits({i: self._split for i in self._old})

    def _undo(self) -> None:
        self.store.set_splits(self._old)
