"""Labels that never widen their window, whatever message they are given.

A plain ``QLabel`` asks its layout for the width of its whole text: one long error
message or file path then widens the window beyond the screen. :class:`ElidedLabel`
shows one line cut with "…" (the full text in the tooltip); :func:`wrapping` makes a
label wrap at the width it is given instead of asking for more.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MAX_HINT_PX = 320
"""The most width an :class:`ElidedLabel` asks for (it takes more when there is room)."""


class ElidedLabel(QLabel):
    """A one-line label elided at the right to the width it has; the tooltip holds the
    full text. Its size hint is capped at :data:`MAX_HINT_PX`."""

    def __init__(self, text: str = "", parent: QWidget | None = None, **kwargs: object) -> None:
        super().__init__("", parent, **kwargs)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(1)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setToolTip(text if self.fontMetrics().horizontalAdvance(text) > self.width() else "")

    def elided_text(self) -> str:
        """The text as drawn at the current width."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             max(1, self.contentsRect().width()))

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        hint = super().sizeHint()
        return QSize(min(hint.width(), MAX_HINT_PX), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(1, super().minimumSizeHint().height())

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.setToolTip(self.text() if self.elided_text() != self.text() else "")

    def paintEvent(self, _event: object) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setFont(self.font())
        painter.setPen(self.palette().color(self.foregroundRole()))
        align = self.alignment() | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self.contentsRect(), int(align), self.elided_text())
        painter.end()


def wrapping(label: QLabel) -> QLabel:
    """Make ``label`` wrap its words at the width the layout gives it and never ask for
    more (a long unbroken word such as a path is cut; set a tooltip for it). Returns it."""
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
    label.setMinimumWidth(1)
    return label
