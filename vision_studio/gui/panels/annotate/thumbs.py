"""How one thumbnail of the image browser is painted: the picture, a badge when the
image has a problem, and a two-line caption — the file name (elided in the middle) and
its tags and object count, the count always whole (issue 12: captions were cut so the
object count was hidden)."""
from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from vision_studio.core.wording import plural

PROBLEM_ROLE = Qt.ItemDataRole.UserRole + 2
"""Item data role: True when the image has an open (not dismissed) problem."""
SCORE_ROLE = Qt.ItemDataRole.UserRole + 3
"""Item data role: the image's Label-next score (float), or None (issue 14)."""
PROPOSALS_ROLE = Qt.ItemDataRole.UserRole + 4
"""Item data role: how many model proposals of the image are stored (int, issue 14)."""

PAD = 4          # pixels around the picture and between the caption lines
BADGE = 18       # diameter of the problem badge, pixels
BADGE_COLOR = QColor("#d93025")


def caption_height(metrics: QFontMetrics) -> int:
    """Pixels that the two caption lines need."""
    return 2 * metrics.lineSpacing() + PAD


def caption_lines(text: str, metrics: QFontMetrics, width: int) -> tuple[str, str]:
    """The two caption lines of ``"name\\nsecond"`` fitted to ``width`` pixels.

    The name is elided in the middle (its extension stays visible). On the second line
    (``"tags · N objects"``, ``"tags"`` or ``"N objects"``) the tags are elided first;
    the object count is kept whole.
    """
    name, _, second = text.partition("\n")
    first = metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, width)
    tags, sep, count = second.rpartition(" · ")
    if not sep:
        return first, metrics.elidedText(second, Qt.TextElideMode.ElideRight, width)
    tail = f" · {count}"
    room = width - metrics.horizontalAdvance(tail)
    if room < metrics.horizontalAdvance("…") * 2:  # no room for tags: the count alone
        return first, metrics.elidedText(count, Qt.TextElideMode.ElideRight, width)
    return first, metrics.elidedText(tags, Qt.TextElideMode.ElideRight, room) + tail


def paint_score(painter: QPainter, corner: QPointF, score: float) -> None:
    """The Label-next score as a small orange chip with its top-left at ``corner``."""
    painter.save()
    text = f"{score:.2f}"
    metrics = painter.fontMetrics()
    box = QRect(int(corner.x()), int(corner.y()), metrics.horizontalAdvance(text) + 6,
                metrics.height() + 2)
    painter.fillRect(box, QColor(230, 130, 20, 230))
    painter.setPen(QColor("#000000"))
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


def paint_proposals(painter: QPainter, corner: QPointF, count: int) -> None:
    """``"n proposals"`` on a dark chip with a dashed outline (the look of a proposal on
    the canvas) with its bottom-left at ``corner``: the images with proposals stand out."""
    painter.save()
    text = plural(count, "proposal")  # every stored one, whatever the score slider
    metrics = painter.fontMetrics()
    box = QRect(int(corner.x()), int(corner.y()) - metrics.height() - 2, metrics.horizontalAdvance(text) + 6,
                metrics.height() + 2)
    painter.fillRect(box, QColor(20, 20, 20, 210))
    pen = QPen(QColor("#ffffff"), 1)
    pen.setStyle(Qt.PenStyle.DashLine)
    painter.setPen(pen)
    painter.drawRect(box.adjusted(0, 0, -1, -1))
    painter.setPen(QColor("#ffffff"))
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


def paint_badge(painter: QPainter, centre: QPointF) -> None:
    """A red disc with a white "!" centred at ``centre``."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(QPen(QColor("#ffffff"), 1.5))
    painter.setBrush(QBrush(BADGE_COLOR))
    painter.drawEllipse(centre, BADGE / 2, BADGE / 2)
    font = painter.font()
    font.setBold(True)
    painter.setFont(font)
    box = QRect(int(centre.x() - BADGE / 2), int(centre.y() - BADGE / 2), BADGE, BADGE)
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "!")
    painter.restore()


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints a browser row: picture (``DecorationRole``), problem badge
    (:data:`PROBLEM_ROLE`) and the caption of ``DisplayRole`` (see :func:`caption_lines`).

    Args:
        thumb_size: Edge of the square picture area, pixels.
        parent: The view.
    """

    def __init__(self, thumb_size: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumb_size = thumb_size

    def cell_size(self, metrics: QFontMetrics) -> QSize:
        """The grid cell: picture, caption and padding."""
        return QSize(self.thumb_size + 28, self.thumb_size + 2 * PAD + caption_height(metrics))

    def sizeHint(self, option: QStyleOptionViewItem,  # noqa: N802 - Qt override
                 _index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell_size(option.fontMetrics)

    def picture_rect(self, cell: QRect) -> QRect:
        """Where the picture area lies in a cell."""
        return QRect(cell.x() + (cell.width() - self.thumb_size) // 2, cell.y() + PAD,
                     self.thumb_size, self.thumb_size)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        """Background (selection), picture, badge, caption."""
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        style = opt.widget.style() if opt.widget is not None else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter,
                                opt.widget)
        area = self.picture_rect(opt.rect)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pix, QPixmap) and not pix.isNull():
            shown = pix.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, shown.width(), shown.height())
            target.moveCenter(area.center())
            painter.drawPixmap(target, pix)
        score = index.data(SCORE_ROLE)  # issue 14: Label-next score
        if score is not None:
            paint_score(painter, QPointF(area.left(), area.top()), float(score))
        pending = index.data(PROPOSALS_ROLE)  # issue 14: the model proposals stored for it
        if pending:
            paint_proposals(painter, QPointF(area.left(), area.bottom()), int(pending))
        if index.data(PROBLEM_ROLE):
            paint_badge(painter, QPointF(area.right() - BADGE / 2 + 2, area.top() + BADGE / 2 - 2))
        metrics = opt.fontMetrics
        text_rect = QRect(opt.rect.x() + 2, area.bottom() + PAD, opt.rect.width() - 4,
                          caption_height(metrics))
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.setPen(opt.palette.highlightedText().color() if selected
                       else opt.palette.text().color())
        first, second = caption_lines(str(index.data(Qt.ItemDataRole.DisplayRole) or ""),
                                      metrics, text_rect.width())
        line = metrics.lineSpacing()
        for i, text in enumerate((first, second)):
            painter.drawText(QRect(text_rect.x(), text_rect.y() + i * line, text_rect.width(), line),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text)
        painter.restore()
