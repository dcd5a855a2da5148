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

import weakref
from functools import lru_cache

from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import (QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen,
                           QPixmap, QPolygonF)
from PySide6.QtWidgets import (QFrame, QGraphicsView, QGraphicsEllipseItem, QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem,
                               QGraphicsRectItem)

from vision_studio.core.types import Annotation
from vision_studio.gui.qimage import array_to_qimage

Z_IMAGE, Z_SHAPE, Z_SELECTED, Z_HANDLE, Z_PREVIEW = -10.0, 1.0, 2.0, 10.0, 20.0

LABEL_FONT = QFont()
LABEL_FONT.setPixelSize(12)
LABEL_FONT.setBold(True)


def text_color_for(color: QColor) -> QColor:
    """Black or white, whichever reads better on ``color`` (ITU-R BT.601 luma)."""
    luma = 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()
    return QColor(Qt.GlobalColor.black) if luma > 140 else QColor(Qt.GlobalColor.white)


_LABEL_PIXMAPS: dict[tuple[str, str], QPixmap] = {}


def label_pixmap(text: str, color: QColor) -> QPixmap:
    """The tag image of a label (text on the category colour), shared by every label
    with the same text and colour; at most a few hundred distinct ones are kept."""
    key = (text, color.name())
    pm = _LABEL_PIXMAPS.get(key)
    if pm is None:
        if len(_LABEL_PIXMAPS) > 512:
            _LABEL_PIXMAPS.clear()
        # measured on a pixmap, the device the text is painted on (the screen's metrics
        # were narrower than the painted text in the main window: the tags' last digit
        # was cut; issue 14 screenshots)
        probe = QPainter(_probe_pixmap())
        probe.setFont(LABEL_FONT)
        fm = QFontMetricsF(probe.fontMetrics())
        probe.end()
        w, h = int(fm.horizontalAdvance(text) + 7), int(fm.height() + 3)
        pm = QPixmap(w, h)
        fill = QColor(color)
        fill.setAlpha(220)
        pm.fill(fill)
        p = QPainter(pm)
        p.setFont(LABEL_FONT)
        p.setPen(text_color_for(color))
        p.drawText(QRectF(3, 0, w - 3, h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        p.end()
        _LABEL_PIXMAPS[key] = pm
    return pm


@lru_cache(maxsize=1)
def _probe_pixmap() -> QPixmap:
    """A 1 x 1 pixmap: the paint device that label text is measured on."""
    return QPixmap(1, 1)


class LabelItem(QGraphicsPixmapItem):
    """A category name on a filled tag, drawn above its anchor point at constant size
    (``ItemIgnoresTransformations``). The tag is a shared pixmap, so 1,000 labels are
    1,000 blits per frame, not 1,000 text layouts."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._text = ""
        self._color = ""

    @property
    def text(self) -> str:
        """The label text."""
        return self._text

    def set_text(self, text: str, color: QColor) -> None:
        """Change the text and the tag colour."""
        name = color.name()
        if text == self._text and name == self._color:
            return
        self._text, self._color = text, name
        pm = label_pixmap(text, color)
        self.setPixmap(pm)
        self.setOffset(0.0, -float(pm.height()))


class HandleItem(QGraphicsRectItem):
    """A square handle (box corner/edge, polygon vertex) of constant size on screen."""

    SIZE = 8.0

    def __init__(self, pos: QPointF, color: QColor, active: bool = False) -> None:
        s = self.SIZE / 2
        super().__init__(-s, -s, 2 * s, 2 * s)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(Z_HANDLE)
        self.setPos(pos)
        self.setPen(QPen(color, 1.5))
        self.setBrush(QColor("#ff3030") if active else QColor(255, 255, 255, 230))
        self.active = active


class ShapeItem(QGraphicsPathItem):
    """One annotation: a box, polygon(s) or RLE mask, with its category label.

    A plain ``QGraphicsPathItem`` (painted by Qt in C++, cosmetic pen), so panning over
    1,000 polygons stays fast; an RLE mask is a child pixmap item.

    Attributes:
        ann: The annotation as last read from the store.
        rect: The shape's bounding box (scene pixels), live during a drag.
        polygons: The polygons' points (scene pixels), live during a drag.
    """

    def __init__(self, ann: Annotation, color: QColor, label: str) -> None:
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(Z_SHAPE)
        self._color = QColor(color)
        self._selected = False
        self.shown = True
        self._mask: QGraphicsPixmapItem | None = None
        self.qpolys: list[QPolygonF] = []
        self.layer_pen = QPen()
        self.layer_brush = QBrush()
        self.setVisible(False)
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
        self.ann = ann
        self.setPos(0.0, 0.0)
        x, y, w, h = ann.bbox
        self.rect = QRectF(x, y, w, h)
        self.polygons = [[QPointF(p[i], p[i + 1]) for i in range(0, len(p) - 1, 2)] for p in ann.polygons]
        if self._mask is not None:
            self._mask.setParentItem(None)
            if self._mask.scene() is not None:
                self._mask.scene().removeItem(self._mask)
            self._mask = None
        if not ann.polygons and ann.rle is not None:
            self._mask = QGraphicsPixmapItem(QPixmap.fromImage(_mask_image(ann.rle, self._color)), self)
            self._mask.setFlag(QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent)
        self._rebuild_path()
        if self.label.text:  # not during __init__, where set_category follows
            self._restyle()

    def set_category(self, color: QColor, label: str) -> None:
        """Colour and label text (the category's)."""
        recolour = QColor(color).name() != self._color.name()
        self._color = QColor(color)
        if recolour and self._mask is not None:
            self._mask.setPixmap(QPixmap.fromImage(_mask_image(self.ann.rle, self._color)))
        self.label.set_text(label, self._color)
        self._restyle()

    @property
    def color(self) -> QColor:
        """The category colour."""
        return QColor(self._color)

    def set_selected(self, selected: bool) -> None:
        """Highlight the shape: a selected shape is drawn as this item (above the layer
        of the other shapes), so that it follows drags live."""
        self._selected = selected
        self.setZValue(Z_SELECTED if selected else Z_SHAPE)
        self.setVisible(self.shown and selected)
        self._restyle()

    @property
    def selected(self) -> bool:
        """Whether the shape is selected."""
        return self._selected

    def set_shown(self, shown: bool) -> None:
        """Show/hide the shape (hidden category)."""
        self.shown = shown
        self.setVisible(shown and self._selected)

    @property
    def mask_pixmap(self) -> QPixmap | None:
        """The RLE mask as a scene-sized pixmap, or None."""
        return None if self._mask is None else self._mask.pixmap()

    def set_rect(self, rect: QRectF) -> None:
        """Live geometry of a box being resized (scene coordinates)."""
        self.rect = QRectF(rect).normalized()
        self._rebuild_path()

    def set_vertex(self, poly: int, vertex: int, pos: QPointF) -> None:
        """Live position of a polygon vertex being dragged."""
        self.polygons[poly][vertex] = QPointF(pos)
        self.rect = _points_rect([p for poly_ in self.polygons for p in poly_])
        self._rebuild_path()

    def flat_polygons(self) -> list[list[float]]:
        """Current polygons as flat ``[x1, y1, ...]`` lists in scene (pixel) coordinates,
        including a live drag offset."""
        off = self.pos()
        return [[v for q in poly for v in (q.x() + off.x(), q.y() + off.y())] for poly in self.polygons]

    def current_bbox(self) -> tuple[float, float, float, float]:
        """Current bbox ``(x, y, w, h)`` including a live drag offset."""
        r = self.rect.translated(self.pos())
        return (r.x(), r.y(), r.width(), r.height())

    def outline(self) -> QPainterPath:
        """The shape's area as a path, in item coordinates (used for hit testing)."""
        return self.path()

    # ------------------------------------------------------------------ internals
    def _rebuild_path(self) -> None:
        path = QPainterPath()
        self.qpolys = [QPolygonF(poly) for poly in self.polygons]
        if self.polygons:
            path.setFillRule(Qt.FillRule.WindingFill)
            for qp in self.qpolys:
                path.addPolygon(qp)
                path.closeSubpath()
        else:
            path.addRect(self.rect)
        self.setPath(path)
        self.label.setPos(self.label_anchor())

    def label_anchor(self) -> QPointF:
        """Where the label sits (its bottom-left corner): the top-left corner of a box,
        the topmost vertex of a polygon, in item coordinates."""
        if self.polygons:
            return QPointF(min((p for poly in self.polygons for p in poly), key=lambda q: (q.y(), q.x())))
        return self.rect.topLeft()

    def _restyle(self) -> None:
        name, poly, mask = self._color.name(), bool(self.polygons), self._mask is not None
        pen, brush = _style(name, self._selected, poly, mask)
        self.setPen(pen)
        self.setBrush(brush)
        self.layer_pen, self.layer_brush = _style(name, False, poly, mask)


@lru_cache(maxsize=1024)
def _style(color: str, selected: bool, polygon: bool, mask: bool) -> tuple[QPen, QBrush]:
    """Pen and brush of a shape (shared between shapes of one category)."""
    pen = QPen(QColor(color), 3.0 if selected else 2.0)
    pen.setCosmetic(True)
    if mask:
        pen.setStyle(Qt.PenStyle.DashLine)
    if mask or (not polygon and not selected):
        return pen, QBrush(Qt.BrushStyle.NoBrush)
    fill = QColor(color)
    fill.setAlpha((110 if selected else 55) if polygon else 70)
    return pen, QBrush(fill)


class ShapesLayer(QGraphicsItem):
    """Paints every shown, unselected shape and its label in one ``paint`` call.

    With one graphics item per shape, ``QGraphicsView`` spends most of a frame on
    per-item bookkeeping (1,000 polygons with labels panned at ~15 frames/s here); this
    layer draws the shapes visible in the exposed rectangle with a few painter calls
    each, and the labels as shared pixmaps at constant screen size (the effect of
    ``ItemIgnoresTransformations``). Its ``DeviceCoordinateCache`` makes a pan frame a
    blit of the cached layer (the cache is redrawn after an edit or a zoom). Selected
    shapes are drawn by their own :class:`ShapeItem` above the layer, so drags do not
    redraw the layer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(Z_SHAPE)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._bounds = QRectF()
        self.shapes: list[ShapeItem] = []

    def set_bounds(self, rect: QRectF) -> None:
        """The area the layer may paint: the image (scene coordinates) with a margin for
        the labels above shapes at the top edge."""
        self.prepareGeometryChange()
        m = 0.25 * max(rect.width(), rect.height())
        self._bounds = QRectF(rect).adjusted(-m, -m, m, m)
        # a new image: drop the cached picture of the old one. With the same zoom (images
        # of one width) Qt kept blitting it after the bounds changed, however often the
        # layer was updated: the previous image's boxes were drawn on the next one
        self.setCacheMode(QGraphicsItem.CacheMode.NoCache)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def boundingRect(self) -> QRectF:  # noqa: D102 - Qt override
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:  # noqa: D102 - Qt override
        exposed = option.exposedRect
        shapes = [s for s in self.shapes if s.shown and not s.selected
                  and s.rect.adjusted(-2, -2, 2, 2).intersects(exposed)]
        for s in shapes:
            painter.setPen(s.layer_pen)
            painter.setBrush(s.layer_brush)
            if s.qpolys:
                for qp in s.qpolys:
                    painter.drawPolygon(qp)
            else:
                pm = s.mask_pixmap
                if pm is not None:
                    painter.drawPixmap(QPointF(0.0, 0.0), pm)
                painter.drawRect(s.rect)
        t = painter.worldTransform()
        painter.resetTransform()
        for s in shapes:
            pm = s.label.pixmap()
            p = t.map(s.label.pos())
            painter.drawPixmap(QPointF(p.x(), p.y() - pm.height()), pm)
        painter.setWorldTransform(t)


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
    a = 110  # premultiplied RGBA
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[m] = (color.red() * a // 255, color.green() * a // 255, color.blue() * a // 255, a)
    return array_to_qimage(rgba, premultiplied=True)


def weak_slot(obj: QObject, name: str):
    """A slot calling ``obj.name(*args)`` while ``obj`` lives, and doing nothing after.

    The undo stack outlives canvases (it belongs to the session), and a stack destroyed
    while a canvas is being destroyed emits ``indexChanged`` from ``clear()``: a plain
    bound-method connection would then call into a half-deleted widget and crash.
    """
    ref = weakref.ref(obj)

    def slot(*args):
        target = ref()
        if target is not None:
            getattr(target, name)(*args)

    return slot


def marker_item() -> QGraphicsEllipseItem:
    """The yellow dot marking where a vertex would be inserted (constant size)."""
    m = QGraphicsEllipseItem(-5, -5, 10, 10)
    m.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
    m.setPen(QPen(QColor("#000000"), 1))
    m.setBrush(QColor("#ffff00"))
    m.setZValue(Z_PREVIEW + 1)
    m.hide()
    return m


def configure_view(view: QGraphicsView) -> None:
    """The annotation canvas's view settings: no antialiasing of the image, zoom about
    the mouse, full repaints (the shapes layer is cached), no scroll bars (pan by drag),
    dark background, mouse tracking for hover, keyboard focus, no context menu."""
    view.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    view.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
    view.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
    view.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
    view.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setBackgroundBrush(QColor("#202124"))
    view.setFrameShape(QFrame.Shape.NoFrame)
    view.setMouseTracking(True)
    view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
