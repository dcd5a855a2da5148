"""A one-line label that never widens its window: long text is elided (``…``) to the
width it is given, and the full text is in its tooltip.

A plain ``QLabel`` asks for the width of its whole text as its minimum, so one long
message (an error with a path, a long file name) makes the layout, and then the window,
wider than the screen (issue 12 trap 5). Use :class:`ElidedLabel` for any label that
shows text the app does not control.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget

MIN_WIDTH = 40  # pixels: what the label asks for at least, whatever its text


class ElidedLabel(QLabel):
    """A ``QLabel`` for plain one-line text that elides instead of growing.

    Args:
        text: The (full) text.
        parent: Parent widget.
        mode: Where to cut: ``Qt.TextElideMode.ElideMiddle`` (default, keeps a path's
            file name visible), ``ElideRight`` or ``ElideLeft``.

    :meth:`text` returns the full text; :meth:`shown_text` what is painted.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle) -> None:
        super().__init__(parent)
        self._mode = mode
        self._tip = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(text)

    def setText(self, text: str, tooltip: str = "") -> None:  # noqa: N802 - Qt override
        """Set the full text; the tooltip is ``tooltip`` when given, else the full text
        when it does not fit."""
        self._tip = tooltip
        super().setText(" ".join(str(text).split("\n")))
        self._update_tooltip()

    def shown_text(self) -> str:
        """The text as painted at the current width."""
        return self.fontMetrics().elidedText(self.text(), self._mode, max(0, self.width()))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(MIN_WIDTH, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(min(super().sizeHint().width(), 400), super().sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._update_tooltip()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(self.alignment()) | Qt.TextFlag.TextSingleLine,
                         self.shown_text())
        painter.end()

    def _update_tooltip(self) -> None:
        self.setToolTip(self._tip or (self.text() if self.shown_text() != self.text() else ""))


def show_status(bar: QStatusBar, message: str, timeout_ms: int = 5000) -> str:
    """Show ``message`` in ``bar`` elided to the bar's width (the full text goes to the
    bar's tooltip and the log); returns what is shown. A long message never widens the
    window."""
    width = max(MIN_WIDTH, bar.width() - 40)
    shown = bar.fontMetrics().elidedText(" ".join(message.split("\n")),
                                          Qt.TextElideMode.ElideMiddle, width)
    bar.setToolTip(message if shown != message else "")
    bar.showMessage(shown, timeout_ms)
    return shown
