"""The annotation canvas: one image with its boxes, polygons and masks, editable.

A :class:`QGraphicsView` whose scene coordinates are the image's pixel coordinates
(COCO convention: origin at the top-left corner, x right, y down). Every edit is an
undo command of :mod:`vision_studio.gui.undo` pushed on the session's ``QUndoStack``;
the command writes the project file at once. The canvas never edits its items as the
source of truth: after any change of the undo stack (push, undo, redo, from this
canvas or another panel) it re-reads the current image's annotations from the store
and updates only the items that differ (:meth:`AnnotationCanvas.reload`).

Images are decoded through an :class:`~vision_studio.gui.image_cache.ImageCache`, and
:meth:`AnnotationCanvas.prefetch` decodes the neighbours in the background so that
Next/Previous is instant. Interaction (tools, mouse, keys) is in
:mod:`vision_studio.gui.widgets.canvas_tools`.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen, QPixmap, QResizeEvent, QUndoStack
from PySide6.QtWidgets import (QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsScene,
                               QGraphicsView, QWidget)

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, Category, ImageRecord
from vision_studio.gui import undo
from vision_studio.gui.image_cache import DecodedImage, ImageCache, adjust, display_array
from vision_studio.gui.qimage import array_to_qimage
from vision_studio.gui.widgets.canvas_items import (Z_IMAGE, Z_PREVIEW, HandleItem, ShapeItem, ShapesLayer,
                                                    configure_view, marker_item, weak_slot)
from vision_studio.gui.widgets.canvas_tools import CanvasInteraction, box_handles
from vision_studio.gui.widgets.detail_tiles import DetailTiles
from vision_studio.gui.widgets.proposal_items import provenance_label

log = logging.getLogger(__name__)

TOOLS = ("select", "box", "polygon")
MIN_SCALE, MAX_SCALE = 0.01, 64.0
LABEL_ROOM_PX = 18.0
"""Screen pixels left above the image by :meth:`AnnotationCanvas.fit` for labels."""


class AnnotationCanvas(CanvasInteraction, QGraphicsView):
    """Shows one image of ``store`` and edits its annotations through ``undo_stack``.

    Args:
        store: The open project.
        undo_stack: The session's stack; every edit is pushed there.
        parent: Parent widget.
        cache: Decoded-image cache (default: a private one of 512 MiB).

    Signals:
        annotationsChanged(int): annotations or tags of this image id changed (an edit,
            an undo or a redo).
        selectionChanged(list): ids of the selected annotations.
        statusMessage(str): a line for the status bar (hints, refused edits, errors).
        zoomChanged(float): the zoom (:meth:`zoom`) after a fit, 1:1 or zoom step.
    """

    annotationsChanged = Signal(int)
    selectionChanged = Signal(list)
    statusMessage = Signal(str)
    zoomChanged = Signal(float)

    def __init__(self, store: ProjectStore, undo_stack: QUndoStack, parent: QWidget | None = None,
                 cache: ImageCache | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.undo_stack = undo_stack
        self.cache = cache if cache is not None else ImageCache()
        self.setScene(QGraphicsScene(self))
        configure_view(self)
        self._pixmap_item = QGraphicsPixmapItem()
        self._pixmap_item.setZValue(Z_IMAGE)
        self._pixmap_item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self.scene().addItem(self._pixmap_item)
        self._detail = DetailTiles(self.scene(), Z_IMAGE + 0.5)  # large images: tiles when zoomed in
        self._detail.watch(self)
        self._layer = ShapesLayer()
        self.scene().addItem(self._layer)
        self._edge_marker = marker_item()
        self.scene().addItem(self._edge_marker)
        self._preview = QGraphicsPathItem()
        pen = QPen(QColor("#ffff00"), 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._preview.setPen(pen)
        self._preview.setZValue(Z_PREVIEW)
        self._preview.hide()
        self.scene().addItem(self._preview)
        self._image: ImageRecord | None = None
        self._decoded: DecodedImage | None = None
        self._items: dict[int, ShapeItem] = {}
        self._handles: list[HandleItem] = []
        self._selected: list[int] = []
        self._sel_vertex: tuple[int, int, int] | None = None
        self._categories: dict[int, Category] = {}
        self._category_id: int | None = None
        self._hidden: set[int] = set()
        self._display: tuple[float, float, tuple[float, float] | None] = (0.0, 1.0, None)
        self._tool = "select"
        self._fitted = True  # fitted until the user zooms or pans: resizes keep it fitted
        self._drag = None
        self._space = False
        self._poly_points: list[QPointF] = []
        self._clipboard: list[Annotation] = []
        self._stack_index = undo_stack.index()
        undo_stack.indexChanged.connect(weak_slot(self, "_on_stack_index"))

    # ------------------------------------------------------------------ public API
    @property
    def image(self) -> ImageRecord | None:
        """The image shown, or ``None``."""
        return self._image

    @property
    def tool(self) -> str:
        """The current tool: ``"select"``, ``"box"`` or ``"polygon"``."""
        return self._tool

    @property
    def selected_ids(self) -> list[int]:
        """Ids of the selected annotations, in selection order."""
        return list(self._selected)

    @property
    def shape_items(self) -> dict[int, ShapeItem]:
        """``{annotation id: item}`` of the current image (read-only use)."""
        return dict(self._items)

    def show_image(self, image: ImageRecord) -> None:
        """Show ``image`` (decoded from the cache, waiting for a pending pre-decode or
        decoding now) with its annotations, fitted to the view."""
        self.cancel_polygon()
        self._drag = None
        self._image = image
        self._decoded = self.cache.get(self.store.resolve(image))
        self._detail.set_source(self._decoded.path, image.width, image.height, self._decoded.scale, self._display)
        if self._decoded.error:
            self.statusMessage.emit(f"Cannot show {image.path}: {self._decoded.error}")
        self._update_pixmap()
        margin = max(image.width, image.height, 1)
        self.setSceneRect(QRectF(0, 0, image.width, image.height).adjusted(-margin, -margin, margin, margin))
        for item in self._items.values():
            self.scene().removeItem(item)
        self._items.clear()
        self._selected, self._sel_vertex = [], None
        self.reload()
        self.fit()
        self.selectionChanged.emit([])

    def prefetch(self, images: list[ImageRecord]) -> None:
        """Decode ``images`` (usually the next and previous ones) in the background."""
        self.cache.prefetch([self.store.resolve(im) for im in images])

    def set_tool(self, tool: str) -> None:
        """Switch to ``"select"``, ``"box"`` or ``"polygon"``.

        Raises:
            ValueError: on another name.
        """
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
        if tool != "polygon":
            self.cancel_polygon()
        self._tool = tool
        self._edge_marker.hide()
        self.viewport().setCursor(self._tool_cursor())

    def set_current_category(self, category_id: int, apply_to_selection: bool = True) -> None:
        """Use ``category_id`` for new shapes; when shapes are selected (and
        ``apply_to_selection``), give them this category too (one undo command)."""
        self._category_id = category_id
        if apply_to_selection and self._selected:
            self.set_selection_category(category_id)

    def set_selection_category(self, category_id: int) -> None:
        """Give the selected shapes the category ``category_id`` (undoable)."""
        anns = [self._items[i].ann for i in self._selected
                if i in self._items and self._items[i].ann.category_id != category_id]
        if anns:
            self._push(undo.ChangeCategoryCommand(self.store, anns, category_id))

    def set_hidden_categories(self, ids: set[int]) -> None:
        """Hide the shapes of these category ids (they cannot be selected meanwhile)."""
        self._hidden = set(ids)
        for item in self._items.values():
            item.set_shown(item.ann.category_id not in self._hidden)
        self._layer.update()
        sel = [i for i in self._selected if self._items[i].shown]
        if sel != self._selected:
            self.set_selection(sel)

    def set_display(self, brightness: float = 0.0, contrast: float = 1.0,
                    window: tuple[float, float] | None = None) -> None:
        """Brightness (fraction of full scale, [-1, 1]), contrast (gain, > 0) and, for
        16-bit / float images, the ``(low, high)`` display window in data units
        (``None``: the default percentile window of ``core.images.to_display``)."""
        self._display = (float(brightness), float(contrast), window)
        self._update_pixmap()

    def fit(self) -> None:
        """Zoom so that the whole image is visible, with room above it for the labels of
        shapes at its top edge."""
        self._fitted = True
        if self._image is not None:
            rect = QRectF(0, 0, self._image.width, self._image.height)
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
            room = LABEL_ROOM_PX / max(self.zoom(), 1e-6)
            self.fitInView(rect.adjusted(0, -room, 0, 0), Qt.AspectRatioMode.KeepAspectRatio)
            self.zoomChanged.emit(self.zoom())

    def zoom_1to1(self) -> None:
        """One image pixel per screen pixel, keeping the view centre."""
        centre = self.mapToScene(self.viewport().rect().center())
        self._fitted = False
        self.resetTransform()
        self.centerOn(centre)
        self.zoomChanged.emit(self.zoom())

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Multiply the zoom by ``factor`` (within 1 % … 6400 %), keeping the scene point
        under the view position ``anchor`` (default the view centre) in place."""
        scale = self.transform().m11()
        self._fitted = False
        factor = max(MIN_SCALE / scale, min(MAX_SCALE / scale, factor))
        at = (anchor if anchor is not None else QPointF(self.viewport().rect().center())).toPoint()
        fixed = self.mapToScene(at)
        old = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(factor, factor)
        self.setTransformationAnchor(old)
        shift = self.mapFromScene(fixed) - at
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + shift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + shift.y())
        self.zoomChanged.emit(self.zoom())

    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        return self.transform().m11()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        """A fitted image stays fitted when the view gets its size (first show, project
        open, splitter drag, window resize); a zoom or pan of the user is kept."""
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def reload(self) -> None:
        """Re-read the current image's annotations and the categories from the store and
        update the items that changed."""
        if self._image is None:
            return
        try:
            self._categories = {c.id: c for c in self.store.categories()}
            anns = {a.id: a for a in self.store.annotations(self._image.id)}
        except sqlite3.ProgrammingError:  # the project was closed (the window is closing)
            return
        for ann_id in [i for i in self._items if i not in anns]:
            self.scene().removeItem(self._items.pop(ann_id))
        for a in anns.values():
            color, name = self._category_look(a.category_id)
            name = provenance_label(name, a.source)  # issue 14: "· model" on accepted proposals
            item = self._items.get(a.id)
            if item is None:
                item = ShapeItem(a, color, name)
                self.scene().addItem(item)
                self._items[a.id] = item
            else:
                if item.ann != a or item.pos() != QPointF(0, 0):
                    item.set_annotation(a)
                item.set_category(color, name)
            item.set_shown(a.category_id not in self._hidden)
        self._layer.shapes = list(self._items.values())
        self._layer.update()
        sel = [i for i in self._selected if i in self._items and self._items[i].shown]
        if self._sel_vertex is not None and not self._vertex_exists(*self._sel_vertex):
            self._sel_vertex = None
        self.set_selection(sel, force=True)

    def set_selection(self, ids: list[int], force: bool = False) -> None:
        """Select these annotation ids (of the current image)."""
        ids = [i for i in dict.fromkeys(ids) if i in self._items]
        if ids == self._selected and not force:
            return
        changed = ids != self._selected
        for i in self._selected:
            if i in self._items:
                self._items[i].set_selected(False)
        self._selected = ids
        for i in ids:
            self._items[i].set_selected(True)
        self._layer.update()
        if self._sel_vertex is not None and self._sel_vertex[0] not in ids:
            self._sel_vertex = None
        self._update_handles()
        if changed:
            self.selectionChanged.emit(list(ids))

    # ------------------------------------------------------------------ edits (commands)
    def add_box(self, x: float, y: float, w: float, h: float) -> int | None:
        """Add a box ``(x, y, w, h)`` (pixels) of the current category; returns its id."""
        ann = self._new_ann()
        return None if ann is None else self._add(undo.with_geometry(ann, bbox=(x, y, w, h)))

    def add_polygon(self, flat: list[float]) -> int | None:
        """Add a polygon ``[x1, y1, ...]`` (pixels) of the current category; returns its id."""
        ann = self._new_ann()
        return None if ann is None else self._add(undo.with_geometry(ann, polygons=[flat]))

    def add_polygons(self, polygons: list[list[float]]) -> int | None:
        """Add ONE annotation of several polygons (pixels; an object in pieces) of the
        current category (issue 14: the smart polygon); returns its id."""
        ann = self._new_ann()
        return None if ann is None else self._add(undo.with_geometry(ann, polygons=polygons))

    def set_box(self, ann_id: int, x: float, y: float, w: float, h: float) -> None:
        """Move/resize a box annotation to ``(x, y, w, h)`` (one undo command)."""
        self._push(undo.MoveResizeBoxCommand(self.store, self._items[ann_id].ann, (x, y, w, h)))

    def move_selection(self, dx: float, dy: float) -> None:
        """Translate the selected boxes and polygons by ``(dx, dy)`` pixels."""
        anns = [self._items[i].ann for i in self._selected if self._items[i].kind != "mask"]
        if anns:
            self._push(undo.MoveShapesCommand(self.store, anns, dx, dy))

    def move_vertex(self, ann_id: int, poly: int, vertex: int, x: float, y: float) -> None:
        """Move a polygon vertex to ``(x, y)`` (one undo command)."""
        self._sel_vertex = (ann_id, poly, vertex)
        self._push(undo.MoveVertexCommand(self.store, self._items[ann_id].ann, poly, vertex, x, y))

    def insert_vertex(self, ann_id: int, poly: int, index: int, x: float, y: float) -> None:
        """Insert a vertex at ``index`` of polygon ``poly`` (on the edge index-1 → index)."""
        self._sel_vertex = (ann_id, poly, index)
        self._push(undo.InsertVertexCommand(self.store, self._items[ann_id].ann, poly, index, x, y))

    def delete_vertex(self, ann_id: int, poly: int, vertex: int) -> bool:
        """Delete a polygon vertex; refused (False) when 3 points would not remain."""
        ann = self._items[ann_id].ann
        if len(ann.polygons[poly]) <= 6:
            self.statusMessage.emit("A polygon keeps at least 3 points: delete the shape instead")
            return False
        self._sel_vertex = None
        self._push(undo.DeleteVertexCommand(self.store, ann, poly, vertex))
        return True

    def delete_selection(self) -> None:
        """Delete the selected vertex if there is one, else the selected shapes."""
        if self._sel_vertex is not None:
            self.delete_vertex(*self._sel_vertex)
            return
        if self._selected:
            ids = list(self._selected)
            self.set_selection([])
            self._push(undo.DeleteAnnotationsCommand(self.store, ids))

    def copy_selection(self) -> None:
        """Copy the selected shapes (to paste here or on another image)."""
        self._clipboard = [self._items[i].ann for i in self._selected]
        self.statusMessage.emit(f"Copied {len(self._clipboard)} shape(s)")

    def paste(self, image_id: int | None = None) -> None:
        """Paste the copied shapes on image ``image_id`` (default the current image),
        clipped to that image's size (one undo command)."""
        if not self._clipboard:
            self.statusMessage.emit("Nothing to paste: select shapes and copy them first")
            return
        target = self._image if image_id is None or (self._image and image_id == self._image.id) \
            else self.store.image(image_id)
        if target is None:
            return
        anns = [a for a in (undo.clip_to_image(replace(c, id=0, image_id=target.id), target.width, target.height) for c in self._clipboard) if a]
        if not anns:
            self.statusMessage.emit("The copied shapes lie outside this image")
            return
        cmd = undo.PasteAnnotationsCommand(self.store, anns)
        if self._push(cmd) and self._image is not None and target.id == self._image.id:
            self.set_selection(cmd.ids)

    # ------------------------------------------------------------------ internals
    def _new_ann(self) -> Annotation | None:
        """A template annotation of the current category on the current image."""
        if self._image is None:
            return None
        cid = self._category_id
        if cid is None or cid not in self._categories:
            cats = self.store.categories()
            if not cats:
                self.statusMessage.emit("Add a category first (Categories panel)")
                return None
            cid = self._category_id = cats[0].id
        return Annotation(image_id=self._image.id, category_id=cid, bbox=(0, 0, 1, 1))

    def _add(self, ann: Annotation) -> int | None:
        cmd = undo.AddAnnotationsCommand(self.store, [ann])
        if not (self._push(cmd) and cmd.ids):
            return None
        self.set_selection(cmd.ids[:1])  # a just-closed shape is selected: 1–9 recategorise it
        return cmd.ids[0]

    def _push(self, cmd: undo.StoreCommand) -> bool:
        self.undo_stack.push(cmd)
        if cmd.error:
            self.statusMessage.emit(cmd.error)
            self.reload()
            return False
        self.statusMessage.emit(cmd.text())
        return True

    def _on_stack_index(self, index: int) -> None:
        lo, hi = sorted((self._stack_index, index))
        self._stack_index = index
        images: set[int] = set()
        try:
            for i in range(lo, hi):
                cmd = self.undo_stack.command(i)
                images |= set(getattr(cmd, "image_ids", ()))
        except RuntimeError:  # the stack is being destroyed (its clear() emits this)
            return
        self.reload()
        for image_id in sorted(images):
            self.annotationsChanged.emit(image_id)

    def _category_look(self, category_id: int) -> tuple[QColor, str]:
        cat = self._categories.get(category_id)
        if cat is None:
            return QColor("#ffffff"), f"? {category_id}"
        return QColor(cat.color), cat.name

    def _vertex_exists(self, ann_id: int, poly: int, vertex: int) -> bool:
        item = self._items.get(ann_id)
        return item is not None and poly < len(item.polygons) and vertex < len(item.polygons[poly])

    def _update_pixmap(self) -> None:
        if self._decoded is None or self._image is None:
            return
        brightness, contrast, window = self._display
        dec = self._decoded
        if dec.error:
            pm = QPixmap(max(self._image.width, 1), max(self._image.height, 1))
            pm.fill(QColor("#606060"))
        else:
            arr = dec.display if window is None else display_array(dec.raw, dec.path, window)
            pm = QPixmap.fromImage(array_to_qimage(adjust(arr, brightness, contrast)))
        self._pixmap_item.setPixmap(pm)
        self._pixmap_item.setScale(dec.scale if not dec.error else 1.0)  # a reduced overview spans the full image
        self._detail.set_look(self._display)
        self._detail.schedule()
        self._layer.set_bounds(QRectF(0, 0, self._image.width, self._image.height))

    def _update_handles(self) -> None:
        for h in self._handles:
            self.scene().removeItem(h)
        self._handles = []
        for ann_id in self._selected:
            item = self._items.get(ann_id)
            if item is None or not item.shown or item.kind == "mask":
                continue
            off = item.pos()
            if item.kind == "box":
                points = [(p, False) for p in box_handles(item.rect)]
            else:
                sv = self._sel_vertex
                points = [(v, sv is not None and sv == (ann_id, pi, vi))
                          for pi, poly in enumerate(item.polygons) for vi, v in enumerate(poly)]
            for p, active in points:
                h = HandleItem(p + off, item.color, active)
                self.scene().addItem(h)
                self._handles.append(h)

    def _tool_cursor(self) -> Qt.CursorShape:
        return Qt.CursorShape.ArrowCursor if self._tool == "select" else Qt.CursorShape.CrossCursor

    def _clamp(self, p: QPointF) -> QPointF:
        if self._image is None:
            return p
        return QPointF(min(max(p.x(), 0.0), float(self._image.width)),
                       min(max(p.y(), 0.0), float(self._image.height)))

    def _show_preview_rect(self, rect: QRectF) -> None:
        path = QPainterPath()
        path.addRect(rect)
        self._preview.setPath(path)
        self._preview.show()

    def _update_polygon_preview(self, cursor: QPointF | None) -> None:
        pts = self._poly_points
        if not pts:
            self._hide_preview()
            return
        path = QPainterPath(pts[0])
        for q in pts[1:]:
            path.lineTo(q)
        if cursor is not None:
            path.lineTo(cursor)
        self._preview.setPath(path)
        self._preview.show()
        self._edge_marker.setPos(pts[0])
        self._edge_marker.setVisible(len(pts) >= 3)

    def _hide_preview(self) -> None:
        self._preview.hide()
        self._edge_marker.hide()
