"""Per-class precision–recall curves (pyqtgraph) with the operating point marked.

Curves are COCOeval's interpolated precision at 101 recall points (area all, 100
detections) of the base evaluation (every detection above the prediction floor), at IoU
0.50, 0.75 or the mean over 0.50:0.95. The highlighted class is drawn thick, the others
thin. The operating point is the precision / recall of the highlighted class at the
current score threshold (IoU 0.50). Clicking near the highlighted curve picks the score
at which that recall is reached (``eval['scores']``) and emits it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from vision_studio.gui.widgets.wrapped_label import WrappedLabel

IOU_CHOICES = (("IoU 0.50", 0.5), ("IoU 0.75", 0.75), ("IoU 0.50:0.95 (mean)", "mean"))


class PRPlot(QWidget):
    """The PR-curve plot.

    Signals:
        thresholdPicked(float): a score threshold chosen by clicking a curve point.

    Attributes:
        plot: The ``pg.PlotWidget``.
        curves: ``{category_id: PlotDataItem}`` of the last drawing.
        marker: The operating-point ``ScatterPlotItem``.
    """

    thresholdPicked = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.iou = QComboBox(self)
        for label, v in IOU_CHOICES:
            self.iou.addItem(label, v)
        self.hint = WrappedLabel("Click a point of the highlighted curve to use its score as the threshold.", self)
        self.plot = pg.PlotWidget(self, background="w")
        for side, name in (("bottom", "recall"), ("left", "precision")):
            self.plot.setLabel(side, name, color="#202020")
            self.plot.getAxis(side).setTextPen("#202020")
            self.plot.getAxis(side).setPen("#606060")
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1.02, padding=0.02)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=False, y=False)
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextColor="#202020",
                                          brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen("#a0a0a0"))
        self.marker = pg.ScatterPlotItem(size=14, symbol="o", pen=pg.mkPen("k", width=2),
                                         brush=pg.mkBrush(255, 215, 0))
        self.plot.addItem(self.marker)
        self._curves: dict[int, Any] = {}
        self._dirty = False  # curves to redraw when the plot is next shown
        self._coco = None
        self._names: dict[int, str] = {}
        self._colors: dict[int, str] = {}
        self.highlight: int | None = None
        top = QHBoxLayout()
        top.addWidget(QLabel("Curves at", self))
        top.addWidget(self.iou)
        top.addWidget(self.hint, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)
        self.iou.currentIndexChanged.connect(lambda _i: self.redraw())
        self.plot.scene().sigMouseClicked.connect(self._clicked)

    @property
    def curves(self) -> dict[int, Any]:
        """``{category id: curve item}`` as drawn (a pending redraw is done first)."""
        if self._dirty:
            self.redraw()
        return self._curves

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        """Draw what changed while the plot was hidden."""
        super().showEvent(event)
        if self._dirty:
            self.redraw()

    def _request_redraw(self) -> None:
        """Redraw now when visible, else when shown (a hidden tab costs nothing)."""
        if self.isVisible():
            self.redraw()
        else:
            self._dirty = True

    @property
    def coco(self) -> Any:
        """The :class:`CocoEvalResult` whose curves are drawn (``None`` before any)."""
        return self._coco

    def set_result(self, coco: Any, names: dict[int, str], colors: dict[int, str]) -> None:
        """Draw the curves of a :class:`CocoEvalResult` (category id → name / colour)."""
        self._coco, self._names, self._colors = coco, names, colors
        if self.highlight not in names:
            self.highlight = next(iter(names), None)
        self._request_redraw()

    def set_highlight(self, category_id: int) -> None:
        """Draw ``category_id`` thick and the others thin."""
        if category_id != self.highlight:
            self.highlight = category_id
            self._request_redraw()

    def redraw(self) -> None:
        """Re-plot every curve of the current result."""
        self._dirty = False
        for item in self._curves.values():
            self.plot.removeItem(item)
        self.legend.clear()
        self._curves = {}
        if self._coco is None:
            return
        iou = self.iou.currentData()
        for cid in self._coco.category_ids:
            if cid not in self._names:
                continue
            r, p, _s = self._coco.pr_curve(cid, iou)
            color = QColor(self._colors.get(cid, "#1f77b4"))
            hi = cid == self.highlight
            if not hi:
                color.setAlpha(110)
            item = self.plot.plot(r, np.nan_to_num(p, nan=0.0), pen=pg.mkPen(color, width=4 if hi else 1.5),
                                  name=f"{self._names[cid]}{' (selected)' if hi else ''}")
            self._curves[cid] = item
        self.plot.setTitle(f"Precision–recall per class, {self.iou.currentText()}", color="#202020")

    def set_operating_point(self, recall: float, precision: float) -> None:
        """Mark the current threshold's (recall, precision) of the highlighted class."""
        if np.isfinite(recall) and np.isfinite(precision):
            self.marker.setData([recall], [precision])
        else:
            self.marker.setData([], [])

    def score_at_recall(self, recall: float) -> float | None:
        """The score at which the highlighted class reaches ``recall`` on its IoU-0.50
        (or the chosen IoU's) curve; ``None`` where undefined."""
        if self._coco is None or self.highlight is None:
            return None
        iou = self.iou.currentData()
        r, _p, s = self._coco.pr_curve(self.highlight, 0.5 if iou == "mean" else iou)
        k = int(np.argmin(np.abs(r - recall)))
        valid = np.flatnonzero(np.isfinite(s) & (s > 0))
        if not valid.size:
            return None
        k = int(valid[np.argmin(np.abs(valid - k))])
        return float(s[k])

    def _clicked(self, ev: Any) -> None:
        pos = self.plot.getPlotItem().vb.mapSceneToView(ev.scenePos())
        if not 0 <= pos.x() <= 1.05:
            return
        score = self.score_at_recall(float(pos.x()))
        if score is not None:
            self.thresholdPicked.emit(score)
