"""The image viewer of the Evaluation view: one image with the model's predictions over it.

Scene coordinates are image pixels (COCO convention: origin top-left, x right, y down).
Predictions: solid boxes in the category colour with a "category score" tag, instance
masks as one translucent colour layer, semantic label maps as a translucent colour
layer. Ground truth (toggle): dashed boxes / polygon outlines with a "GT category" tag
below the box, semantic ground truth as class-coloured boundaries. Hovering a prediction
shows its outcome and the IoU of its match. Labels ignore the view's zoom so they stay
legible.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsRectItem,
                               QGraphicsScene, QGraphicsView, QMenu, QWidget)

from vision_studio.gui.widgets.canvas_items import label_pixmap

MASK_ALPHA = 110


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
    """HxWx3 uint8 RGB or HxWx4 RGBA → QPixmap (copied)."""
    arr = np.ascontiguousarray(arr)
    h, w = arr.shape[:2]
    fmt = QImage.Format.Format_RGBA8888 if arr.shape[2] == 4 else QImage.Format.Format_RGB888
    return QPixmap.fromImage(QImage(arr.data, w, h, arr.strides[0], fmt).copy())


def _rgb(color: str) -> tuple[int, int, int]:
    c = QColor(color)
    return c.red(), c.green(), c.blue()


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

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QBrush(QColor(40, 40, 40)))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.image_item = QGraphicsPixmapItem()
        self.image_item.setZValue(-10)
        self.scene().addItem(self.image_item)
        self.mask_layer = QGraphicsPixmapItem()
        self.mask_layer.setZValue(-5)
        self.gt_layer = QGraphicsPixmapItem()
        self.gt_layer.setZValue(-4)
        for it in (self.mask_layer, self.gt_layer):
            self.scene().addItem(it)
        self.pred_items: dict[int, QGraphicsRectItem] = {}
        self.gt_items: list[QGraphicsItem] = []
        self.caption = QGraphicsPixmapItem()
        self.caption.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.caption.setZValue(20)
        self.scene().addItem(self.caption)
        self.image_id: int | None = None
        self.size_hw = (0, 0)
        self._mask_cache: dict[int, np.ndarray] = {}
        self.gt_visible = True
        self.highlighted: int | None = None

    # ------------------------------------------------------------------ image
    def show_image(self, arr: np.ndarray | None, image_id: int, size_hw: tuple[int, int] | None = None) -> None:
        """Show an HxWx3 uint8 RGB image; clears every overlay. With ``arr`` ``None``
        the image's place (``size_hw`` pixels) is shown dark until :meth:`set_pixels`
        brings the decoded image (overlays can be drawn meanwhile)."""
        if image_id != self.image_id:
            self._mask_cache.clear()
        self.image_id = image_id
        self.size_hw = tuple(arr.shape[:2]) if arr is not None else tuple(size_hw or (1, 1))
        h, w = self.size_hw
        if arr is not None:
            self.image_item.setPixmap(to_pixmap(arr))
        else:
            dark = QPixmap(max(w, 1), max(h, 1))
            dark.fill(QColor(40, 40, 40))  # the background: the image is not there yet
            self.image_item.setPixmap(dark)
        self.set_detections([])
        self.set_truth([])
        self.mask_layer.setPixmap(QPixmap())
        self.gt_layer.setPixmap(QPixmap())
        self.caption.setPixmap(QPixmap())
        self.scene().setSceneRect(QRectF(0, 0, w, h))
        self.fit()

    def set_pixels(self, arr: np.ndarray, image_id: int) -> bool:
        """Put the decoded image under the overlays of ``image_id`` (ignored, False, when
        the viewer shows another image by now)."""
        if image_id != self.image_id:
            return False
        if tuple(arr.shape[:2]) != tuple(self.size_hw):
            self.size_hw = tuple(arr.shape[:2])
            self.scene().setSceneRect(QRectF(0, 0, arr.shape[1], arr.shape[0]))
            self.fit()
        self.image_item.setPixmap(to_pixmap(arr))
        return True

    def fit(self) -> None:
        """Fit the image in the view."""
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.fit()

    def set_caption(self, text: str, color: str = "#202020") -> None:
        """A tag at the top-left corner (classification: true and predicted class)."""
        self.caption.setPixmap(label_pixmap(text, QColor(color)) if text else QPixmap())
        self.caption.setPos(0, 0)

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
            tag.setOffset(0, -label_pixmap(tag.text, QColor(d.color)).height())
            self.scene().addItem(item)
            self.pred_items[d.raw_index] = item
        self._draw_masks(dets)

    def _draw_masks(self, dets: Sequence[DrawnDetection]) -> None:
        with_masks = [d for d in dets if d.mask is not None]
        if not with_masks:
            self.mask_layer.setPixmap(QPixmap())
            return
        from pycocotools import mask as mask_utils

        h, w = self.size_hw
        rgba = np.zeros((h, w, 4), np.uint8)
        for d in sorted(with_masks, key=lambda d: d.score):  # best on top
            m = self._mask_cache.get(d.raw_index)
            if m is None:
                rle = {"size": d.mask["size"], "counts": d.mask["counts"].encode("ascii")
                       if isinstance(d.mask["counts"], str) else d.mask["counts"]}
                m = mask_utils.decode(rle).astype(bool)
                self._mask_cache[d.raw_index] = m
            if m.shape != (h, w):
                continue
            rgba[m] = (*_rgb(d.color), MASK_ALPHA)
        self.mask_layer.setPixmap(to_pixmap(rgba))

    def set_highlight(self, raw_index: int | None) -> None:
        """Draw one prediction thicker and centre the view on it."""
        self.highlighted = raw_index
        for k, it in self.pred_items.items():
            pen = it.pen()
            pen.setWidthF(3.5 if k == raw_index else 1.6)
            it.setPen(pen)
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
        the true one as class-coloured boundaries (void pixels transparent)."""
        lut = np.zeros((256, 4), np.uint8)
        for k, c in enumerate(colors):
            lut[k] = (*_rgb(c), MASK_ALPHA)
        self.mask_layer.setPixmap(to_pixmap(lut[pred]) if pred is not None else QPixmap())
        if gt is None:
            self.gt_layer.setPixmap(QPixmap())
            return
        edge = np.zeros(gt.shape, bool)
        edge[:-1] |= gt[:-1] != gt[1:]
        edge[:, :-1] |= gt[:, :-1] != gt[:, 1:]
        edge &= gt != ignore
        out = np.zeros((*gt.shape, 4), np.uint8)
        solid = lut.copy()
        solid[:, 3] = 255
        out[edge] = solid[gt[edge]]
        self.gt_layer.setPixmap(to_pixmap(out))
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
