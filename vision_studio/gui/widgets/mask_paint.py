"""Mask painting on the annotation canvas (semantic segmentation): brush, eraser, fill
and polygons-to-mask, per category, each edit one undo step.

:class:`MaskPainter` attaches to an :class:`~vision_studio.gui.widgets.canvas.AnnotationCanvas`
as an event filter (the canvas itself stays in its "select" tool meanwhile), so the
canvas's own code needs no change:

* brush / eraser: press and drag the left button; the stroke is previewed, and on release
  its pixels (a round brush of :attr:`MaskPainter.radius` pixels) get the current
  category — or lose their label, for the eraser — in one :class:`MaskEditCommand`;
* fill: a click gives the current category to the 4-connected region of pixels that
  share the clicked pixel's label (unlabelled pixels included);
* ``[`` / ``]`` and Ctrl + wheel change the brush size; the middle button, Space + drag
  and a right drag still pan, the plain wheel still zooms.

:attr:`MaskPainter.limit` ("everywhere", "inside", "outside") restricts painting to pixels
that already have a label, or to unlabelled ones (:data:`vision_studio.core.mask_edit.LIMITS`).
The pixel work is in :mod:`vision_studio.core.mask_edit`; masks are stored as today (RLE).
"""
from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainterPath, QPen, QWheelEvent
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from vision_studio.core import mask_edit
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation
from vision_studio.gui import undo
from vision_studio.gui.widgets.canvas_items import Z_PREVIEW

log = logging.getLogger(__name__)

MASK_TOOLS = ("brush", "eraser", "fill")
MIN_RADIUS, MAX_RADIUS = 1.0, 200.0
DEFAULT_RADIUS = 8.0
"""Brush radius in image pixels."""
_MOUSE = (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease,
          QEvent.Type.MouseButtonDblClick)


class MaskEditCommand(undo.StoreCommand):
    """Apply a :class:`~vision_studio.core.mask_edit.MaskEdit` (plus polygons turned into
    mask pixels, deleted with it); undo restores every annotation as it was, redo after
    undo re-inserts new masks under the same ids."""

    def __init__(self, store: ProjectStore, image_id: int, edit: mask_edit.MaskEdit,
                 text: str) -> None:
        super().__init__(store, text, [image_id])
        self.edit = edit
        self.added: list[Annotation] = []

    def _redo(self) -> None:
        for _old, new in self.edit.updated:
            self.store.update_annotation(new)
        if self.edit.deleted:
            self.store.delete_annotations([a.id for a in self.edit.deleted])
        if self.added:
            self.store.restore_annotations(self.added)
        elif self.edit.added:
            self.added = self.store.add_annotations(self.edit.added)

    def _undo(self) -> None:
        if self.added:
            self.store.delete_annotations([a.id for a in self.added])
        if self.edit.deleted:
            self.store.restore_annotations(self.edit.deleted)
        for old, _new in self.edit.updated:
            self.store.update_annotation(old)


class MaskPainter(QObject):
    """The mask tools of one canvas (see the module docstring).

    Signals:
        radiusChanged(float): the brush radius changed (``[``, ``]``, Ctrl + wheel).

    Attributes:
        tool: ``""`` (inactive) or one of :data:`MASK_TOOLS`.
        radius: Brush radius in image pixels.
        limit: One of :data:`vision_studio.core.mask_edit.LIMITS`.
    """

    radiusChanged = Signal(float)

    def __init__(self, canvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.tool = ""
        self.radius = DEFAULT_RADIUS
        self.limit = "everywhere"
        self._points: list[tuple[float, float]] | None = None
        self._stroke = QGraphicsPathItem()
        self._stroke.setZValue(Z_PREVIEW)
        self._cursor = QGraphicsEllipseItem()
        self._cursor.setZValue(Z_PREVIEW)
        pen = QPen(QColor("#ffffff"), 1.0, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._cursor.setPen(pen)
        for item in (self._stroke, self._cursor):
            item.hide()
            canvas.scene().addItem(item)
        self._viewport = canvas.viewport()
        canvas.installEventFilter(self)
        self._viewport.installEventFilter(self)

    # ------------------------------------------------------------------ control
    def set_tool(self, tool: str) -> None:
        """``"brush"``, ``"eraser"``, ``"fill"`` or ``""`` (off: the canvas's tools work)."""
        if tool and tool not in MASK_TOOLS:
            raise ValueError(f"unknown mask tool {tool!r}; expected one of {MASK_TOOLS}")
        self.tool = tool
        self._points = None
        self._stroke.hide()
        self._cursor.setVisible(False)
        if tool:
            self.canvas.set_selection([])
            self._viewport.setCursor(Qt.CursorShape.CrossCursor)

    def set_radius(self, radius: float) -> None:
        """Brush radius in image pixels, within 1 … 200."""
        r = min(MAX_RADIUS, max(MIN_RADIUS, float(radius)))
        if r != self.radius:
            self.radius = r
            self.radiusChanged.emit(r)

    def set_limit(self, limit: str) -> None:
        """Where strokes paint: one of :data:`~vision_studio.core.mask_edit.LIMITS`."""
        if limit not in mask_edit.LIMITS:
            raise ValueError(f"limit must be one of {mask_edit.LIMITS}, got {limit!r}")
        self.limit = limit

    # ------------------------------------------------------------------ edits (API)
    def _category(self) -> int | None:
        ann = self.canvas._new_ann()  # the current category (asks for one when none exists)
        return None if ann is None else ann.category_id

    def _labels(self):
        im = self.canvas.image
        anns = self.canvas.store.annotations(im.id)
        return anns, mask_edit.label_map(anns, im.height, im.width)

    def _push(self, edit: mask_edit.MaskEdit, text: str) -> bool:
        if edit.empty:
            self.canvas.statusMessage.emit(f"{text}: no pixel changed")
            return False
        return self.canvas._push(MaskEditCommand(self.canvas.store, self.canvas.image.id, edit, text))

    def paint_region(self, region, erase: bool = False, text: str = "Paint mask") -> bool:
        """Give the ``region`` pixels (``H x W`` bool) the current category, or unlabel
        them (``erase``), within :attr:`limit`: one undo command; False if nothing changed."""
        if self.canvas.image is None:
            return False
        cid = mask_edit.ERASE if erase else self._category()
        if cid is None:
            return False
        anns, labels = self._labels()
        new = mask_edit.paint(labels, region, cid, self.limit)
        return self._push(mask_edit.plan_edit(anns, labels, new, self.canvas.image.id), text)

    def stroke(self, points: list[tuple[float, float]], erase: bool = False) -> bool:
        """A brush (or eraser) stroke through ``points`` (image pixels)."""
        im = self.canvas.image
        if im is None:
            return False
        region = mask_edit.stroke_mask(im.height, im.width, points, self.radius)
        return self.paint_region(region, erase, "Erase mask" if erase else "Paint mask")

    def fill(self, x: float, y: float) -> bool:
        """Fill the region under ``(x, y)`` with the current category."""
        if self.canvas.image is None:
            return False
        _anns, labels = self._labels()
        return self.paint_region(mask_edit.flood_mask(labels, x, y), text="Fill mask")

    def polygons_to_mask(self, ann_ids: list[int] | None = None) -> bool:
        """Turn polygon annotations (the selected ones, default: every polygon of the
        image) into mask pixels of their categories and delete them: one undo command."""
        im = self.canvas.image
        if im is None:
            return False
        anns, labels = self._labels()
        ids = set(ann_ids if ann_ids is not None else self.canvas.selected_ids)
        polys = [a for a in anns if a.polygons and (not ids or a.id in ids)]
        if not polys:
            self.canvas.statusMessage.emit("No polygon to turn into a mask")
            return False
        new = labels
        for a in polys:
            region = mask_edit.polygons_mask(a.polygons, im.height, im.width)
            new = mask_edit.paint(new, region, a.category_id, self.limit)
        edit = mask_edit.plan_edit(anns, labels, new, im.id)
        edit.deleted.extend(polys)
        self.canvas.set_selection([])
        return self._push(edit, f"{len(polys)} polygon(s) to mask")

    # ------------------------------------------------------------------ events
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Mouse, wheel and keys while a mask tool is on."""
        et = event.type()
        if not self.tool or self.canvas.image is None:
            return False
        if obj is self.canvas and et == QEvent.Type.KeyPress:
            return self._key(event)
        if obj is not self._viewport:
            return False
        if et == QEvent.Type.Wheel:
            return self._wheel(event)
        if et in _MOUSE:
            return self._mouse(et, event)
        if et == QEvent.Type.Leave:
            self._cursor.hide()
        return False

    def _scene(self, event: QMouseEvent) -> QPointF:
        return self.canvas.mapToScene(event.position().toPoint())

    def _mouse(self, et: QEvent.Type, event: QMouseEvent) -> bool:
        p = self._scene(event)
        if et == QEvent.Type.MouseMove:
            self._show_cursor(p)
            if self._points is None:
                return False  # a pan in progress keeps working
            self._points.append((p.x(), p.y()))
            self._update_stroke()
            return True
        left = event.button() == Qt.MouseButton.LeftButton
        if not left or getattr(self.canvas, "_space", False):
            return False  # pan, context menu
        if et == QEvent.Type.MouseButtonPress:
            self.canvas.setFocus()  # [ and ] reach the canvas
            if self.tool == "fill":
                self.fill(p.x(), p.y())
            else:
                self._points = [(p.x(), p.y())]
                self._update_stroke()
            return True
        if et == QEvent.Type.MouseButtonRelease and self._points is not None:
            points, self._points = self._points, None
            self._stroke.hide()
            self.stroke(points, erase=self.tool == "eraser")
        return True

    def _wheel(self, event: QWheelEvent) -> bool:
        if not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            return False
        delta = event.angleDelta().y()
        if delta:
            self._step_radius(delta > 0)
            self._show_cursor(self.canvas.mapToScene(event.position().toPoint()))
        return True

    def _key(self, event: QKeyEvent) -> bool:
        if event.key() in (Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight):
            self._step_radius(event.key() == Qt.Key.Key_BracketRight)
        else:
            return False
        if self._cursor.isVisible():
            self._show_cursor(self._cursor.rect().center())
        return True

    def _step_radius(self, up: bool) -> None:
        """One size step: 25 % (at least one pixel) up or down."""
        r = self.radius
        self.set_radius(max(r + 1, r * 1.25) if up else min(r - 1, r / 1.25))

    def _color(self) -> QColor:
        cat = self.canvas._categories.get(self.canvas._category_id or 0)
        color = QColor("#ffffff" if self.tool == "eraser" or cat is None else cat.color)
        color.setAlpha(140)
        return color

    def _update_stroke(self) -> None:
        pts = self._points or []
        path = QPainterPath(QPointF(*pts[0]))
        for q in pts[1:]:
            path.lineTo(QPointF(*q))
        if len(pts) == 1:
            path.lineTo(QPointF(pts[0][0] + 0.01, pts[0][1]))  # a dab shows as a disc
        pen = QPen(self._color(), 2 * self.radius, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        self._stroke.setPen(pen)
        self._stroke.setPath(path)
        self._stroke.show()

    def _show_cursor(self, p: QPointF) -> None:
        if self.tool == "fill":
            self._cursor.hide()
            return
        r = self.radius
        self._cursor.setRect(QRectF(p.x() - r, p.y() - r, 2 * r, 2 * r))
        self._cursor.show()
