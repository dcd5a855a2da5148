"""The review list: which issues are still open in the project as it is now, and a
table model of them (worst first) with thumbnails.

An issue stays listed while it still applies to the stored project: a ``label`` issue
while the image still carries the flagged label and not the suggested one; a
``duplicate`` while both images exist; a ``leak`` while they also lie in different
splits; none once dismissed (:mod:`.commands`). So an undo brings an issue back by
itself: the panel re-reads the store after every undo-stack change.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from cachetools import LRUCache
from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QSize,
                            Qt)
from PySide6.QtGui import QImageReader, QPixmap

from vision_studio.core.health import Issue
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord
from vision_studio.gui.panels.health.commands import dismissed_keys, issue_key

KIND_TEXT = {"label": "label error", "duplicate": "duplicate", "leak": "leak",
             "overlooked_box": "overlooked box", "bad_box": "badly located box",
             "swapped_class": "swapped class"}


@dataclass(frozen=True)
class ProjectNow:
    """What the open-issue filter reads from the store, in three queries.

    Attributes:
        images: ``{image_id: record}`` of every image.
        tags: ``{image_id: category ids}`` image-level tags.
        names: ``{category_id: name}``.
        dismissed: Dismissed issue keys.
    """

    images: dict[int, ImageRecord]
    tags: dict[int, tuple[int, ...]]
    names: dict[int, str]
    dismissed: set[str]

    @classmethod
    def read(cls, store: ProjectStore) -> ProjectNow:
        """Read the current state of ``store``."""
        return cls({im.id: im for im in store.images()}, store.all_image_tags(),
                   {c.id: c.name for c in store.categories()}, dismissed_keys(store))

    def label_names(self, image_id: int) -> list[str]:
        """Names of the image's tags, in tag order."""
        return [self.names.get(c, "?") for c in self.tags.get(image_id, ())]


def is_open(issue: Issue, now: ProjectNow) -> bool:
    """Whether ``issue`` still applies to the project ``now`` (see the module doc)."""
    if issue_key(issue) in now.dismissed or issue.image_id not in now.images:
        return False
    if issue.kind == "label":
        names = now.label_names(issue.image_id)
        return issue.given in names and issue.suggested not in names
    if issue.kind in ("duplicate", "leak"):
        other = now.images.get(issue.other_image_id) if issue.other_image_id is not None else None
        if other is None:
            return False
        return issue.kind == "duplicate" or now.images[issue.image_id].split != other.split
    return True


def problem_text(issue: Issue) -> str:
    """One line: ``ants → bees`` for a label, ``~ other.jpg (train)`` for a pair."""
    if issue.kind == "label":
        return f"{issue.given} → {issue.suggested}"
    if issue.other_file_name:
        return f"~ {issue.other_file_name} ({issue.other_split or 'no split'})"
    return issue.detail


def load_thumbnail(path: str | Path, edge: int) -> QPixmap:
    """The image file scaled to fit ``edge`` x ``edge`` pixels (EXIF orientation
    applied; the JPEG decoder scales while decoding); a null pixmap when unreadable."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and size.width() > 0 and size.height() > 0:
        reader.setScaledSize(size.scaled(QSize(edge, edge), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return QPixmap.fromImage(image) if not image.isNull() else QPixmap()


class ThumbnailCache:
    """Pixmaps by ``(path, edge)``, least recently used out (GUI thread only)."""

    def __init__(self, maxsize: int = 512) -> None:
        self._cache: LRUCache = LRUCache(maxsize=maxsize)

    def get(self, path: Path, edge: int) -> QPixmap:
        """The cached thumbnail, loaded on first use."""
        key = (str(path), edge)
        pix = self._cache.get(key)
        if pix is None:
            pix = self._cache[key] = load_thumbnail(path, edge)
        return pix


class IssueTableModel(QAbstractTableModel):
    """Open issues, worst first: thumbnail, score, kind, image, problem.

    Attributes:
        issues: The rows' issues.
    """

    HEADERS = ("", "score", "kind", "image", "problem")
    THUMB = 56

    def __init__(self, thumbs: ThumbnailCache, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.issues: list[Issue] = []
        self._paths: dict[int, Path] = {}
        self._thumbs = thumbs

    def set_issues(self, issues: Sequence[Issue], paths: dict[int, Path]) -> None:
        """Replace the rows (``paths``: ``{image_id: absolute file}`` for thumbnails)."""
        self.beginResetModel()
        self.issues, self._paths = list(issues), dict(paths)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.issues)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        issue, col = self.issues[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return ("", f"{issue.score:.3f}", KIND_TEXT.get(issue.kind, issue.kind),
                    issue.file_name, problem_text(issue))[col]
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            path = self._paths.get(issue.image_id)
            return self._thumbs.get(path, self.THUMB) if path is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{issue.file_name}\n{issue.detail}" if issue.detail else issue.file_name
        if role == Qt.ItemDataRole.UserRole:
            return issue
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None
