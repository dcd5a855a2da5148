"""The smart polygon tool of the annotation canvas (issue 14).

Drag a box around an object (or click an existing box annotation) and the tool asks
:mod:`vision_studio.core.assist.grabcut` for the object's outline inside it: OpenCV
GrabCut initialised from the box, or the project's own instance-segmentation model when
one is given (the mask of its best detection in the box). The model is loaded once per
checkpoint file in a worker thread (:class:`LoadJob`, cached in :data:`MODELS`) when
the tool is first used with it; until it is ready — or when it cannot be loaded —
GrabCut outlines the boxes, and the status bar says so. The outline shows as a yellow preview; paint strokes to correct it — left
drag marks object (green), Shift+left or right drag marks background (red) — and it is
recomputed with them. The outline is simplified to the tolerance (pixels,
Douglas-Peucker). Enter keeps it: a new polygon annotation of the current category, or,
for a picked box, that annotation becomes the polygon (one undo command either way), an
ordinary editable polygon. Esc cancels; Backspace removes the last stroke.

The tool is an event filter on the canvas (keys) and its viewport (mouse) while active;
the canvas itself stays in its "select" tool. Middle drag and Space + drag still pan.
Scene coordinates are image pixels (COCO convention).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QPointF, QRectF, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from vision_studio.core.types import Annotation
from vision_studio.core.wording import plural
from vision_studio.gui import undo
from vision_studio.gui.widgets.canvas_items import Z_PREVIEW
from vision_studio.gui.widgets.canvas_tools import route_overlay_event
from vision_studio.gui.widgets.smart_polygon_jobs import MODELS, LoadJob, Relay, SegmentJob, model_key

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE_PX = 1.5
"""Default simplification tolerance of the outline (pixels)."""
STROKE_RADIUS_PX = 3
"""Half-width of a refinement stroke, image pixels."""
MIN_BOX_PX = 4.0


def _path_item(color: str, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine,
               cosmetic: bool = True) -> QGraphicsPathItem:
    """A preview path; ``width`` in screen pixels when ``cosmetic``, else image pixels."""
    item = QGraphicsPathItem()
    pen = QPen(QColor(color), width, style)
    pen.setCosmetic(cosmetic)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    item.setPen(pen)
    item.setZValue(Z_PREVIEW)
    item.hide()
    return item


class SmartPolygonTool(QObject):
    """Box → polygon with GrabCut (or the own model), refined by strokes.

    Args:
        canvas: The annotation canvas.
        tolerance: Simplification tolerance, pixels.
        checkpoint: An instance-segmentation checkpoint to segment with instead of
            GrabCut (None: GrabCut).

    Attributes:
        box: The box being segmented (scene pixels), or None.
        polygons: The current outline (flat ``[x1, y1, ...]`` lists, pixels).
        fg_strokes / bg_strokes: The strokes painted (lists of ``(x, y)`` points).
        seconds: Time of the last segmentation.
        method: ``"grabcut"`` or ``"model"``: what made the outline.
        model_state: ``"none"`` (no checkpoint: GrabCut), ``"unloaded"`` (set, loaded
            when the tool is first active), ``"loading"``, ``"ready"`` or ``"failed"``
            (GrabCut; :attr:`model_error` says why).

    Signals:
        polygonChanged(int): the outline was recomputed; its number of points (0: none).
    """

    polygonChanged = Signal(int)

    def __init__(self, canvas, tolerance: float = DEFAULT_TOLERANCE_PX,
                 checkpoint: Path | None = None) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.tolerance = float(tolerance)
        self.checkpoint = checkpoint
        self.active = False
        self.box: QRectF | None = None
        self.picked: Annotation | None = None
        self.polygons: list[list[float]] = []
        self.fg_strokes: list[list[tuple[float, float]]] = []
        self.bg_strokes: list[list[tuple[float, float]]] = []
        self.seconds = 0.0
        self.method = ""
        self._mask: np.ndarray | None = None
        self.model_state, self.model_error = "none", ""
        self._model_key: tuple | None = None
        self.busy = False
        self._generation = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._loader = QThreadPool(self)  # loading a model never waits for a segmentation
        self._loader.setMaxThreadCount(1)
        self._relay = Relay(self)
        self._relay.done.connect(self._on_segmented)
        self._relay.loaded.connect(self._on_loaded)
        self._order: list[bool] = []  # foreground? of each stroke, in painting order
        self._drag: tuple[str, list[tuple[float, float]], QPointF] | None = None
        self._image_cache: tuple[int, np.ndarray] | None = None
        scene = canvas.scene()
        self._box_item = _path_item("#ffff00", 1.5, Qt.PenStyle.DashLine)
        self._result_item = _path_item("#ffff00", 2.0)
        fill = QColor("#ffff00")
        fill.setAlpha(50)
        self._result_item.setBrush(fill)
        self._fg_item = _path_item("#30e030", 2 * STROKE_RADIUS_PX, cosmetic=False)
        self._bg_item = _path_item("#ff3030", 2 * STROKE_RADIUS_PX, cosmetic=False)
        for item in (self._box_item, self._result_item, self._fg_item, self._bg_item):
            scene.addItem(item)
        self._viewport = canvas.viewport()
        canvas.installEventFilter(self)
        self._viewport.installEventFilter(self)

    # ------------------------------------------------------------------ control
    def set_active(self, active: bool) -> None:
        """Turn the tool on (the mouse draws boxes and strokes) or off (cancels)."""
        self.active = bool(active)
        if not active:
            self.cancel()
        else:
            self._load_model()
        self.canvas.viewport().setCursor(Qt.CursorShape.CrossCursor if active else Qt.CursorShape.ArrowCursor)

    def set_tolerance(self, tolerance: float) -> None:
        """Change the simplification tolerance (pixels): the outline of the same mask is
        traced again (no new segmentation)."""
        self.tolerance = float(tolerance)
        if self.box is not None and self._mask is not None:
            from vision_studio.core.assist.polygons import mask_to_polygons

            self._set_polygons(mask_to_polygons(self._mask, self.tolerance))

    def set_checkpoint(self, checkpoint: Path | None) -> None:
        """Segment with this instance-segmentation checkpoint (None: GrabCut). It is
        loaded in the background when the tool is (or becomes) active."""
        checkpoint = None if checkpoint is None else Path(checkpoint)
        if checkpoint != self.checkpoint or checkpoint is None:  # else: a load under way goes on
            self.checkpoint = checkpoint
            self._model_key, self.model_error = None, ""
            self.model_state = "none" if checkpoint is None else "unloaded"
        if self.active:
            self._load_model()

    def _load_model(self) -> None:
        """Start loading :attr:`checkpoint` in the worker (unless cached or under way)."""
        if self.checkpoint is None:
            return
        key = model_key(self.checkpoint)
        if key == self._model_key and self.model_state in ("loading", "failed"):
            return  # under way, or failed for this very file
        self._model_key = key
        if key in MODELS:
            self.model_state = "ready"
            return
        self.model_state, self.model_error = "loading", ""
        self.canvas.statusMessage.emit(f"Smart polygon: loading model {self.checkpoint.parent.name}… "
                                       "(GrabCut until it is ready)")
        self._loader.start(LoadJob(self._relay, key, self.canvas.store.path, self.checkpoint))

    def _on_loaded(self, key: tuple, found: object) -> None:
        if isinstance(found, str):
            if key == self._model_key:
                self.model_state, self.model_error = "failed", found
                self.canvas.statusMessage.emit(f"Smart polygon: the model cannot be used ({found}); "
                                               "using GrabCut")
            return
        MODELS[key] = found
        if key != self._model_key:
            return  # another checkpoint was chosen meanwhile
        self.model_state = "ready"
        self.canvas.statusMessage.emit(f"Smart polygon: model {found.run} ready")
        if self.box is not None and not self._order:
            self.segment()  # the GrabCut outline of the box is redone by the model

    def cancel(self) -> None:
        """Forget the box, strokes and outline."""
        self.box, self.picked, self._drag, self._mask = None, None, None, None
        self._generation += 1  # a segmentation still running is dropped
        self.busy = False
        self.polygons, self.fg_strokes, self.bg_strokes, self._order = [], [], [], []
        self._redraw()

    def start_box(self, x: float, y: float, w: float, h: float, picked: Annotation | None = None) -> None:
        """Segment the object in box ``(x, y, w, h)`` (pixels), in the background."""
        self.cancel()
        self.box = QRectF(x, y, w, h)
        self.picked = picked
        self._redraw()
        self.segment()

    def add_stroke(self, points: list[tuple[float, float]], foreground: bool = True) -> None:
        """Add a refinement stroke (pixels) and recompute (in the background)."""
        (self.fg_strokes if foreground else self.bg_strokes).append(list(points))
        self._order.append(foreground)
        self.segment()

    def segment(self, wait: bool = False) -> None:
        """(Re)compute the outline from the box and the strokes, in a worker thread
        (GrabCut takes 1–10 s on a large object here); :attr:`polygonChanged` tells when
        it is there. A newer request supersedes one still running. ``wait``: block until
        done (scripts)."""
        image = self._image_array()
        if self.box is None or image is None:
            return
        b = self.box
        self._generation += 1
        model = self._model()
        job = SegmentJob(self._relay, self._generation, image, (b.x(), b.y(), b.width(), b.height()),
                         model, self._stroke_mask(self.fg_strokes, image.shape),
                         self._stroke_mask(self.bg_strokes, image.shape), self.tolerance,
                         cache_key=None if model is None else (self._model_key, str(self.canvas.store.path),
                                                               self.canvas.image.id))
        self.busy = True
        self.canvas.statusMessage.emit("Smart polygon: segmenting…")
        self.canvas.viewport().setCursor(Qt.CursorShape.BusyCursor)
        self._pool.start(job)
        if wait:
            self._pool.waitForDone()
            QCoreApplication.processEvents()

    def shutdown(self) -> None:
        """Drop queued segmentations and wait for the running one and a model load."""
        self._generation += 1
        self._pool.clear()
        self._pool.waitForDone(30_000)
        self._loader.waitForDone(60_000)

    def _on_segmented(self, generation: int, found: object) -> None:
        if generation != self._generation or self.box is None:
            return  # superseded, or cancelled meanwhile
        self.busy = False
        self.canvas.viewport().setCursor(Qt.CursorShape.CrossCursor if self.active else Qt.CursorShape.ArrowCursor)
        if isinstance(found, str):
            self.canvas.statusMessage.emit(f"Smart polygon: {found}")
            self._mask, self.method = None, ""
            self._set_polygons([])
            return
        seconds, result = found
        self.seconds = seconds
        self._mask, self.method = result.mask, result.method
        self._set_polygons(result.polygons)

    def _set_polygons(self, polys: list[list[float]]) -> None:
        self.polygons = [list(map(float, p)) for p in polys if len(p) >= 6]
        n = sum(len(p) // 2 for p in self.polygons)
        by = "the project's model" if self.method == "model" else "GrabCut" + self._why_grabcut()
        self.canvas.statusMessage.emit(
            f"Smart polygon ({by}): {plural(n, 'point')} in {self.seconds * 1000:.0f} ms — paint strokes to "
            "refine (left: object, Shift/right: background), Enter keeps it, Esc cancels" if n else
            "Smart polygon: no object found in the box — paint object strokes (left drag)")
        self._redraw()
        self.polygonChanged.emit(n)

    def _stroke_mask(self, strokes: list[list[tuple[float, float]]], shape: tuple[int, ...]) -> np.ndarray | None:
        """The strokes painted as an [H, W] uint8 mask (1 = stroke), None when none."""
        if not strokes:
            return None
        import cv2

        mask = np.zeros(shape[:2], np.uint8)
        for stroke in strokes:
            pts = np.round(np.asarray(stroke, np.float64)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(mask, [pts], False, 1, thickness=2 * STROKE_RADIUS_PX + 1)
            for x, y in pts[:, 0]:
                cv2.circle(mask, (int(x), int(y)), STROKE_RADIUS_PX, 1, -1)
        return mask

    def _model(self):
        """The loaded model of :attr:`checkpoint`, or None (not set, loading, failed)."""
        if self.checkpoint is None or self.model_state != "ready":
            return None
        model = MODELS.get(self._model_key)
        if model is None:  # pushed out of the cache by another checkpoint
            self._load_model()
        return model

    def _why_grabcut(self) -> str:
        """Why an outline came from GrabCut although a model is set ('' when none is)."""
        if self.checkpoint is None:
            return ""
        return {"loading": ": the model is still loading", "unloaded": ": the model is not loaded yet",
                "failed": ": the model cannot be used"}.get(
            self.model_state, ": refined by strokes" if self._order else ": the model found nothing in the box")

    def commit(self) -> int | None:
        """Keep the outline: a new polygon annotation (or the picked box becomes it);
        returns the annotation id, None when there is no outline."""
        if not self.polygons or self.busy:
            return None
        polys, picked = [list(p) for p in self.polygons], self.picked
        self.cancel()
        if picked is not None:
            source = picked.source
            if source.startswith("model:") and not source.endswith(":edited"):
                source += ":edited"
            new = undo.with_geometry(replace(picked, rle=None, source=source), polygons=polys)
            self.canvas.undo_stack.push(undo.ModifyAnnotationsCommand(
                self.canvas.store, [picked], [new], "Smart polygon from box"))
            self.canvas.set_selection([picked.id])
            return picked.id
        return self.canvas.add_polygons(polys)

    # ------------------------------------------------------------------ events
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Mouse and keys while active (see the module docstring)."""
        return route_overlay_event(self, obj, event, self.canvas, self.active)

    def _double_click(self, _event: QMouseEvent) -> bool:
        return True

    def _key(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.polygons:
            self.commit()
            return True
        if key == Qt.Key.Key_Escape and self.box is not None:
            self.cancel()
            return True
        if key == Qt.Key.Key_Backspace and self.box is not None:
            if self._order:
                (self.fg_strokes if self._order.pop() else self.bg_strokes).pop()
                self._redraw_strokes()
                self.segment()
            else:
                self.cancel()
            return True
        return False

    def _scene(self, event: QMouseEvent) -> QPointF:
        p = self.canvas.mapToScene(event.position().toPoint())
        im = self.canvas.image
        return QPointF(min(max(p.x(), 0.0), float(im.width)), min(max(p.y(), 0.0), float(im.height)))

    def _press(self, event: QMouseEvent) -> bool:
        button, mods = event.button(), event.modifiers()
        if button == Qt.MouseButton.MiddleButton or getattr(self.canvas, "_space", False):
            return False  # pan
        p = self._scene(event)
        if self.box is None:
            if button != Qt.MouseButton.LeftButton:
                return False
            self._drag = ("box", [(p.x(), p.y())], p)
            return True
        bg = button == Qt.MouseButton.RightButton or bool(mods & Qt.KeyboardModifier.ShiftModifier)
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        self._drag = ("bg" if bg else "fg", [(p.x(), p.y())], p)
        return True

    def _move(self, event: QMouseEvent) -> bool:
        if self._drag is None:
            return False
        kind, points, start = self._drag
        p = self._scene(event)
        if kind == "box":
            path = QPainterPath()
            path.addRect(QRectF(start, p).normalized())
            self._box_item.setPath(path)
            self._box_item.show()
        else:
            points.append((p.x(), p.y()))
            self._redraw_strokes(extra=(kind, points))
        return True

    def _release(self, event: QMouseEvent) -> bool:
        if self._drag is None:
            return False
        kind, points, start = self._drag
        self._drag = None
        p = self._scene(event)
        if kind == "box":
            rect = QRectF(start, p).normalized()
            if rect.width() >= MIN_BOX_PX and rect.height() >= MIN_BOX_PX:
                self.start_box(rect.x(), rect.y(), rect.width(), rect.height())
            else:
                self._pick_box(start)
            return True
        points.append((p.x(), p.y()))
        self.add_stroke(points, foreground=kind == "fg")
        return True

    def _pick_box(self, p: QPointF) -> None:
        item = self.canvas.shape_at(p)
        if item is None or item.kind != "box":
            self._redraw()
            self.canvas.statusMessage.emit("Smart polygon: drag a box around an object, or click a box")
            return
        x, y, w, h = item.ann.bbox
        self.start_box(x, y, w, h, picked=item.ann)

    # ------------------------------------------------------------------ drawing
    def _image_array(self) -> np.ndarray | None:
        image = self.canvas.image
        if image is None:
            return None
        if self._image_cache is None or self._image_cache[0] != image.id:
            arr = self.canvas.cache.get(self.canvas.store.resolve(image)).display
            if arr.ndim == 2:
                arr = np.repeat(arr[:, :, None], 3, axis=2)
            self._image_cache = (image.id, np.ascontiguousarray(arr[:, :, :3]))
        return self._image_cache[1]

    def _redraw(self) -> None:
        if self.box is None:
            self._box_item.hide()
        else:
            path = QPainterPath()
            path.addRect(self.box)
            self._box_item.setPath(path)
            self._box_item.show()
        path = QPainterPath()
        for poly in self.polygons:
            pts = [QPointF(poly[i], poly[i + 1]) for i in range(0, len(poly) - 1, 2)]
            path.moveTo(pts[0])
            for q in pts[1:]:
                path.lineTo(q)
            path.closeSubpath()
        self._result_item.setPath(path)
        self._result_item.setVisible(bool(self.polygons))
        self._redraw_strokes()

    def _redraw_strokes(self, extra: tuple[str, list] | None = None) -> None:
        for item, strokes, kind in ((self._fg_item, self.fg_strokes, "fg"), (self._bg_item, self.bg_strokes, "bg")):
            all_strokes = strokes + ([extra[1]] if extra is not None and extra[0] == kind else [])
            path = QPainterPath()
            for stroke in all_strokes:
                path.moveTo(QPointF(*stroke[0]))
                for q in stroke[1:]:
                    path.lineTo(QPointF(*q))
                if len(stroke) == 1:
                    path.lineTo(QPointF(stroke[0][0] + 0.1, stroke[0][1]))
            item.setPath(path)
            item.setVisible(bool(all_strokes))
