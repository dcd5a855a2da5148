"""Mouse and keyboard interaction of the annotation canvas (tools select / box / polygon).

:class:`CanvasInteraction` is a mixin of :class:`~vision_studio.gui.widgets.canvas.AnnotationCanvas`
holding the event handlers. Hit testing is done in *view* pixels (handles and edges are
easy to grab at any zoom); geometry is computed in *scene* = image pixels. A drag only
moves items on screen; the store is written by one undo command on mouse release.

Mouse and keys:
    * Wheel: zoom around the cursor. Middle or right drag, or Space + left drag: pan.
      Right click (no drag): context menu of the shape under the cursor.
    * select: click a shape to select it (Ctrl+click adds/removes), drag to move; drag a
      box handle to resize; drag a polygon vertex; hover an edge of a selected polygon to
      see the insertion marker, click to insert a vertex; Alt+click or Shift+click a vertex
      (or select it and press Del) to delete it (a polygon keeps at least 3 points).
    * box: press, drag, release.
    * polygon: click the vertices; Enter, double-click or a click on the first vertex
      closes; Backspace removes the last point; Esc cancels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QMenu

from vision_studio.gui.widgets.canvas_items import ShapeItem

GRAB_PX = 7.0
"""Distance in view pixels within which a handle, vertex or edge is grabbed."""

MIN_BOX_PX = 2.0
"""Smallest box side, in image pixels, that a drag creates."""

_OVERLAY_MOUSE = {QEvent.Type.MouseButtonPress: "_press", QEvent.Type.MouseMove: "_move",
                  QEvent.Type.MouseButtonRelease: "_release",
                  QEvent.Type.MouseButtonDblClick: "_double_click"}


def route_overlay_event(handler: object, obj: QObject, event: QEvent, canvas, active: bool) -> bool:
    """Dispatch an event seen by the event filter of a canvas *overlay* (the proposal
    review, the smart polygon tool): one filter on the canvas (keys) and on its viewport
    (mouse), acting only while ``active`` and an image is shown.

    Key presses on the canvas go to ``handler._key(event)``; mouse presses, moves,
    releases and double-clicks on the viewport to ``handler._press`` / ``_move`` /
    ``_release`` / ``_double_click`` (each optional). Returns True when the handler took
    the event (the canvas does not see it), False to let it through.
    """
    et = event.type()
    if et != QEvent.Type.KeyPress and et not in _OVERLAY_MOUSE:
        return False  # (checked first: a canvas being destroyed still sends events)
    if not active or canvas.image is None:
        return False
    if et == QEvent.Type.KeyPress:
        return obj is canvas and bool(handler._key(event))
    method = getattr(handler, _OVERLAY_MOUSE[et], None)
    return obj is canvas.viewport() and method is not None and bool(method(event))


@dataclass
class Drag:
    """State of the drag in progress.

    Attributes:
        kind: ``"box_draw"``, ``"move"``, ``"resize"``, ``"vertex"``, ``"pan"`` or
            ``"right"`` (right button down: pan once it moves, else context menu).
        start: Scene position of the press.
        last_view: Last view position (for panning).
        ann_id: Annotation being resized / whose vertex is dragged.
        handle: Box handle index (see :func:`box_handles`) or ``(poly, vertex)``.
        moved: Whether the pointer moved beyond the click tolerance.
    """

    kind: str
    start: QPointF
    last_view: QPointF
    ann_id: int = 0
    handle: object = None
    moved: bool = False
    orig: QRectF = field(default_factory=QRectF)


def box_handles(rect: QRectF) -> list[QPointF]:
    """Resize handles of a box: corners TL, TR, BR, BL, then edge middles T, R, B, L."""
    r = rect
    return [r.topLeft(), r.topRight(), r.bottomRight(), r.bottomLeft(),
            QPointF(r.center().x(), r.top()), QPointF(r.right(), r.center().y()),
            QPointF(r.center().x(), r.bottom()), QPointF(r.left(), r.center().y())]


def resize_rect(orig: QRectF, handle: int, p: QPointF) -> QRectF:
    """``orig`` with the edges that ``handle`` controls moved to ``p`` (normalised)."""
    left, top, right, bottom = orig.left(), orig.top(), orig.right(), orig.bottom()
    moves = {0: "lt", 1: "rt", 2: "rb", 3: "lb", 4: "t", 5: "r", 6: "b", 7: "l"}[handle]
    if "l" in moves:
        left = p.x()
    if "r" in moves:
        right = p.x()
    if "t" in moves:
        top = p.y()
    if "b" in moves:
        bottom = p.y()
    return QRectF(QPointF(left, top), QPointF(right, bottom)).normalized()


def nearest_on_segment(p: QPointF, a: QPointF, b: QPointF) -> tuple[QPointF, float]:
    """The point of segment ``ab`` nearest to ``p`` and its distance (same units)."""
    dx, dy = b.x() - a.x(), b.y() - a.y()
    den = dx * dx + dy * dy
    t = 0.0 if den == 0 else max(0.0, min(1.0, ((p.x() - a.x()) * dx + (p.y() - a.y()) * dy) / den))
    q = QPointF(a.x() + t * dx, a.y() + t * dy)
    return q, math.hypot(p.x() - q.x(), p.y() - q.y())


class CanvasInteraction:
    """Event handlers of the canvas (a mixin; see the module docstring)."""

    # ------------------------------------------------------------------ hit testing
    def _view_dist(self, a: QPointF, b: QPointF) -> float:
        pa, pb = self.mapFromScene(a), self.mapFromScene(b)
        return math.hypot(pa.x() - pb.x(), pa.y() - pb.y())

    def _scene_tol(self) -> float:
        scale = self.transform().m11() or 1.0
        return GRAB_PX / abs(scale)

    def shape_at(self, p: QPointF) -> ShapeItem | None:
        """The visible shape under scene point ``p``: selected shapes first, then the
        smallest one (so a small box inside a large one can be picked)."""
        tol = self._scene_tol()
        best, best_key = None, None
        for item in self._items.values():
            if not item.shown or not item.rect.adjusted(-tol, -tol, tol, tol).contains(p - item.pos()):
                continue
            local = p - item.pos()
            if not (item.outline().contains(local) or _near_outline(item, local, tol)):
                continue
            area = item.rect.width() * item.rect.height()
            key = (item.ann.id not in self._selected, area)
            if best_key is None or key < best_key:
                best, best_key = item, key
        return best

    def _handle_at(self, p: QPointF) -> tuple[str, int, object] | None:
        """``("box", ann_id, handle)`` or ``("vertex", ann_id, (poly, vertex))`` of a
        selected shape within :data:`GRAB_PX` view pixels of ``p``."""
        for ann_id in reversed(self._selected):
            item = self._items.get(ann_id)
            if item is None or not item.shown:
                continue
            if item.kind == "box":
                for i, h in enumerate(box_handles(item.rect)):
                    if self._view_dist(h, p) <= GRAB_PX:
                        return ("box", ann_id, i)
            elif item.kind == "polygon":
                for pi, poly in enumerate(item.polygons):
                    for vi, v in enumerate(poly):
                        if self._view_dist(v, p) <= GRAB_PX:
                            return ("vertex", ann_id, (pi, vi))
        return None

    def _edge_at(self, p: QPointF) -> tuple[int, int, int, QPointF] | None:
        """``(ann_id, poly, insert_index, point)`` on an edge of a selected polygon."""
        best = None
        for ann_id in self._selected:
            item = self._items.get(ann_id)
            if item is None or item.kind != "polygon" or not item.shown:
                continue
            for pi, poly in enumerate(item.polygons):
                n = len(poly)
                for i in range(n):
                    q, _ = nearest_on_segment(p, poly[i], poly[(i + 1) % n])
                    d = self._view_dist(q, p)
                    if d <= GRAB_PX and (best is None or d < best[0]):
                        best = (d, ann_id, pi, i + 1, q)
        return None if best is None else best[1:]

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: D102 - Qt override
        self.setFocus()
        pos = event.position()
        p = self.mapToScene(pos.toPoint())
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space):
            self._drag = Drag("pan", p, pos)
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if button == Qt.MouseButton.RightButton:
            self._drag = Drag("right", p, pos)
            return
        if button != Qt.MouseButton.LeftButton or self._image is None:
            return
        if self._tool == "box":
            self._drag = Drag("box_draw", self._clamp(p), pos)
            self._show_preview_rect(QRectF(self._drag.start, self._drag.start))
        elif self._tool == "polygon":
            self._polygon_click(self._clamp(p))
        else:
            self._select_press(p, pos, event.modifiers())

    def _select_press(self, p: QPointF, pos: QPointF, mods: Qt.KeyboardModifier) -> None:
        hit = self._handle_at(p)
        if hit is not None and hit[0] == "vertex":
            ann_id, (pi, vi) = hit[1], hit[2]
            if mods & (Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ShiftModifier):
                self.delete_vertex(ann_id, pi, vi)
                return
            self._sel_vertex = (ann_id, pi, vi)
            self._drag = Drag("vertex", p, pos, ann_id, (pi, vi))
            self._update_handles()
            return
        if hit is not None:
            item = self._items[hit[1]]
            self._drag = Drag("resize", p, pos, hit[1], hit[2], orig=QRectF(item.rect))
            return
        edge = self._edge_at(p)
        if edge is not None:
            ann_id, pi, index, q = edge
            self.insert_vertex(ann_id, pi, index, q.x(), q.y())
            return
        item = self.shape_at(p)
        self._sel_vertex = None
        if item is None:
            if not mods & Qt.KeyboardModifier.ControlModifier:
                self.set_selection([])
            return
        ids = list(self._selected)
        if mods & Qt.KeyboardModifier.ControlModifier:
            ids = [i for i in ids if i != item.ann.id] if item.ann.id in ids else ids + [item.ann.id]
            self.set_selection(ids)
            return
        if item.ann.id not in ids:
            self.set_selection([item.ann.id])
        self._drag = Drag("move", p, pos)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: D102 - Qt override
        pos = event.position()
        p = self.mapToScene(pos.toPoint())
        d = self._drag
        if d is None:
            self._hover(p)
            return
        if not d.moved and (abs(pos.x() - d.last_view.x()) + abs(pos.y() - d.last_view.y())) > 2:
            d.moved = True
        if d.kind in ("pan", "right"):
            if d.kind == "right" and not d.moved:
                return
            delta = pos - d.last_view
            d.last_view = pos
            self._fitted = False  # the user placed the image: a resize keeps it there
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            return
        q = self._clamp(p)
        if d.kind == "box_draw":
            self._show_preview_rect(QRectF(d.start, q).normalized())
        elif d.kind == "move":
            dx, dy = self._move_offset(d.start, p)
            for ann_id in self._selected:
                item = self._items.get(ann_id)
                if item is not None and item.kind != "mask":
                    item.setPos(dx, dy)
            self._update_handles()
        elif d.kind == "resize":
            self._items[d.ann_id].set_rect(resize_rect(d.orig, d.handle, q))
            self._update_handles()
        elif d.kind == "vertex":
            self._items[d.ann_id].set_vertex(*d.handle, q)
            self._update_handles()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: D102 - Qt override
        d, self._drag = self._drag, None
        if d is None:
            return
        self.viewport().setCursor(self._tool_cursor())
        p = self.mapToScene(event.position().toPoint())
        if d.kind == "right":
            if not d.moved:
                self._context_menu_at(p, event.globalPosition().toPoint())
            return
        if d.kind == "pan":
            return
        q = self._clamp(p)
        if d.kind == "box_draw":
            self._hide_preview()
            rect = QRectF(d.start, q).normalized()
            if rect.width() >= MIN_BOX_PX and rect.height() >= MIN_BOX_PX:
                self.add_box(rect.x(), rect.y(), rect.width(), rect.height())
            else:
                self.statusMessage.emit("Box too small: drag to draw a box")
        elif d.kind == "move":
            dx, dy = self._move_offset(d.start, p)
            if d.moved and (dx or dy):
                self.move_selection(dx, dy)
        elif d.kind == "resize":
            item = self._items[d.ann_id]
            r = item.rect
            if d.moved and r != d.orig and r.width() >= MIN_BOX_PX / 2 and r.height() >= MIN_BOX_PX / 2:
                self.set_box(d.ann_id, r.x(), r.y(), r.width(), r.height())
            else:
                item.set_annotation(item.ann)
                self._update_handles()
        elif d.kind == "vertex":
            pi, vi = d.handle
            if d.moved:
                self.move_vertex(d.ann_id, pi, vi, q.x(), q.y())

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: D102 - Qt override
        if self._tool == "polygon" and event.button() == Qt.MouseButton.LeftButton:
            p = self._clamp(self.mapToScene(event.position().toPoint()))
            if not self._poly_points or self._view_dist(self._poly_points[-1], p) > GRAB_PX:
                self._poly_points.append(p)
            self.finish_polygon()
            return
        self.mousePressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: D102 - Qt override
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(1.0015 ** delta, event.position())
        event.accept()

    def _move_offset(self, start: QPointF, p: QPointF) -> tuple[float, float]:
        """Drag offset, limited so that the selected shapes stay inside the image."""
        dx, dy = p.x() - start.x(), p.y() - start.y()
        rects = [self._items[i].rect for i in self._selected if i in self._items]
        if rects and self._image is not None:
            left = min(r.left() for r in rects)
            top = min(r.top() for r in rects)
            right = max(r.right() for r in rects)
            bottom = max(r.bottom() for r in rects)
            dx = max(-left, min(self._image.width - right, dx))
            dy = max(-top, min(self._image.height - bottom, dy))
        return round(dx, 2), round(dy, 2)

    def _hover(self, p: QPointF) -> None:
        if self._tool == "select":
            edge = None if self._handle_at(p) else self._edge_at(p)
            if edge is not None:
                self._edge_marker.setPos(edge[3])
                self._edge_marker.show()
                self.viewport().setCursor(Qt.CursorShape.CrossCursor)
                return
            self._edge_marker.hide()
            self.viewport().setCursor(self._tool_cursor())
        elif self._tool == "polygon" and self._poly_points:
            self._update_polygon_preview(self._clamp(p))

    # ------------------------------------------------------------------ polygon drawing
    def _polygon_click(self, p: QPointF) -> None:
        pts = self._poly_points
        if len(pts) >= 3 and self._view_dist(pts[0], p) <= GRAB_PX:
            self.finish_polygon()
            return
        if pts and self._view_dist(pts[-1], p) <= 1.0:
            return  # the second press of a double-click
        pts.append(p)
        self._update_polygon_preview(p)

    def finish_polygon(self) -> bool:
        """Close the polygon being drawn (≥ 3 points) and add it; False if too few points."""
        pts = self._poly_points
        if len(pts) < 3:
            self.statusMessage.emit("A polygon needs at least 3 points")
            return False
        flat = [v for q in pts for v in (q.x(), q.y())]
        self.cancel_polygon()
        self.add_polygon(flat)
        return True

    def cancel_polygon(self) -> None:
        """Forget the polygon being drawn."""
        self._poly_points = []
        self._hide_preview()

    # ------------------------------------------------------------------ context menu
    def _context_menu_at(self, p: QPointF, global_pos: QPoint) -> None:
        item = self.shape_at(p)
        if item is not None and item.ann.id not in self._selected:
            self.set_selection([item.ann.id])
        self.build_context_menu().popup(global_pos)

    def build_context_menu(self) -> QMenu:
        """The context menu for the selection: category submenu, copy, paste, delete."""
        menu = QMenu(self)
        sub = menu.addMenu("Category")
        sub.setEnabled(bool(self._selected))
        current = {self._items[i].ann.category_id for i in self._selected}
        for cat in self._categories.values():
            act = sub.addAction(cat.name)
            act.setCheckable(True)
            act.setChecked(cat.id in current)
            act.triggered.connect(lambda _c=False, cid=cat.id: self.set_selection_category(cid))
        menu.addSeparator()
        menu.addAction("Copy", self.copy_selection).setEnabled(bool(self._selected))
        menu.addAction("Paste", self.paste).setEnabled(bool(self._clipboard))
        menu.addAction("Delete", self.delete_selection).setEnabled(bool(self._selected))
        return menu

    # ------------------------------------------------------------------ keys
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: D102 - Qt override
        key = event.key()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._tool == "polygon":
            self.finish_polygon()
        elif key == Qt.Key.Key_Escape:
            if self._poly_points:
                self.cancel_polygon()
            elif self._drag is not None:
                self._drag = None
                self.reload()
            else:
                self.set_selection([])
        elif key == Qt.Key.Key_Backspace and self._poly_points:
            self._poly_points.pop()
            self._update_polygon_preview(self._poly_points[-1] if self._poly_points else None)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selection()
        elif event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selection()
        elif event.matches(QKeySequence.StandardKey.Paste):
            self.paste()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: D102 - Qt override
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().setCursor(self._tool_cursor())
            event.accept()
            return
        super().keyReleaseEvent(event)


def _near_outline(item: ShapeItem, p: QPointF, tol: float) -> bool:
    """Whether ``p`` is within ``tol`` of the shape's outline (to grab thin shapes)."""
    if item.kind == "polygon":
        for poly in item.polygons:
            n = len(poly)
            for i in range(n):
                if nearest_on_segment(p, poly[i], poly[(i + 1) % n])[1] <= tol:
                    return True
        return False
    return item.rect.adjusted(-tol, -tol, tol, tol).contains(p)
