"""Graphics items drawn by the annotation canvas: shapes, category labels and handles.

Scene coordinates are image pixel coordinates (origin at the image's top-left corner,
x right, y down; COCO convention), so an item's geometry is the annotation's geometry.
Shapes are outlined with cosmetic pens (constant width on screen at any zoom). Labels
and handles set ``ItemIgnoresTransformations`` so they keep their size on screen and
stay readable at any zoom.

Items only paint; the canvas does all the hit testing and editing, so that a drag is
one store command on release.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from vision_studio.core.types import Annotation

Z_IMAGE, Z_SHAPE, Z_SELECTED, Z_HANDLE, Z_PREVIEW = -10.0, 1.0, 2.0, 10.0, 20.0

LABEL_FONT = QFont()
LABEL_FONT.setPixelSize(12)
LABEL_FONT.setBold(True)


def text_color_for(color: QColor) -> QColor:
    """Black or white, whichever reads better on ``color`` (ITU-R BT.601 luma)."""
    luma = 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()
    return QColor(Qt.GlobalColor.black) if luma > 140 else QColor(Qt.GlobalColor.white)


class LabelItem(QGraphicsItem):
    """A category name on a filled tag, drawn above its anchor point at constant size."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._text = ""
        self._color = QColor("#ffffff")
        self._rect = QRectF()

    @property
    def text(self) -> str:
        """The label text."""
        return self._text

    def set_text(self, text: str, color: QColor) -> None:
        """Change the text and the tag colour."""
        if text == self._text and color == self._color:
            return
        self.prepareGeometryChange()
        self._text, self._color = text, QColor(color)
        fm = QFontMetricsF(LABEL_FONT)
        w, h = fm.horizontalAdvance(text) + 6.0, fm.height() + 2.0
        self._rect = QRectF(0.0, -h, w, h)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: D102 - Qt override
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:  # noqa: D102
        fill = QColor(self._color)
        fill.setAlpha(220)
        painter.fillRect(self._rect, fill)
        painter.setFont(LABEL_FONT)
        painter.setPen(text_color_for(self._color))
        painter.drawText(self._rect.adjusted(3, 1, -3, -1), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         self._text)


class HandleItem(QGraphicsItem):
    """A square handle (box corner/edge, polygon vertex) of constant size on screen."""

    SIZE = 8.0

    def __init__(self, pos: QPointF, color: QColor, active: bool = False) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(Z_HANDLE)
        self.setPos(pos)
        self._color = QColor(color)
        self.active = active

    def boundingRect(self) -> QRectF:  # noqa: D102 - Qt override
        s = self.SIZE / 2 + 1
        return QRectF(-s, -s, 2 * s, 2 * s)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:  # noqa: D102
        s = self.SIZE / 2
        painter.setPen(QPen(self._color, 1.5))
        painter.setBrush(QColor("#ff3030") if self.active else QColor(255, 255, 255, 230))
        painter.drawRect(QRectF(-s, -s, 2 * s, 2 * s))


class ShapeItem(QGraphicsItem):
    """One annotation: a box, polygon(s) or RLE mask, with its category label.

    Attributes:
        ann: The annotation as last read from the store.
        kind: ``"box"``, ``"polygon"`` or ``"mask"`` (mask shapes are not reshaped).
    """

    def __init__(self, ann: Annotation, color: QColor, label: str) -> None:
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(Z_SHAPE)
        self._color = QColor(color)
        self._selected = False
        self._mask: QImage | None = None
        self.label = LabelItem(self)
        self.ann = ann
        self.rect = QRectF()
        self.polygons: list[list[QPointF]] = []
        self.set_annotation(ann)
        self.set_category(color, label)

    # ------------------------------------------------------------------ state
    @property
    def kind(self) -> str:
        """``"polygon"`` when the annotation has polygons, ``"mask"`` for RLE, else ``"box"``."""
        if self.ann.polygons:
            return "polygon"
        return "mask" if self.ann.rle is not None else "box"

    def set_annotation(self, ann: Annotation) -> None:
        """Take the geometry of ``ann`` (and reset any live drag offset)."""
        self.prepareGeometryChange()
        self.ann = ann
        self.setPos(0.0, 0.0)
        x, y, w, h = ann.bbox
        self.rect = QRectF(x, y, w, h)
        self.polygons = [[QPointF(p[i], p[i + 1]) for i in range(0, len(p) - 1, 2)] for p in ann.polygons]
        self._mask = None
        if not ann.polygons and ann.rle is not None:
            self._mask = _mask_image(ann.rle, self._color)
        self._place_label()
        self.update()

    def set_category(self, color: QColor, label: str) -> None:
        """Colour and label text (the category's)."""
        if QColor(color) != self._color and self._mask is not None:
            self._mask = _mask_image(self.ann.rle, QColor(color))
        self._color = QColor(color)
        self.label.set_text(label, self._color)
        self.update()

    @property
    def color(self) -> QColor:
        """The category colour."""
        return QColor(self._color)

    def set_selected(self, selected: bool) -> None:
        """Highlight (and raise) the shape."""
        self._selected = selected
        self.setZValue(Z_SELECTED if selected else Z_SHAPE)
        self.update()

    def set_rect(self, rect: QRectF) -> None:
        """Live geometry of a box being resized (scene coordinates)."""
        self.prepareGeometryChange()
        self.rect = QRectF(rect).normalized()
        self._place_label()
        self.update()

    def set_vertex(self, poly: int, vertex: int, pos: QPointF) -> None:
        """Live position of a polygon vertex being dragged."""
        self.prepareGeometryChange()
        self.polygons[poly][vertex] = QPointF(pos)
        self.rect = _points_rect([p for poly_ in self.polygons for p in poly_])
        self._place_label()
        self.update()

    def flat_polygons(self) -> list[list[float]]:
        """Current polygons as flat ``[x1, y1, ...]`` lists in scene (pixel) coordinates,
        including a live drag offset."""
        off = self.pos()
        return [[v for q in poly for v in (q.x() + off.x(), q.y() + off.y())] for poly in self.polygons]

    def current_bbox(self) -> tuple[float, float, float, float]:
        """Current bbox ``(x, y, w, h)`` including a live drag offset."""
        r = self.rect.translated(self.pos())
        return (r.x(), r.y(), r.width(), r.height())

    # ------------------------------------------------------------------ geometry
    def outline(self) -> QPainterPath:
        """The shape's area as a path, in item coordinates (used for hit testing)."""
        path = QPainterPath()
        if self.polygons:
            path.setFillRule(Qt.FillRule.WindingFill)
            for poly in self.polygons:
                path.addPolygon(QPolygonF(poly))
                path.closeSubpath()
        else:
            path.addRect(self.rect)
        return path

    def boundingRect(self) -> QRectF:  # noqa: D102 - Qt override
        return self.rect.adjusted(-1, -1, 1, 1)

    def shape(self) -> QPainterPath:  # noqa: D102 - Qt override
        return self.outline()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:  # noqa: D102
        pen = QPen(self._color, 3.0 if self._selected else 2.0)
        pen.setCosmetic(True)
        fill = QColor(self._color)
        painter.setPen(pen)
        if self._mask is not None:
            painter.drawImage(QPointF(0, 0), self._mask)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawRect(self.rect)
            return
        if self.polygons:
            fill.setAlpha(110 if self._selected else 55)
            painter.setBrush(QBrush(fill))
            for poly in self.polygons:
                painter.drawPolygon(QPolygonF(poly))
        else:
            fill.setAlpha(70 if self._selected else 0)
            painter.setBrush(QBrush(fill) if self._selected else Qt.BrushStyle.NoBrush)
            painter.drawRect(self.rect)

    def _place_label(self) -> None:
        self.label.setPos(self.rect.topLeft())


def _points_rect(points: list[QPointF]) -> QRectF:
    xs = [p.x() for p in points]
    ys = [p.y() for p in points]
    return QRectF(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def _mask_image(rle, color: QColor) -> QImage:
    """An ARGB image of the RLE mask in ``color`` (alpha 110), scene-sized."""
    import numpy as np
    from pycocotools import mask as mask_utils

    r = dict(rle)
    if isinstance(r.get("counts"), str):
        r["counts"] = r["counts"].encode("ascii")
    m = mask_utils.decode(r).astype(bool)
    h, w = m.shape
    a = 110  # premultiplied little-endian ARGB32 = B, G, R, A in memory
    argb = np.zeros((h, w, 4), np.uint8)
    argb[m] = (color.blue() * a // 255, color.green() * a // 255, color.red() * a // 255, a)
    img = QImage(argb.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
    return img.copy()
