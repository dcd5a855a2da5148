"""A word-wrapping label for the Model form whose minimum height is its text's height at
the width it has.

:func:`~vision_studio.gui.widgets.fitlabel.wrapping` keeps a label from widening the
window (it may shrink to 1 px), but a word-wrapped QLabel's minimum size hint is then its
text one word per line: in the Model tab's scroll areas a two-line architecture note
took 330 px of a 720 px screen and pushed the weights choice below the fold.
"""
from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from vision_studio.gui.widgets.fitlabel import wrapping

NOMINAL_WIDTH = 300
"""Width (px) the minimum height is computed for before the label has been laid out."""


class WrapLabel(QLabel):
    """A :func:`wrapping` label asking for the height of its text at its own width."""

    def __init__(self, parent: QWidget | None = None, **kwargs: object) -> None:
        super().__init__("", parent, **kwargs)
        wrapping(self)
        # never taller than its text: spare height of the form goes below it, not into it
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)

    def _text_height(self) -> int:
        width = self.width() if self.width() > 50 else NOMINAL_WIDTH
        return self.heightForWidth(width)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        if not self.text():
            return super().minimumSizeHint()
        return QSize(1, self._text_height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        hint = super().sizeHint()
        return QSize(hint.width(), self._text_height()) if self.text() else hint

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.updateGeometry()  # the minimum height follows the new width
