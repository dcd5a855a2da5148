"""The map of the images: a pyqtgraph scatter of the 2-D embedding of their backbone
features, coloured by label, split or label quality; click or lasso selects images,
which are listed and can be opened in Annotate; hovering a point shows its file name.

Mouse: left-drag draws a lasso (with "Lasso" on; else it pans), wheel zooms, a click on
a point selects it (Ctrl adds), right-click offers pyqtgraph's view menu.
"""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QSplitter, QVBoxLayout, QWidget)

from vision_studio.core.wording import plural
from vision_studio.gui.panels.health.issues_model import ProjectNow

COLOUR_MODES = ("label", "split", "label quality")
SPLIT_COLOURS = {"train": "#4e79a7", "val": "#f28e2b", "test": "#59a14f"}
NONE_COLOUR = "#9a9a9a"
QUALITY_MAP = pg.ColorMap([0.0, 0.5, 1.0], [QColor("#d62728"), QColor("#f2c94c"),
                                            QColor("#2ca02c")])
"""Label quality 0 (red: likely mislabelled) … 1 (green: the label agrees)."""


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which points lie inside a polygon (even-odd rule, ray casting).

    Args:
        xy: [N, 2] float points.
        polygon: [M, 2] float vertices (closed implicitly), M >= 3.

    Returns:
        [N] bool.
    """
    xy, poly = np.asarray(xy, np.float64), np.asarray(polygon, np.float64)
    inside = np.zeros(len(xy), bool)
    if len(poly) < 3 or len(xy) == 0:
        return inside
    x, y = xy[:, 0], xy[:, 1]
    for (px, py), (qx, qy) in zip(poly, np.roll(poly, -1, axis=0)):
        if py == qy:
            continue
        crosses = (py > y) != (qy > y)
        x_at = px + (qx - px) * (y - py) / (qy - py)
        inside ^= crosses & (x < x_at)
    return inside


class LassoViewBox(pg.ViewBox):
    """A ViewBox whose left-drag draws a lasso (when :attr:`lasso` is on).

    Signals:
        lassoFinished(object): [M, 2] float64 vertices in data coordinates.
    """

    lassoFinished = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.lasso = True
        self._path: list[tuple[float, float]] = []
        self._curve = pg.PlotCurveItem(pen=pg.mkPen("#ffffff", width=1.5,
                                                    style=Qt.PenStyle.DashLine))
        self.addItem(self._curve, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph override
        """Lasso with the left button; anything else as pyqtgraph does."""
        if not self.lasso or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self._path = [self._view(ev.buttonDownPos())]
        self._path.append(self._view(ev.pos()))
        pts = np.array(self._path + self._path[:1])
        self._curve.setData(pts[:, 0], pts[:, 1])
        if ev.isFinish():
            self._curve.setData([], [])
            path, self._path = np.array(self._path), []
            self.lassoFinished.emit(path)

    def _view(self, pos) -> tuple[float, float]:
        p = self.mapToView(pos)
        return float(p.x()), float(p.y())


class MapView(QWidget):
    """The scatter, its colour choice and the list of selected images.

    Signals:
        openInAnnotate(int): show this image id in Annotate.

    Attributes:
        scatter: The :class:`pg.ScatterPlotItem` (one spot per image; spot data = row).
        selected: Rows of the selected images.
        image_ids: [N] int64 image id per row.
    """

    openInAnnotate = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image_ids = np.zeros(0, np.int64)
        self.paths: list[str] = []
        self.splits: list[str] = []
        self.xy = np.zeros((0, 2), np.float32)
        self.quality = np.zeros(0)
        self.selected: list[int] = []
        self._now: ProjectNow | None = None
        self._colours: dict[int, str] = {}
        self._build()

    def _build(self) -> None:
        self.colour_by = QComboBox(self)
        self.colour_by.addItems(COLOUR_MODES)
        self.colour_by.currentIndexChanged.connect(lambda _i: self.recolour())
        self.lasso = QCheckBox("Lasso", self)
        self.lasso.setChecked(True)
        self.lasso.setToolTip("On: drag to draw a lasso around images. Off: drag pans.")
        self.info = QLabel("", self)
        self.legend = QLabel("", self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.view = LassoViewBox()
        self.plot = pg.PlotWidget(self, viewBox=self.view)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.scatter = pg.ScatterPlotItem(size=9, pen=pg.mkPen("#202020", width=0.5),
                                          hoverable=True, hoverSize=13,
                                          tip=lambda x, y, data: self._tip(data))
        self.highlight = pg.ScatterPlotItem(size=15, pen=pg.mkPen("#00e5ff", width=2),
                                            brush=None)
        self.plot.addItem(self.scatter)
        self.plot.addItem(self.highlight)
        self.scatter.sigClicked.connect(self._clicked)
        self.view.lassoFinished.connect(self.select_polygon)
        self.lasso.toggled.connect(lambda on: setattr(self.view, "lasso", on))
        self.chosen = QListWidget(self)
        self.chosen.itemDoubleClicked.connect(self._open_item)
        self.open_button = QPushButton("Open in Annotate", self)
        self.open_button.clicked.connect(self.open_current)
        side = QWidget(self)
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        self.chosen_title = QLabel("Selected: none — click a point or draw a lasso", side)
        self.chosen_title.setWordWrap(True)
        sl.addWidget(self.chosen_title)
        sl.addWidget(self.chosen, 1)
        sl.addWidget(self.open_button)
        split = QSplitter(self)
        split.addWidget(self.plot)
        split.addWidget(side)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([1000, 260])  # the map gets the room; the list is for names
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Colour by:", self))
        bar.addWidget(self.colour_by)
        bar.addWidget(self.lasso)
        bar.addWidget(self.legend, 1)
        bar.addWidget(self.info)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(split, 1)

    # ------------------------------------------------------------------ data
    def set_points(self, xy: np.ndarray, image_ids: np.ndarray, paths: Sequence[str],
                   splits: Sequence[str], quality: np.ndarray, method: str,
                   now: ProjectNow, colours: dict[int, str]) -> None:
        """Show a new map: ``xy`` [N, 2] per image, ``quality`` [N] (``nan`` = none),
        ``colours`` ``{category_id: "#rrggbb"}``."""
        self.xy, self.image_ids = np.asarray(xy, np.float64), np.asarray(image_ids, np.int64)
        self.paths, self.splits, self.quality = list(paths), list(splits), np.asarray(quality)
        self._colours = dict(colours)
        self.info.setText(f"{plural(len(self.image_ids), 'image')} · {method.upper()}")
        self.selected = []
        if not now.tags and self.colour_by.currentText() == "label":
            self.colour_by.setCurrentText("split")  # no labels (detection): splits say more
        self.refresh(now)
        self.view.autoRange()

    def refresh(self, now: ProjectNow) -> None:
        """Re-read labels/splits (after an edit): recolour, hide removed images."""
        self._now = now
        self.selected = [r for r in self.selected if int(self.image_ids[r]) in now.images]
        self.recolour()

    def visible_rows(self) -> np.ndarray:
        """Rows whose image is still in the project."""
        if self._now is None:
            return np.arange(len(self.image_ids))
        return np.array([r for r, i in enumerate(self.image_ids) if int(i) in self._now.images],
                        np.int64)

    def _brushes(self, rows: np.ndarray) -> tuple[list, str]:
        mode, now = self.colour_by.currentText(), self._now
        if mode == "label quality":
            q = self.quality[rows] if len(self.quality) else np.full(len(rows), np.nan)
            brushes = [pg.mkBrush(NONE_COLOUR) if np.isnan(v) else pg.mkBrush(QUALITY_MAP.map(float(v)))
                       for v in q]
            return brushes, _swatch("#d62728", "likely wrong") + _swatch("#2ca02c", "agrees") \
                + _swatch(NONE_COLOUR, "no label")
        keys = []
        for r in rows:
            iid = int(self.image_ids[r])
            if mode == "split":
                split = now.images[iid].split if now and iid in now.images else self.splits[r]
                keys.append(split)
            else:
                tags = now.tags.get(iid, ()) if now else ()
                keys.append(min(tags) if tags else None)
        if mode == "split":
            colour = {k: SPLIT_COLOURS.get(k, NONE_COLOUR) for k in set(keys)}
            names = {k: k or "no split" for k in colour}
        else:
            colour = {k: self._colours.get(k, NONE_COLOUR) if k is not None else NONE_COLOUR
                      for k in set(keys)}
            names = {k: (now.names.get(k, "?") if now and k is not None else "no label")
                     for k in colour}
        legend = "".join(_swatch(colour[k], names[k]) for k in sorted(colour, key=str))
        return [pg.mkBrush(colour[k]) for k in keys], legend

    def recolour(self) -> None:
        """Draw the points with the chosen colouring."""
        rows = self.visible_rows()
        brushes, legend = self._brushes(rows)
        self.scatter.setData(x=self.xy[rows, 0] if len(rows) else [],
                             y=self.xy[rows, 1] if len(rows) else [],
                             data=list(rows), brush=brushes)
        self.legend.setText(legend)
        self._show_selection()

    def point_count(self) -> int:
        """Points drawn."""
        return len(self.scatter.data)

    # ------------------------------------------------------------------ selection
    def _tip(self, row: object) -> str:
        r = int(row)  # type: ignore[arg-type]
        return f"{self.paths[r]}\n{self.splits[r] or 'no split'}" if 0 <= r < len(self.paths) else ""

    def _clicked(self, _item: object, points: Sequence, ev: object) -> None:
        rows = [int(p.data()) for p in points]
        add = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)  # type: ignore[attr-defined]
        self.select_rows((self.selected + rows) if add else rows[:1])

    def select_polygon(self, polygon: np.ndarray) -> None:
        """Select the visible images inside ``polygon`` ([M, 2] data coordinates)."""
        rows = self.visible_rows()
        inside = points_in_polygon(self.xy[rows], polygon) if len(rows) else np.zeros(0, bool)
        self.select_rows(rows[inside].tolist())

    def select_rows(self, rows: Sequence[int]) -> None:
        """Select these rows (duplicates dropped, order kept) and list them."""
        self.selected = list(dict.fromkeys(int(r) for r in rows))
        self._show_selection()

    def _show_selection(self) -> None:
        sel = self.selected
        self.highlight.setData(x=self.xy[sel, 0] if sel else [], y=self.xy[sel, 1] if sel else [])
        self.chosen.clear()
        for r in sel:
            item = QListWidgetItem(self.paths[r])
            item.setData(Qt.ItemDataRole.UserRole, int(self.image_ids[r]))
            item.setToolTip(self.paths[r])
            self.chosen.addItem(item)
        if sel:
            self.chosen.setCurrentRow(0)
        self.chosen_title.setText(f"Selected: {len(sel)} image(s)" if sel else
                                  "Selected: none — click a point or draw a lasso")
        self.open_button.setEnabled(bool(sel))

    def _open_item(self, item: QListWidgetItem) -> None:
        self.openInAnnotate.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def open_current(self) -> None:
        """Open the current image of the selection list in Annotate."""
        item = self.chosen.currentItem()
        if item is not None:
            self._open_item(item)


def _swatch(colour: str, text: str) -> str:
    """A coloured square and its (escaped) name, for the legend's rich text."""
    return f"<span style='color:{html.escape(colour)}'>&#9632;</span>&nbsp;{html.escape(text)}&nbsp;&nbsp; "
