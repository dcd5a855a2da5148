"""The Dataset health panel: "Find problems" runs the core finder in a background
thread, then the issues are listed worst first for review — one key per fix, every fix
an undoable command saved at once — beside a map of the images.

Fixes (keys work while the review list has focus): **A** accept the suggested label,
**K** keep as is (dismissed, remembered in the project), **Del** remove the image of a
duplicate/leak pair from the project, **M** move it to its twin's split, **Return** /
double-click open it in Annotate (through :attr:`HealthPanel.openInAnnotate` and
``AppState.showImageRequested``; panels never import each other).
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QFileDialog, QHBoxLayout,
                               QHeaderView, QMessageBox, QProgressBar, QPushButton, QSplitter,
                               QTableView, QTabWidget, QVBoxLayout, QWidget)

from vision_studio.core.health import Issue
from vision_studio.core.wording import plural
from vision_studio.gui import settings
from vision_studio.gui.panels.health.commands import DismissIssuesCommand, MoveSplitCommand, issue_key
from vision_studio.gui.panels.health.detail import FIXES, IssueDetail
from vision_studio.gui.panels.health.issues_model import (IssueTableModel, ProjectNow, ThumbnailCache,
                                                           is_open)
from vision_studio.gui.panels.health.map_view import MapView
from vision_studio.gui.panels.health.worker import HealthOptions, HealthResult, HealthWorker
from vision_studio.gui.state import AppState
from vision_studio.gui.undo import RemoveImagesCommand, SetImageTagsCommand, StoreCommand
from vision_studio.gui.widgets.elided import ElidedLabel

log = logging.getLogger(__name__)

WEIGHTS_SETTING = "health/weights"
"""QSettings key of the backbone weights (timm tag or ``.pth`` file)."""


class HealthPanel(QWidget):
    """Find, review and fix the dataset's likely problems.

    Signals:
        openInAnnotate(int): show this image id in the Annotate panel.

    Attributes:
        state: The shared :class:`AppState`.
        options: What the next search looks for (weights, folds, map method).
        result: The last finished search, or ``None``.
        model: The open issues, worst first.
        detail: The selected issue and its fix buttons.
        map: The :class:`MapView`.
        worker: The running search, or ``None``.
    """

    openInAnnotate = Signal(int)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.options = HealthOptions(weights=str(settings.value(WEIGHTS_SETTING, "in1k")))
        self.result: HealthResult | None = None
        self.worker: HealthWorker | None = None
        self._now: ProjectNow | None = None
        self._paths: dict[int, Path] = {}
        self.thumbs = ThumbnailCache()
        self._build_bar()
        self._build_body()
        state.projectOpened.connect(lambda _s: self._clear())
        state.projectClosed.connect(self._clear)
        state.undo_stack.indexChanged.connect(lambda _i: self.refresh())
        self._clear()

    # ------------------------------------------------------------------ layout
    def _build_bar(self) -> None:
        self.find_button = QPushButton("Find problems", self)
        self.find_button.setToolTip("Look for likely label errors, near-duplicates and "
                                    "train/val/test leakage (backbone features, cached)")
        self.find_button.clicked.connect(self.find_problems)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.labels_check = QCheckBox("Label errors", self)
        self.dups_check = QCheckBox("Duplicates and leaks", self)
        for box in (self.labels_check, self.dups_check):
            box.setChecked(True)
        self.weights_button = QPushButton("Weights…", self)
        self.weights_button.clicked.connect(self.choose_weights)
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(220)
        self.status = ElidedLabel("", self, mode=Qt.TextElideMode.ElideRight)
        self.bar = QHBoxLayout()
        for w in (self.find_button, self.cancel_button, self.labels_check, self.dups_check,
                  self.weights_button, self.progress):
            self.bar.addWidget(w)
        self.bar.addWidget(self.status, 1)

    def _build_body(self) -> None:
        self.model = IssueTableModel(self.thumbs, self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(IssueTableModel.THUMB, IssueTableModel.THUMB))
        self.table.verticalHeader().setDefaultSectionSize(IssueTableModel.THUMB + 4)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for col in (3, 4):  # file names: they share the room, elided in the middle
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(False)
        self.table.selectionModel().currentRowChanged.connect(lambda *_a: self._show_current())
        self.table.doubleClicked.connect(lambda _i: self.fix("open"))
        self.detail = IssueDetail(self.thumbs, self)
        self.detail.fixRequested.connect(self.fix)
        self.issues_page = QSplitter(self)
        self.issues_page.addWidget(self.table)
        self.issues_page.addWidget(self.detail)
        self.issues_page.setStretchFactor(0, 3)
        self.issues_page.setStretchFactor(1, 2)
        self.shortcuts: dict[str, QShortcut] = {}
        for name, _text, key, _tip in FIXES:
            sc = QShortcut(QKeySequence(key), self.issues_page)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda n=name: self.fix(n))
            self.shortcuts[name] = sc
        self.map = MapView(self)
        self.map.openInAnnotate.connect(self._open_image)
        self.pages = QTabWidget(self)
        self.pages.addTab(self.issues_page, "Issues")
        self.pages.addTab(self.map, "Map")
        lay = QVBoxLayout(self)
        lay.addLayout(self.bar)
        lay.addWidget(self.pages, 1)

    # ------------------------------------------------------------------ search
    def choose_weights(self) -> None:
        """Pick a local ``.pth`` weights file for the backbone (remembered)."""
        path, _f = QFileDialog.getOpenFileName(self, "Backbone weights (tf_efficientnet_lite0)",
                                               "", "PyTorch weights (*.pth *.pt);;All files (*)")
        if path:
            self.set_weights(path)

    def set_weights(self, weights: str | Path) -> None:
        """Use ``weights`` (timm tag or ``.pth`` file) from the next search on."""
        settings.set_value(WEIGHTS_SETTING, str(weights))
        self.options = HealthOptions(**{**self.options.__dict__, "weights": str(weights)})
        self.weights_button.setToolTip(f"Backbone weights: {weights}")

    def find_problems(self) -> bool:
        """Start a search on the open project; False when none is open or one runs."""
        store = self.state.store
        if store is None or self.worker is not None:
            return False
        opts = HealthOptions(**{**self.options.__dict__, "labels": self.labels_check.isChecked(),
                                "duplicates": self.dups_check.isChecked()})
        self.worker = HealthWorker(Path(store.path), opts)
        w = self.worker
        for signal, slot in ((w.progress, self._on_progress), (w.done, self._on_done),
                             (w.mapped, self._on_mapped), (w.failed, self._on_failed),
                             (w.mapFailed, self._on_map_failed),
                             (w.ended, self._on_finished)):
            # queued signals of a worker already ended (project closed) are dropped
            signal.connect(lambda *a, w=w, slot=slot: slot(*a) if w is self.worker else None)
        self._final = ""
        self._busy(True, "Embedding the images (cached for next time)…")
        self.worker.start()
        return True

    def cancel(self) -> None:
        """Ask the running search to stop."""
        if self.worker is not None:
            self.worker.cancel()
            self.status.setText("Cancelling…")

    def busy(self) -> bool:
        """Whether a search runs."""
        return self.worker is not None

    def _busy(self, on: bool, text: str) -> None:
        self.find_button.setEnabled(not on and self.state.store is not None)
        self.cancel_button.setEnabled(on)
        self.progress.setVisible(on)
        self.progress.setRange(0, 0)
        self.status.setText(text)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if done >= total:
            self.status.setText("Fitting the out-of-fold probes and the map…")
            self.progress.setRange(0, 0)

    def _end_worker(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(60_000)
            self.worker.deleteLater()
            self.worker = None

    def _on_failed(self, message: str) -> None:
        self._final = "Cancelled." if message == "cancelled" else f"Failed: {message}"
        if message != "cancelled":
            box = QMessageBox(QMessageBox.Icon.Warning, "Dataset health",
                              f"Could not look for problems:\n{message}", parent=self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()  # not modal for the event loop: tests and the app carry on

    def _on_finished(self) -> None:
        self._end_worker()
        self._busy(False, self._final)

    def _on_done(self, result: HealthResult) -> None:
        self.result = result
        store = self.state.store
        if store is None:
            return
        self._show_map(result.xy, result.map_method)
        self.refresh()
        notes = "; ".join(result.report.notes)
        n = len(result.report.features.image_ids)
        self._final = (f"{plural(self.model.rowCount(), 'issue')} in {plural(n, 'image')}"
                       + (f" — {notes}" if notes else ""))
        self.status.setText(self._final + " — drawing the map…")
        if self.model.rowCount():
            self.table.selectRow(0)
            self.table.setFocus()

    def _on_map_failed(self, message: str) -> None:
        self._final += f" — UMAP map failed ({message}); PCA shown"

    def _on_mapped(self, mapped: tuple) -> None:
        if self.result is not None and self.state.store is not None:
            self._show_map(*mapped)

    def _show_map(self, xy, method: str) -> None:
        store, feats = self.state.store, self.result.report.features
        colours = {c.id: c.color for c in store.categories()}
        self.map.set_points(xy, feats.image_ids, feats.paths, feats.splits, self.result.quality,
                            method, ProjectNow.read(store), colours)

    # ------------------------------------------------------------------ review
    def refresh(self) -> None:
        """Re-read the project and list the issues that still apply (after any edit,
        undo or redo), keeping the selected row's position."""
        store = self.state.store
        if store is None or self.result is None:
            return
        row = max(self.table.currentIndex().row(), 0)
        now = self._now = ProjectNow.read(store)
        root = store.root
        self._paths = {i: root / im.path for i, im in now.images.items()}
        issues = [i for i in self.result.report.issues if is_open(i, now)]
        self.model.set_issues(issues, self._paths)
        if issues:
            self.table.selectionModel().setCurrentIndex(
                self.model.index(min(row, len(issues) - 1), 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self._show_current()
        self.map.refresh(now)

    def current_issue(self) -> Issue | None:
        """The selected issue."""
        row = self.table.currentIndex().row()
        return self.model.issues[row] if 0 <= row < len(self.model.issues) else None

    def _show_current(self) -> None:
        self.detail.show_issue(self.current_issue(), self._now, self._paths)

    def fix(self, name: str) -> bool:
        """Apply fix ``name`` (``accept``, ``keep``, ``remove``, ``move``, ``open``) to
        the selected issue; True when something was done."""
        issue, store = self.current_issue(), self.state.store
        if issue is None or store is None:
            return False
        if name == "open":
            self._open_image(issue.image_id)
            return True
        cmd = self._command(name, issue)
        if cmd is None:
            return False
        self.state.undo_stack.push(cmd)
        if cmd.error:
            QMessageBox.warning(self, "Dataset health", cmd.error)
            return False
        self.state.statusMessage.emit(cmd.text())
        return True

    def _command(self, name: str, issue: Issue) -> StoreCommand | None:
        store = self.state.store
        pair = issue.kind in ("duplicate", "leak")
        if name == "keep":
            return DismissIssuesCommand(store, [issue])
        if name == "accept" and issue.kind == "label":
            ids = {c.name: c.id for c in store.categories()}
            if issue.suggested not in ids:
                return None
            old = store.image_tags(issue.image_id)
            new = [ids[issue.suggested] if c == ids.get(issue.given) else c for c in old]
            cmd = SetImageTagsCommand(store, issue.image_id, new or [ids[issue.suggested]])
            cmd.setText(f"Accept label {issue.suggested} for {issue.file_name}")
            return cmd
        if name == "remove" and pair:
            return RemoveImagesCommand(store, [issue.image_id])
        if name == "move" and pair and issue.other_image_id is not None:
            twin = self._now.images.get(issue.other_image_id) if self._now else None
            if twin is not None:
                return MoveSplitCommand(store, [issue.image_id], twin.split)
        return None

    def _open_image(self, image_id: int) -> None:
        self.openInAnnotate.emit(int(image_id))

    def issue_keys(self) -> list[str]:
        """Keys of the listed issues, in order (for tests and logs)."""
        return [issue_key(i) for i in self.model.issues]

    # ------------------------------------------------------------------ life
    def _clear(self) -> None:
        self._end_worker()
        self.result, self._now, self._paths = None, None, {}
        self.model.set_issues([], {})
        self.detail.show_issue(None, None, {})
        self._busy(False, "Find likely label errors, duplicates and leaks." if self.state.store
                   else "Open a project first.")

    def shutdown(self) -> None:
        """Stop the search thread (before the window goes)."""
        self._end_worker()
