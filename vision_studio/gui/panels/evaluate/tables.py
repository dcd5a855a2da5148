"""Metric tables of the Evaluation view: the COCO summary with plain-language tooltips,
the sortable per-class table, and the clickable confusion matrix."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

STAT_HELP = {
    "AP": "Average precision over IoU 0.50–0.95 (COCO's main number, mAP@[.50:.95]): how well "
          "the model ranks correct, well-placed boxes above mistakes. 1 = perfect.",
    "AP50": "Average precision when a prediction counts as correct as soon as it overlaps an "
            "object by IoU ≥ 0.50 (a loose fit is enough).",
    "AP75": "Average precision when a prediction must overlap its object by IoU ≥ 0.75 "
            "(a tight fit).",
    "APs": "AP on small objects (area < 32² pixels); – when the split has none.",
    "APm": "AP on medium objects (32² to 96² pixels); – when the split has none.",
    "APl": "AP on large objects (area > 96² pixels); – when the split has none.",
    "AR1": "Average recall when only the single best prediction per image is kept.",
    "AR10": "Average recall with the 10 best predictions per image.",
    "AR100": "Average recall with the 100 best predictions per image: the share of objects "
             "found at all, averaged over IoU 0.50–0.95.",
    "ARs": "Average recall on small objects (area < 32² pixels).",
    "ARm": "Average recall on medium objects.",
    "ARl": "Average recall on large objects.",
}

COLUMN_HELP = {
    "AP": STAT_HELP["AP"], "AP50": STAT_HELP["AP50"], "AP75": STAT_HELP["AP75"],
    "GT": "Ground-truth objects of this category in the split (crowd regions excluded).",
    "TP": "True positives at the current thresholds: predictions matching an object of the "
          "same category with IoU ≥ 0.50.",
    "FP": "False positives at the current thresholds: predictions matching no object.",
    "FN": "False negatives at the current thresholds: objects no prediction found.",
    "precision": "Of the predictions of this class, the share that is right.",
    "recall": "Of the objects/images of this class, the share that was found.",
    "f1": "Harmonic mean of precision and recall.",
    "support": "Images of this class in the split.",
    "iou": "Intersection over union of predicted and true pixels of this class.",
    "dice": "Dice coefficient (F1 over pixels) of this class.",
    "accuracy": "Share of this class's pixels predicted as this class.",
    "pixels": "Labelled pixels of this class in the split.",
}


def fmt(v: Any) -> str:
    """Numbers as shown: 3 decimals, ``—`` for NaN/None, integers as they are."""
    if v is None:
        return "—"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    return "—" if math.isnan(v) else f"{v:.3f}"


EMPTY_RANGE = {"APs": "no small objects", "APm": "no medium objects", "APl": "no large objects",
               "ARs": "no small objects", "ARm": "no medium objects", "ARl": "no large objects"}
"""What a COCO -1 (nothing to average: no ground truth in that size range) means, by stat."""


def stat_text(name: str, value: Any) -> str:
    """A summary value as shown: COCO's -1 for an empty size range reads "–: no small
    objects" (and so on), everything else as :func:`fmt`."""
    if name in EMPTY_RANGE and value is not None and float(value) == -1.0:
        return f"–: {EMPTY_RANGE[name]}"
    return fmt(value)


class NumberItem(QTableWidgetItem):
    """A table cell that sorts by its number (NaN last), not by its text; ``text``
    replaces the formatted number when given."""

    def __init__(self, value: Any, text: str | None = None) -> None:
        super().__init__(fmt(value) if text is None else text)
        v = float("nan") if value is None else float(value)
        self.value = v
        self.setData(Qt.ItemDataRole.UserRole, v)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:  # noqa: D105
        a = self.value
        b = getattr(other, "value", float("nan"))
        if math.isnan(a):
            return False
        if math.isnan(b):
            return True
        return a < b


class SummaryTable(QTableWidget):
    """The 12 COCO numbers (or a task's headline metrics), one per row, with tooltips."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["metric", "value"])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.values: dict[str, float] = {}
        self.pending = False

    def set_values(self, values: dict[str, float], help_text: dict[str, str] | None = None) -> None:
        """Show ``{name: value}`` in order; tooltips from ``help_text`` (default COCO's)."""
        help_text = STAT_HELP if help_text is None else help_text
        self.values = dict(values)
        self.setRowCount(len(values))
        for r, (k, v) in enumerate(values.items()):
            name = QTableWidgetItem(k)
            val = NumberItem(v, stat_text(k, v))
            for it in (name, val):
                it.setToolTip(help_text.get(k, ""))
            self.setItem(r, 0, name)
            self.setItem(r, 1, val)
        self.set_pending(False)
        self._fit_width()

    def _fit_width(self) -> None:
        """Never narrower than its contents: the value column is not cut (a splitter
        cannot squeeze the table below this)."""
        self.resizeColumnsToContents()
        w = self.horizontalHeader().length() + 2 * self.frameWidth() + self.verticalScrollBar().sizeHint().width()
        self.setMinimumWidth(w)

    def set_pending(self, on: bool, text: str = "computing AP…") -> None:
        """Mark the values as out of date while a newer evaluation runs (grey values,
        the header says ``text``); :meth:`set_values` clears it."""
        self.pending = on
        self.setHorizontalHeaderLabels(["metric", text if on else "value"])
        grey = QBrush(QColor("#9a9a9a")) if on else QBrush()
        for r in range(self.rowCount()):
            it = self.item(r, 1)
            if it is not None:
                it.setForeground(grey)


class ClassTable(QTableWidget):
    """Per-class numbers, sortable by any column; selecting a row emits its category.

    Signals:
        classSelected(int): the row's key (category id, or class index) was selected.
    """

    classSelected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSortingEnabled(True)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.columns: list[str] = []
        self.itemSelectionChanged.connect(self._selected)

    def set_rows(self, columns: Sequence[str], rows: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Fill the table: ``rows`` are ``(key, name, {column: value})``; the selection
        (by key) and the sort order are kept."""
        keep = self.selected_key()
        self.blockSignals(True)
        self.setSortingEnabled(False)
        self.columns = list(columns)
        self.setColumnCount(1 + len(columns))
        self.setHorizontalHeaderLabels(["class"] + self.columns)
        for c, name in enumerate(self.columns):
            self.horizontalHeaderItem(c + 1).setToolTip(COLUMN_HELP.get(name, ""))
        self.setRowCount(len(rows))
        for r, (key, name, vals) in enumerate(rows):
            it = QTableWidgetItem(name)
            it.setData(Qt.ItemDataRole.UserRole, int(key))
            self.setItem(r, 0, it)
            for c, col in enumerate(self.columns):
                self.setItem(r, c + 1, NumberItem(vals.get(col)))
        self.setSortingEnabled(True)
        if keep is not None:
            self.select_key(keep)
        self.blockSignals(False)

    def update_column(self, column: str, values: dict[int, Any]) -> None:
        """Replace one column's numbers (by row key) without rebuilding the table."""
        if column not in self.columns:
            return
        c = self.columns.index(column) + 1
        sorting = self.isSortingEnabled()
        self.setSortingEnabled(False)
        for r in range(self.rowCount()):
            key = self.item(r, 0).data(Qt.ItemDataRole.UserRole)
            if key in values:
                self.setItem(r, c, NumberItem(values[key]))
        self.setSortingEnabled(sorting)

    def set_pending(self, columns: Sequence[str], text: str = "…") -> None:
        """Show ``text`` (greyed, sorting as NaN) in ``columns`` while a newer evaluation
        runs; :meth:`set_rows` / :meth:`update_column` put numbers back."""
        sorting = self.isSortingEnabled()
        self.setSortingEnabled(False)
        for column in columns:
            if column not in self.columns:
                continue
            c = self.columns.index(column) + 1
            for r in range(self.rowCount()):
                it = NumberItem(None)
                it.setText(text)
                it.setForeground(QBrush(QColor("#9a9a9a")))
                it.setToolTip("Computing in the background for the current thresholds…")
                self.setItem(r, c, it)
        self.setSortingEnabled(sorting)

    def is_pending(self, column: str) -> bool:
        """Whether ``column`` shows the "computing" placeholder."""
        if column not in self.columns or not self.rowCount():
            return False
        it = self.item(0, self.columns.index(column) + 1)
        return it is not None and it.text() != fmt(it.value)

    def value(self, key: int, column: str) -> float:
        """The number shown for row ``key`` in ``column``."""
        c = self.columns.index(column) + 1
        for r in range(self.rowCount()):
            if self.item(r, 0).data(Qt.ItemDataRole.UserRole) == key:
                return self.item(r, c).value
        raise KeyError(key)

    def selected_key(self) -> int | None:
        """Key of the selected row, or None."""
        rows = self.selectionModel().selectedRows() if self.selectionModel() else []
        return int(self.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)) if rows else None

    def select_key(self, key: int) -> None:
        """Select the row of ``key``."""
        for r in range(self.rowCount()):
            if self.item(r, 0).data(Qt.ItemDataRole.UserRole) == key:
                self.selectRow(r)
                return

    def _selected(self) -> None:
        key = self.selected_key()
        if key is not None:
            self.classSelected.emit(key)


class ConfusionTable(QTableWidget):
    """A confusion matrix as a heat-coloured table (rows true, columns predicted);
    clicking a cell emits it.

    Signals:
        cellChosen(int, int): (true row, predicted column) clicked.
    """

    cellChosen = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.matrix = np.zeros((0, 0), np.int64)
        self.cellClicked.connect(lambda r, c: self.cellChosen.emit(r, c))

    def set_matrix(self, matrix: np.ndarray, names: Sequence[str], note: str = "") -> None:
        """Show ``matrix`` [N, N]; colours scale with the share of each row."""
        self.matrix = np.asarray(matrix)
        n = self.matrix.shape[0]
        self.setRowCount(n)
        self.setColumnCount(n)
        self.setHorizontalHeaderLabels([f"pred: {s}" for s in names])
        self.setVerticalHeaderLabels([f"true: {s}" for s in names])
        rows = self.matrix.sum(1, keepdims=True).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(rows > 0, self.matrix / rows, 0.0)
        for r in range(n):
            for c in range(n):
                it = NumberItem(int(self.matrix[r, c]))
                it.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                s = float(share[r, c])
                base = QColor(46, 139, 87) if r == c else QColor(220, 60, 60)
                col = QColor(255 - int((255 - base.red()) * s), 255 - int((255 - base.green()) * s),
                             255 - int((255 - base.blue()) * s))
                it.setBackground(QBrush(col))
                it.setForeground(QBrush(QColor("white" if s > 0.55 else "black")))
                it.setToolTip(f"true {names[r]} → predicted {names[c]}: {int(self.matrix[r, c])} "
                              f"({s:.0%} of the row). Click to list the images.{note}")
                self.setItem(r, c, it)
