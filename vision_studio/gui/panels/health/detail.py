"""The selected issue, large: the image (and for a duplicate or leak its twin beside
it) with its split and labels, the suggestion, and one button per fix — each with its
key (the keys work while the review list has focus)."""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from vision_studio.core.health import Issue
from vision_studio.gui.panels.health.issues_model import KIND_TEXT, ProjectNow, ThumbnailCache
from vision_studio.gui.widgets.elided import ElidedLabel

PICTURE = 300
"""Edge of the large pictures, pixels."""

FIXES = (
    # name, button text, key, tooltip
    ("accept", "Accept suggestion", "A", "Give the image the suggested label"),
    ("keep", "Keep as is", "K", "Not a problem: dismiss it (remembered in the project)"),
    ("remove", "Remove image", "Del", "Remove the left image from the project (the file stays)"),
    ("move", "Move to twin's split", "M", "Move the left image to the split of its twin"),
    ("open", "Open in Annotate", "Return", "Show the left image in the Annotate panel"),
)


class ImageCard(QWidget):
    """One picture with its file name and a line of facts below."""

    def __init__(self, thumbs: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbs = thumbs
        self.picture = QLabel(self)
        self.picture.setFixedSize(PICTURE, PICTURE)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setStyleSheet("background: #222; color: #bbb;")
        self.name = ElidedLabel("", self)
        self.facts = ElidedLabel("", self, mode=Qt.TextElideMode.ElideRight)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.picture)
        lay.addWidget(self.name)
        lay.addWidget(self.facts)

    def show_image(self, path: Path | None, name: str, facts: str) -> None:
        """Show ``path`` (``None``: the image is gone) captioned ``name`` / ``facts``."""
        pix = self._thumbs.get(path, PICTURE) if path is not None else QPixmap()
        self.picture.setPixmap(pix)
        if pix.isNull():
            self.picture.setText("(not in the project)" if path is None else "(unreadable)")
        self.name.setText(name)
        self.facts.setText(facts)


class IssueDetail(QWidget):
    """The selected issue and its fixes.

    Signals:
        fixRequested(str): one of ``accept``, ``keep``, ``remove``, ``move``, ``open``.

    Attributes:
        left, right: The image and (pairs) its twin.
        buttons: The fix buttons by name.
    """

    fixRequested = Signal(str)

    def __init__(self, thumbs: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.issue: Issue | None = None
        self.title = ElidedLabel("Run “Find problems” to list the dataset's likely issues.",
                                 self, mode=Qt.TextElideMode.ElideRight)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.left, self.right = ImageCard(thumbs, self), ImageCard(thumbs, self)
        pics = QHBoxLayout()
        pics.addWidget(self.left)
        pics.addWidget(self.right)
        pics.addStretch(1)
        self.explain = QLabel("", self)
        self.explain.setWordWrap(True)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for name, text, key, tip in FIXES:
            b = QPushButton(f"{text} ({key})", self)
            b.setToolTip(tip)
            b.clicked.connect(lambda _c=False, n=name: self.fixRequested.emit(n))
            self.buttons[name] = b
            row.addWidget(b)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addLayout(pics)
        lay.addWidget(self.explain)
        lay.addLayout(row)
        lay.addStretch(1)
        self.show_issue(None, None, {})

    def show_issue(self, issue: Issue | None, now: ProjectNow | None,
                   paths: dict[int, Path]) -> None:
        """Show ``issue`` as the project is ``now`` (``None``: nothing selected)."""
        self.issue = issue
        pair = issue is not None and issue.kind in ("duplicate", "leak")
        self.right.setVisible(pair)
        kind = issue.kind if issue is not None else None
        shown = {"accept": kind == "label", "keep": kind is not None, "remove": pair,
                 "move": kind == "leak", "open": kind is not None}
        for name, b in self.buttons.items():
            b.setVisible(shown[name])
        if issue is None or now is None:
            self.left.setVisible(False)
            self.explain.setText("")
            return
        self.left.setVisible(True)
        self.title.setText(f"{KIND_TEXT.get(issue.kind, issue.kind)} · score {issue.score:.3f}")
        self._card(self.left, issue.image_id, issue.file_name, now, paths)
        if pair and issue.other_image_id is not None:
            self._card(self.right, issue.other_image_id, issue.other_file_name or "", now, paths)
        if issue.kind == "label":
            self.explain.setText(f"Labelled <b>{html.escape(issue.given or '')}</b>; the probe "
                                 f"that did not see this image says <b>"
                                 f"{html.escape(issue.suggested or '')}</b>. "
                                 f"{html.escape(issue.detail)}")
        elif pair:
            where = ("in different splits: validation metrics are inflated"
                     if issue.kind == "leak" else "in the same split")
            self.explain.setText(f"Near-copies {where}. {html.escape(issue.detail)}")
        else:  # box issues (ObjectLab): the finder's own explanation
            self.explain.setText(html.escape(issue.detail))

    @staticmethod
    def _card(card: ImageCard, image_id: int, name: str, now: ProjectNow,
              paths: dict[int, Path]) -> None:
        im = now.images.get(image_id)
        if im is None:
            card.show_image(None, name, "removed from the project")
            return
        labels = ", ".join(now.label_names(image_id)) or "no label"
        card.show_image(paths.get(image_id), name,
                        f"split: {im.split or '(none)'} · label: {labels}")
