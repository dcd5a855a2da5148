"""The project's past runs: best metric, status; rename, annotate, delete (with files),
compare, resume, or use as the starting weights of a new run."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QMessageBox, QPlainTextEdit,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from vision_studio.core.types import RunRecord

log = logging.getLogger(__name__)

COLUMNS = ("Compare", "Name", "Status", "Best", "Epochs", "Started")
RUN_FILES = ("config.json", "metrics.jsonl", "last.pt", "best.pt")


def run_folder(store: Any, run: RunRecord) -> Path:
    """The run's folder (``out_dir`` is absolute or relative to the project root)."""
    p = Path(run.out_dir)
    return p if p.is_absolute() else Path(store.root) / p


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """The ``metrics.jsonl`` lines of a run folder (empty when none or unreadable)."""
    try:
        text = (folder / "metrics.jsonl").read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            log.warning("%s: unreadable metrics line skipped", folder)
    return out


class RunsTable(QWidget):
    """The runs of the project, with actions.

    Signals:
        compareRequested(list): ids of the checked runs.
        showRequested(int): a run was selected (show its curves).
        resumeRequested(int): continue this stopped run.
        weightsRequested(str): start a new run from this checkpoint.
        changed(): a run was renamed, annotated or deleted.
    """

    compareRequested = Signal(list)
    showRequested = Signal(int)
    resumeRequested = Signal(int)
    weightsRequested = Signal(str)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: Any = None
        self.busy_dir = ""  # folder of the run in progress (not deletable)
        self.table = QTableWidget(0, len(COLUMNS), self, objectName="runs")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setMinimumHeight(60)
        self.notes = QPlainTextEdit(self, objectName="run_notes", placeholderText="Notes on this run…")
        self.notes.setMaximumHeight(50)
        self.notes.setMinimumHeight(30)
        self.buttons = {k: QPushButton(t, self, objectName=f"run_{k}") for k, t in (
            ("compare", "Compare checked"), ("resume", "Resume"), ("weights", "Use as starting weights"),
            ("notes", "Save notes"), ("delete", "Delete…"))}
        for key in ("resume", "weights"):  # enabled by selecting a run that allows it
            self.buttons[key].setEnabled(False)
        row = QHBoxLayout()
        for b in self.buttons.values():
            row.addWidget(b)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(self.table)
        v.addWidget(self.notes)
        v.addLayout(row)
        self.buttons["compare"].clicked.connect(lambda: self.compareRequested.emit(self.checked_ids()))
        self.buttons["resume"].clicked.connect(self._resume)
        self.buttons["weights"].clicked.connect(self._weights)
        self.buttons["notes"].clicked.connect(self.save_notes)
        self.buttons["delete"].clicked.connect(lambda: self.delete_selected())
        self.table.itemChanged.connect(self._item_changed)
        self.table.itemSelectionChanged.connect(self._selected)
        self._filling = False

    # ------------------------------------------------------------------ content
    def set_store(self, store: Any) -> None:
        self.store = store
        self.refresh()

    def refresh(self) -> None:
        """Re-read the runs from the project (keeps checks and selection)."""
        checked, sel = set(self.checked_ids()), self.selected_id()
        self._filling = True
        self.table.setRowCount(0)
        runs = self.store.runs() if self.store is not None else []
        for r in reversed(runs):  # newest first
            i = self.table.rowCount()
            self.table.insertRow(i)
            best = f"{r.metric_name} {r.best_metric:.4f}" if r.best_metric is not None else "—"
            epochs = len(read_metrics(run_folder(self.store, r)))
            cells = ("", r.name, r.status, best, str(epochs), r.created_at[:19].replace("T", " "))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
                if c == 0:
                    flags |= Qt.ItemFlag.ItemIsUserCheckable
                    item.setCheckState(Qt.CheckState.Checked if r.id in checked
                                       else Qt.CheckState.Unchecked)
                if c == 1:
                    flags |= Qt.ItemFlag.ItemIsEditable
                item.setFlags(flags)
                item.setData(Qt.ItemDataRole.UserRole, r.id)
                self.table.setItem(i, c, item)
            if r.id == sel:
                self.table.selectRow(i)
        self.table.resizeColumnsToContents()
        self._filling = False
        self._selected(force=True)  # the notes and buttons of the row kept selected

    def row_of(self, run_id: int) -> int:
        for i in range(self.table.rowCount()):
            if self.table.item(i, 0).data(Qt.ItemDataRole.UserRole) == run_id:
                return i
        return -1

    def checked_ids(self) -> list[int]:
        return [self.table.item(i, 0).data(Qt.ItemDataRole.UserRole)
                for i in range(self.table.rowCount())
                if self.table.item(i, 0).checkState() == Qt.CheckState.Checked]

    def set_checked(self, run_id: int, on: bool = True) -> None:
        i = self.row_of(run_id)
        if i >= 0:
            self.table.item(i, 0).setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole) if rows else None

    def select(self, run_id: int, show: bool = True) -> None:
        """Select a run's row; with ``show`` False, without asking to show its curves."""
        i = self.row_of(run_id)
        if i < 0:
            return
        quiet, self._filling = self._filling, not show
        try:
            self.table.selectRow(i)
        finally:
            self._filling = quiet
        if not show:
            self._selected(force=True)

    def selected_run(self) -> RunRecord | None:
        rid = self.selected_id()
        return self.store.run(rid) if rid is not None and self.store is not None else None

    # ------------------------------------------------------------------ edits
    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 1 or self.store is None:
            return
        name = item.text().strip()
        rid = item.data(Qt.ItemDataRole.UserRole)
        if name:
            self.rename(rid, name)

    def rename(self, run_id: int, name: str) -> None:
        """Rename a run in the project."""
        self.store.update_run(run_id, name=name)
        self.changed.emit()

    def save_notes(self) -> None:
        """Store the notes of the selected run."""
        rid = self.selected_id()
        if rid is not None:
            self.store.update_run(rid, notes=self.notes.toPlainText())
            self.changed.emit()

    def _selected(self, force: bool = False) -> None:
        if self._filling and not force:
            return  # a refresh re-selecting a row must not switch the curves shown
        run = self.selected_run()
        self.notes.setPlainText(run.notes if run else "")
        if run is not None:
            folder = run_folder(self.store, run)
            self.buttons["resume"].setEnabled(run.status == "stopped" and (folder / "last.pt").is_file())
            self.buttons["weights"].setEnabled((folder / "best.pt").is_file())
            if not force:
                self.showRequested.emit(run.id)

    def _resume(self) -> None:
        rid = self.selected_id()
        if rid is not None:
            self.resumeRequested.emit(rid)

    def _weights(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.weightsRequested.emit(str(run_folder(self.store, run) / "best.pt"))

    def delete_selected(self, confirm: bool = True) -> bool:
        """Forget the selected run and delete its folder (after confirmation). A folder
        is removed only if it looks like a run folder; the run in progress cannot be
        deleted."""
        run = self.selected_run()
        if run is None:
            return False
        folder = run_folder(self.store, run)
        if self.busy_dir and Path(self.busy_dir).resolve() == folder.resolve():
            QMessageBox.information(self, "Delete run", "This run is training: stop it first.")
            return False
        if confirm and QMessageBox.question(
                self, "Delete run", f"Delete run “{run.name}” and its folder\n{folder}\n"
                "(checkpoints, metrics, config)? This cannot be undone."
        ) != QMessageBox.StandardButton.Yes:
            return False
        self.store.delete_run(run.id)
        if folder.is_dir() and any((folder / f).exists() for f in RUN_FILES):
            shutil.rmtree(folder, ignore_errors=True)
        self.refresh()
        self.changed.emit()
        return True
