"""The image viewer of the Evaluation view: one image with the model's predictions over it.

Scene coordinates are full-resolution image pixels (COCO convention: origin top-left, x
right, y down), whatever resolution the image is shown at: a large image is shown from
its reduced decode or pyramid overview stretched over the full-resolution rectangle, and
full-resolution tiles of the visible region (:class:`~vision_studio.gui.widgets.
detail_tiles.DetailTiles`) replace it when the user zooms in (wheel; "Fit" returns);
raster overlays are reduced alike (:mod:`.big_view`).
Predictions: solid boxes in the category colour with a "category score" tag, instance
masks as one translucent colour layer, semantic label maps as a translucent colour
layer. Ground truth (toggle): dashed boxes / polygon outlines with a "GT category" tag
below the box, semantic ground truth as class-coloured boundaries. Hovering a prediction
shows its outcome and the IoU of its match. Labels ignore the view's zoom so they stay
legible. The viewer's own tool bar (above the image) holds the zoom controls and the
class-activation heatmap toggle (:mod:`.cam_overlay`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsRectItem,
                               QGraphicsScene, QGraphicsView, QHBoxLayout, QLabel, QMenu, QToolButton, QWidget)

from vision_studio.gui.panels.evaluate.big_view import MAX_ZOOM, place_raster, raster_step, reduce_raster
from vision_studio.gui.panels.evaluate.cam_overlay import CamOverlay
from vision_studio.gui.qimage import array_to_qimage
from vision_studio.gui.widgets.canvas_items import label_pixmap
from vision_studio.gui.widgets.detail_tiles import DetailTiles

MASK_ALPHA = 110
MIN_TAG_BOX = 24
"""Boxes narrower than this many screen pixels have their tag hidden (the highlighted
one excepted): zoomed out on a large image with thousands of objects, tags would bury
it. Zooming in brings them back."""


@dataclass(frozen=True)
class DrawnDetection:
    """A prediction to draw: raw index, xyxy box (pixels), category, colour, score,
    optional RLE mask and the hover text."""

    raw_index: int
    box: tuple[float, float, float, float]
    name: str
    color: str
    score: float
    mask: dict | None = None
    tooltip: str = ""


@dataclass(frozen=True)
class DrawnTruth:
    """A ground-truth object to draw: bbox [x, y, w, h], polygons, category, colour."""

    ann_id: int
    bbox: tuple[float, float, float, float]
    polygons: tuple = ()
    name: str = ""
    color: str = "#ffffff"


def to_pixmap(arr: np.ndarray) -> QPixmap:
    """HxW grey, HxWx3 uint8 RGB or HxWx4 RGBA → QPixmap (copied)."""
    return QPixmap.fromImage(array_to_qimage(arr))


def _rgb(color: str) -> tuple[int, int, int]:
    c = QColor(color)
    return c.red(), c.green(), c.blue()


def _set_offset(tag: QGraphicsPixmapItem, dy: float) -> None:
    """Move a tag vertically (only when it changes: thousands of tags on a zoom)."""
    if tag.offset().y() != dy:
        tag.setOffset(0, dy)


class _Label(QGraphicsPixmapItem):
    def __init__(self, text: str, color: str, parent: QGraphicsItem) -> None:
        super().__init__(label_pixmap(text, QColor(color)), parent)
        self.text = text
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)


class OverlayViewer(QGraphicsView):
    """Shows one image with prediction and ground-truth layers.

    Signals:
        acceptRequested(int): accept this raw detection as an annotation (context menu).
        acceptAllRequested(): accept every shown prediction of the image (context menu).

    Attributes:
        pred_items: ``{raw_index: QGraphicsRectItem}`` of the shown predictions.
        gt_items: The ground-truth items.
        mask_layer / gt_layer: The mask (predictions) and ground-truth raster layers.
    """

    acceptRequested = Signal(int)
    acceptAllRequested = Signal()
    pixelsShown = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QBrush(QColor(40, 40, 40)))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.image_item = QGraphicsPixmapItem()
        self.image_item.setZValue(-10)
        self.image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.image_item)
        self.tiles = DetailTiles(self.scene(), -9.0)  # large images: full-resolution tiles when zoomed in
        self.tiles.watch(self)
        self.heat_layer = QGraphicsPixmapItem()  # the class-activation heatmap (cam_overlay)
        self.heat_layer.setZValue(-6)
        self.mask_layer = QGraphicsPixmapItem()
        self.mask_layer.setZValue(-5)
        self.gt_layer = QGraphicsPixmapItem()
        self.gt_layer.setZValue(-4)
        for it in (self.heat_layer, self.mask_layer, self.gt_layer):
            self.scene().addItem(it)
        self.pred_items: dict[int, QGraphicsRectItem] = {}
        self.gt_items: list[QGraphicsItem] = []
        self.caption = QGraphicsPixmapItem()
        self.caption.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.caption.setZValue(20)
        self.scene().addItem(self.caption)
        self.image_id: int | None = None
        self.size_hw = (0, 0)
        self.pixels: np.ndarray | None = None
        self.pixels_path = ""
        self._mask_cache: dict[int, np.ndarray] = {}
        self.gt_visible = True
        self.highlighted: int | None = None
        self._fitted = True
        self._build_bar()
        self.cam = CamOverlay(self)

    def _build_bar(self) -> None:
        """The viewer's tool bar, in a strip above the image (viewport margin)."""
        self.bar = QWidget(self)
        self.bar_layout = QHBoxLayout(self.bar)
        self.bar_layout.setContentsMargins(4, 1, 4, 1)
        self.fit_btn = QToolButton(self.bar)
        self.fit_btn.setText("Fit")
        self.fit_btn.setToolTip("Show the whole image (the mouse wheel zooms).")
        self.fit_btn.clicked.connect(self.fit)
        self.zoom_label = QLabel(self.bar)
        self.zoom_label.setToolTip("Screen pixels per full-resolution image pixel.")
        self.zoom_label.setMinimumWidth(self.zoom_label.fontMetrics().horizontalAdvance("1600 %"))
        self.bar_layout.addWidget(self.fit_btn)
        self.bar_layout.addWidget(self.zoom_label)
        self.setViewportMargins(0, self.bar.sizeHint().height(), 0, 0)

    def add_tool(self, widget: QWidget, stretch: int = 0) -> None:
        """Add a control to the viewer's tool bar (right of the zoom controls; the
        last one given a ``stretch`` takes the free width)."""
        widget.setParent(self.bar)
        self.bar_layout.addWidget(widget, stretch)
        self.setViewportMargins(0, self.bar.sizeHint().height(), 0, 0)

    # ------------------------------------------------------------------ image
    def show_image(self, arr: np.ndarray | None, image_id: int, size_hw: tuple[int, int] | None = None) -> None:
        """Show a new image; clears every overlay. ``arr`` (HxWx3 uint8 RGB at full
        resolution) is shown at once; with ``None`` the image's place (``size_hw``
        full-resolution pixels) is shown dark until :meth:`set_pixels` brings the
        decoded image (overlays can be drawn meanwhile)."""
        if image_id != self.image_id:
            self._mask_cache.clear()
        self.image_id = image_id
        self.size_hw = tuple(arr.shape[:2]) if arr is not None else tuple(size_hw or (1, 1))
        h, w = self.size_hw
        self.pixels, self.pixels_path = None, ""
        self.tiles.set_source("", w, h, 1.0)
        place_raster(self.image_item, None, self.size_hw)  # the background shows until the pixels come
        self.set_detections([])
        self.set_truth([])
        for layer in (self.mask_layer, self.gt_layer, self.heat_layer):
            place_raster(layer, None, self.size_hw)
        self.caption.setPixmap(QPixmap())
        self.scene().setSceneRect(QRectF(0, 0, w, h))
        self.fit()
        if arr is not None:
            self.set_pixels(arr, image_id)

    def set_pixels(self, arr: np.ndarray, image_id: int, *, scale: float = 1.0, path: str = "",
                   full_hw: tuple[int, int] | None = None) -> bool:
        """Put the decoded image under the overlays of ``image_id`` (ignored, False, when
        the viewer shows another image by now).

        Args:
            arr: ``h x w`` grey or ``h x w x 3`` RGB uint8 display pixels, possibly reduced.
            scale: Full-resolution pixels per pixel of ``arr`` (> 1: a reduced decode;
                full-resolution tiles of ``path`` then appear when zoomed in).
            path: The image file (for the tiles).
            full_hw: Full-resolution ``(height, width)``; default ``arr``'s size times
                ``scale``. When it differs from the shown size, the scene follows it.
        """
        if image_id != self.image_id:
            return False
        if full_hw is None:
            full_hw = (round(arr.shape[0] * scale), round(arr.shape[1] * scale)) if scale != 1.0 else arr.shape[:2]
        if tuple(full_hw) != tuple(self.size_hw):
            self.size_hw = tuple(int(v) for v in full_hw)
            self.scene().setSceneRect(QRectF(0, 0, self.size_hw[1], self.size_hw[0]))
            self.fit()
        place_raster(self.image_item, arr, self.size_hw)
        self.pixels, self.pixels_path = arr, path
        self.tiles.set_source(path, self.size_hw[1], self.size_hw[0], float(scale))
        self.tiles.schedule()
        self.pixelsShown.emit(image_id)
        return True

    def drop_layers(self) -> None:
        """Forget the full-resolution tiles and the heatmap (the evaluation they belong
        to ends; the image and the other overlays stay until replaced)."""
        self.tiles.set_source("", 1, 1, 1.0)
        self.cam.forget()

    # ------------------------------------------------------------------ zoom
    def fit(self) -> None:
        """Fit the image in the view (and keep it fitted when the view is resized)."""
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self._zoom_changed()

    def zoom_to(self, rect: QRectF) -> None:
        """Show the scene rectangle ``rect`` (full-resolution pixels) as large as fits."""
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = False
        self._zoom_changed()

    @property
    def zoom(self) -> float:
        """Screen pixels per full-resolution image pixel."""
        return float(self.transform().m11())

    def zoom_by(self, factor: float, at: QPointF | None = None) -> None:
        """Zoom by ``factor`` (between the fitted view and :data:`~.big_view.MAX_ZOOM`)
        keeping the image point under viewport position ``at`` (the mouse) in place;
        ``None``: around the view's centre.

        Qt's ``AnchorUnderMouse`` is not used: it anchors at the last mouse *move* the
        view tracked, unknown before the first wheel event (it zoomed into the image's
        top-left corner)."""
        r = self.scene().sceneRect()
        vp = self.viewport().rect()
        fit = min(vp.width() / max(r.width(), 1.0), vp.height() / max(r.height(), 1.0))
        new = min(max(self.zoom * factor, fit), max(MAX_ZOOM, fit))
        if abs(new - self.zoom) < 1e-9:
            return
        at = QPointF(vp.center()) if at is None else QPointF(at)
        anchor = self.mapToScene(at.toPoint())
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(new / self.zoom, new / self.zoom)
        moved = self.mapFromScene(anchor) - at.toPoint()  # where the anchor went, in screen pixels
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self._fitted = new <= fit * 1.0001
        self._zoom_changed()

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.25 ** steps, event.position())
        event.accept()

    def _zoom_changed(self) -> None:
        self.zoom_label.setText(f"{100 * self.zoom:.0f} %")
        self._update_tags()

    def _update_tags(self) -> None:
        """Show the tags of boxes at least :data:`MIN_TAG_BOX` screen pixels wide, each
        on the image: a prediction's tag above its box, a ground-truth tag below it, or
        just inside the box where that would leave the image (a box at the top or bottom
        edge: its tag was cut off by the viewer, the score unreadable)."""
        z = max(self.zoom, 1e-9)
        h_img = float(self.size_hw[0])
        for k, item in self.pred_items.items():
            for tag in item.childItems():
                tag.setVisible(k == self.highlighted or item.rect().width() * z >= MIN_TAG_BOX)
                th = tag.pixmap().height()
                _set_offset(tag, -th if item.rect().top() * z >= th else 0)
        for item in self.gt_items:
            for tag in item.childItems():
                tag.setVisible(item.path().boundingRect().width() * z >= MIN_TAG_BOX)
                th = tag.pixmap().height()
                _set_offset(tag, 0 if (h_img - tag.pos().y()) * z >= th else -th)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        f = self.frameWidth()
        self.bar.setGeometry(f, f, self.width() - 2 * f, self.bar.sizeHint().height())
        if self._fitted:
            self.fit()

    def set_caption(self, text: str, color: str = "#202020") -> None:
        """A tag at the top-left corner (classification: true and predicted class)."""
        self.caption.setPixmap(label_pixmap(text, QColor(color)) if text else QPixmap())
        self.caption.setPos(0, 0)

    # ------------------------------------------------------------------ heatmap
    def set_heatmap(self, rgb: np.ndarray | None, opacity: float = 0.5) -> None:
        """The class-activation heatmap (``h x w x 3`` RGB or ``h x w x 4`` RGBA uint8,
        any resolution, stretched over the full-resolution image) at ``opacity`` in [0, 1]; ``None``
        removes it."""
        place_raster(self.heat_layer, rgb, self.size_hw)
        self.heat_layer.setOpacity(opacity)
        self.heat_layer.setVisible(rgb is not None)

    # ------------------------------------------------------------------ detections
    def set_detections(self, dets: Sequence[DrawnDetection]) -> None:
        """Replace the shown predictions (boxes, tags, masks)."""
        for it in self.pred_items.values():
            self.scene().removeItem(it)
        self.pred_items = {}
        for d in dets:
            x1, y1, x2, y2 = d.box
            item = QGraphicsRectItem(QRectF(x1, y1, x2 - x1, y2 - y1))
            pen = QPen(QColor(d.color), 2.5 if d.raw_index == self.highlighted else 1.6)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(5)
            item.setToolTip(d.tooltip)
            item.setData(0, d.raw_index)
            tag = _Label(f"{d.name} {d.score:.2f}", d.color, item)
            tag.setPos(x1, y1)
            tag.setOffset(0, -tag.pixmap().height())
            self.scene().addItem(item)
            self.pred_items[d.raw_index] = item
        self._draw_masks(dets)
        self._update_tags()

    def _draw_masks(self, dets: Sequence[DrawnDetection]) -> None:
        """One translucent layer of the masks, reduced for a large image (the masks
        are cached reduced: a full-resolution mask per detection would not fit)."""
        with_masks = [d for d in dets if d.mask is not None]
        if not with_masks:
            place_raster(self.mask_layer, None, self.size_hw)
            return
        from pycocotools import mask as mask_utils

        h, w = self.size_hw
        step = raster_step(self.size_hw)
        rgba = np.zeros((-(-h // step), -(-w // step), 4), np.uint8)
        for d in sorted(with_masks, key=lambda d: d.score):  # best on top
            if tuple(d.mask["size"]) != (h, w):
                continue
            m = self._mask_cache.get(d.raw_index)
            if m is None:
                rle = {"size": d.mask["size"], "counts": d.mask["counts"].encode("ascii")
                       if isinstance(d.mask["counts"], str) else d.mask["counts"]}
                m = reduce_raster(mask_utils.decode(rle).astype(bool), step)
                self._mask_cache[d.raw_index] = m
            if m.shape == rgba.shape[:2]:
                rgba[m] = (*_rgb(d.color), MASK_ALPHA)
        place_raster(self.mask_layer, rgba, self.size_hw)

    def set_highlight(self, raw_index: int | None) -> None:
        """Draw one prediction thicker and centre the view on it."""
        self.highlighted = raw_index
        for k, it in self.pred_items.items():
            pen = it.pen()
            pen.setWidthF(3.5 if k == raw_index else 1.6)
            it.setPen(pen)
        self._update_tags()
        if raw_index in self.pred_items:
            self.ensureVisible(self.pred_items[raw_index])

    # ------------------------------------------------------------------ ground truth
    def set_truth(self, truths: Sequence[DrawnTruth]) -> None:
        """Replace the ground-truth outlines (dashed, tag under the box)."""
        for it in self.gt_items:
            self.scene().removeItem(it)
        self.gt_items = []
        for t in truths:
            path = QPainterPath()
            if t.polygons:
                for p in t.polygons:
                    pts = [QPointF(p[i], p[i + 1]) for i in range(0, len(p) - 1, 2)]
                    path.addPolygon(QPolygonF(pts + pts[:1]))
            else:
                x, y, bw, bh = t.bbox
                path.addRect(QRectF(x, y, bw, bh))
            item = QGraphicsPathItem(path)
            pen = QPen(QColor(t.color), 2.0, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(4)
            item.setToolTip(f"ground truth: {t.name} (annotation {t.ann_id})")
            tag = _Label(f"GT {t.name}", t.color, item)
            tag.setPos(t.bbox[0], t.bbox[1] + t.bbox[3])
            self.scene().addItem(item)
            item.setVisible(self.gt_visible)
            self.gt_items.append(item)
        self._update_tags()

    def set_gt_visible(self, visible: bool) -> None:
        """Show or hide every ground-truth layer."""
        self.gt_visible = visible
        for it in self.gt_items:
            it.setVisible(visible)
        self.gt_layer.setVisible(visible)

    # ------------------------------------------------------------------ semantic
    def set_label_maps(self, pred: np.ndarray | None, gt: np.ndarray | None,
                       colors: Sequence[str], ignore: int = 255) -> None:
        """Semantic segmentation: the predicted label map as a translucent colour layer,
        the true one as class-coloured boundaries (void pixels transparent). The maps
        (uint8 model labels, any resolution) are stretched over the full-resolution
        image; for a large image they are subsampled first (:func:`.big_view.raster_step`)."""
        lut = np.zeros((256, 4), np.uint8)
        for k, c in enumerate(colors):
            lut[k] = (*_rgb(c), MASK_ALPHA)
        step = raster_step(self.size_hw)
        place_raster(self.mask_layer, lut[reduce_raster(pred, step)] if pred is not None else None, self.size_hw)
        if gt is None:
            place_raster(self.gt_layer, None, self.size_hw)
            return
        gt = reduce_raster(gt, step)
        edge = np.zeros(gt.shape, bool)
        edge[:-1] |= gt[:-1] != gt[1:]
        edge[:, :-1] |= gt[:, :-1] != gt[:, 1:]
        edge &= gt != ignore
        out = np.zeros((*gt.shape, 4), np.uint8)
        solid = lut.copy()
        solid[:, 3] = 255
        out[edge] = solid[gt[edge]]
        place_raster(self.gt_layer, out, self.size_hw)
        self.gt_layer.setVisible(self.gt_visible)

    # ------------------------------------------------------------------ accept
    def contextMenuEvent(self, event) -> None:  # noqa: N802 - Qt override
        item = self.itemAt(event.pos())
        while item is not None and item.parentItem() is not None:
            item = item.parentItem()
        raw = item.data(0) if isinstance(item, QGraphicsRectItem) else None
        menu = QMenu(self)
        one = menu.addAction("Accept this prediction as an annotation")
        one.setEnabled(raw is not None)
        every = menu.addAction("Accept all shown predictions of this image")
        every.setEnabled(bool(self.pred_items))
        chosen = menu.exec(event.globalPos())
        if chosen is one and raw is not None:
            self.acceptRequested.emit(int(raw))
        elif chosen is every:
            self.acceptAllRequested.emit()

    def render_png(self, path: str) -> bool:
        """Save what the view shows as a PNG."""
        return self.grab().save(path)


def rows_to_truths(anns: Sequence[dict[str, Any]], names: dict[int, str],
                   colors: dict[int, str]) -> list[DrawnTruth]:
    """COCO ground-truth dicts → :class:`DrawnTruth` (polygons kept when present)."""
    out = []
    for a in anns:
        seg = a.get("segmentation")
        polys = tuple(tuple(p) for p in seg) if isinstance(seg, list) else ()
        out.append(DrawnTruth(int(a["id"]), tuple(a["bbox"]), polys, names.get(a["category_id"], "?"),
                              colors.get(a["category_id"], "#ffffff")))
    return out
