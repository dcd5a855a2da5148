"""A word-wrapped label whose minimum height is its text's height at its width, without
a height-for-width for the layouts above it.

A word-wrapped ``QLabel`` has a height-for-width, which every layout above it inherits.
The main window's ``QScrollArea`` (widget resizable) gives a page with a height-for-width
at least the tab widget's *preferred* height, and a ``QStackedLayout``'s height-for-width
is the largest of all its pages': with one wrapped status line the Evaluate tab became as
tall as the Training tab's preferred height (1366 px) and scrolled, its image viewer, the
buttons below it and the status line cut off below a 1000 px window; the Training tab's
metric line ("Best accuracy ...", "Training failed: ...") did the same to the Training
tab. This label keeps the wrapping (long messages never widen the window nor get cut)
and asks for its text's height as its minimum instead. Used by the Evaluate and
Training tabs.
"""
from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

NOMINAL_WIDTH = 300
"""Width (px) the text height is computed for before the label has been laid out."""


class WrappedLabel(QLabel):
    """Word-wrapped; as tall as its text at its width; no height-for-width upwards."""

    def __init__(self, text: str = "", parent: QWidget | None = None, **kwargs: object) -> None:
        super().__init__(text, parent, **kwargs)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)  # never widens the window

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return False

    def _text_height(self) -> int:
        width = self.width() if self.width() > 50 else NOMINAL_WIDTH
        m = self.contentsMargins()
        return max(self.heightForWidth(width), self.fontMetrics().height() + m.top() + m.bottom())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(1, self._text_height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(super().sizeHint().width(), self._text_height())

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.updateGeometry()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.updateGeometry()  # the height follows the new width
