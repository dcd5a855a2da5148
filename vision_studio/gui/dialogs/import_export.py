"""The Import… dialog over the core formats (:mod:`vision_studio.gui.formats`).

An import runs in a :class:`~vision_studio.gui.dialogs.worker.StoreTask` thread with a
progress bar and a Cancel button (a cancelled import is rolled back). When it ends the
dialog shows the :class:`ReportView`: counts, every skipped file with its reason, and
the problems recorded for images — double-click one to show that image.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QMessageBox, QProgressBar, QStackedWidget, QTabWidget, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from vision_studio.core.io.report import ImportReport
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Problem
from vision_studio.gui import import_undo
from vision_studio.gui.dialogs.mask_values import MAX_SCAN_FILES, MaskValuesDialog, classes_text
from vision_studio.gui.dialogs.verify import VerifyResult, verify_images
from vision_studio.gui.dialogs.worker import StoreTask
from vision_studio.gui.dialogs.path_edit import PathEdit
from vision_studio.gui.formats import IMPORT_FORMATS

SPLITS = ("", "train", "val", "test")
EXISTING_CHOICES = (("add their labels", "add"), ("replace their annotations", "replace"),
                    ("skip them", "skip"))
"""What an import does with labels for images already in the project (label, core value)."""
PARTLY_IMPORTED = frozenset({"unknown_value"})
"""Report kinds of items that were imported in part (listed apart from the skipped)."""


class ReportView(QWidget):
    """What an import did: summary, skipped items (file, reason) and image problems.

    Signals:
        imageRequested(int): the user double-clicked a problem of this image id.
    """

    imageRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.skipped = QTreeWidget(self)
        self.skipped.setHeaderLabels(["File", "Reason"])
        self.skipped.setRootIsDecorated(False)
        self.problems = QTreeWidget(self)
        self.problems.setHeaderLabels(["Image", "Problem"])
        self.problems.setRootIsDecorated(False)
        self.problems.setToolTip("Double-click a problem to show its image")
        self.problems.itemActivated.connect(self._activated)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.skipped, "Skipped")
        self.tabs.addTab(self.problems, "Problems in images")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)

    def show_report(self, report: ImportReport, problems: list[Problem]) -> None:
        """Fill the view from an import's report and the project's problems."""
        # a label image with values outside the class table is imported (those pixels
        # stay unlabelled): it is not "skipped" (issue 19: "Skipped (40)" for 40 imported)
        partial = [s for s in report.skipped if s.kind in PARTLY_IMPORTED]
        skipped = [s for s in report.skipped if s.kind not in PARTLY_IMPORTED]
        line = report.summary(max_items=0).splitlines()[0]
        if partial:
            line += f"; {len(partial)} imported with some pixels left unlabelled"
        self.summary.setText(line)
        self.skipped.clear()
        for s in skipped + partial + list(report.notes):
            reason = f"imported; {s.reason}" if s in partial else s.reason
            item = QTreeWidgetItem([s.source, reason])
            item.setToolTip(0, s.source)
            item.setToolTip(1, reason)
            self.skipped.addTopLevelItem(item)
        self.tabs.setTabText(0, f"Skipped ({len(skipped)})"
                             + (f" / partly imported ({len(partial)})" if partial else "")
                             + f" / fixed ({len(report.notes)})")
        self.show_problems(problems)

    def show_problems(self, problems: list[Problem]) -> None:
        """List problems; those with an image id are clickable."""
        self.problems.clear()
        for p in problems:
            item = QTreeWidgetItem([p.source, p.message])
            item.setData(0, Qt.ItemDataRole.UserRole, p.image_id)
            item.setToolTip(1, p.message)
            self.problems.addTopLevelItem(item)
        self.tabs.setTabText(1, f"Problems in images ({len(problems)})")

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        image_id = item.data(0, Qt.ItemDataRole.UserRole)
        if image_id:
            self.imageRequested.emit(int(image_id))


class ProblemsDialog(QDialog):
    """Every problem recorded in the project; double-click one to show its image.

    Signals:
        imageRequested(int): the image id of the activated problem.
    """

    imageRequested = Signal(int)

    def __init__(self, store: ProjectStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Problems in the project")
        self.view = ReportView(self)
        problems = store.problems()
        self.view.summary.setText(f"{len(problems)} problem(s) recorded (at import or decoding). "
                                  "Double-click one to show its image.")
        self.view.tabs.removeTab(0)
        self.view.show_problems(problems)
        self.view.imageRequested.connect(self.imageRequested)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(buttons)
        self.resize(760, 420)


class ImportDialog(QDialog):
    """Pick a format and its inputs, import in a worker thread, show the report.

    Signals:
        imported(object): the :class:`ImportReport` of a finished import.
        verified(object): the :class:`VerifyResult` of the full decoding that follows
            it (new ``decode_error`` problems may have been recorded).
        imageRequested(int): from the report's problems list.
    """

    imported = Signal(object)
    verified = Signal(object)
    imageRequested = Signal(int)

    def __init__(self, store: ProjectStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import annotations / images")
        self.store = store
        self.undo_stack = None  # the session's QUndoStack: a finished import is one step there
        self.undo_command: import_undo.ImportCommand | None = None
        self._before: import_undo.Before | None = None
        self.task: StoreTask | None = None
        self.report: ImportReport | None = None
        self.error = ""
        self._build_formats()
        self._build_options()
        self._build_buttons()
        top = QFormLayout()
        top.addRow("Format", self.format)
        top.addRow("Split", self.split)
        top.addRow("Images already in the project", self.on_existing)
        self._top = top
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.forms)
        layout.addWidget(self.strict)
        layout.addWidget(self.progress)
        layout.addWidget(self.report_view, 1)
        layout.addWidget(self.buttons)
        self.verify_task: StoreTask | None = None
        self.verified_result: VerifyResult | None = None
        self._format_changed()
        self.resize(720, 360)

    def _build_formats(self) -> None:
        self.format = QComboBox(self)
        self.forms = QStackedWidget(self)
        self.inputs: list[dict[str, PathEdit]] = []
        for fmt in IMPORT_FORMATS:
            self.format.addItem(fmt.label, fmt.name)
            self.format.setItemData(self.format.count() - 1, fmt.help, Qt.ItemDataRole.ToolTipRole)
            page, edits = QWidget(self), {}
            form = QFormLayout(page)
            for f in fmt.fields:
                edits[f.key] = PathEdit(f, page)
                form.addRow(f.label + ("" if not f.optional else " (optional)"), edits[f.key])
            self.forms.addWidget(page)
            self.inputs.append(edits)
        self.format.currentIndexChanged.connect(self.forms.setCurrentIndex)

    def _build_options(self) -> None:
        self.split = QComboBox(self)
        self.split.setEditable(True)
        self.split.addItems(["(from the data)", "train", "val", "test"])
        self.split.setToolTip("Split given to every imported image; '(from the data)' keeps the format's own")
        self.on_existing = QComboBox(self, objectName="on_existing")
        for label, value in EXISTING_CHOICES:
            self.on_existing.addItem(label, value)
        self.on_existing.setToolTip("Labels for an image the project already has (matched by "
                                    "its path in the project, then by its file name)")
        self.format.currentIndexChanged.connect(lambda _i: self._format_changed())
        self.strict = QCheckBox("Strict: import nothing if anything is wrong", self)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        self.report_view = ReportView(self)
        self.report_view.setVisible(False)
        self.report_view.imageRequested.connect(self.imageRequested)

    def _build_buttons(self) -> None:
        self.buttons = QDialogButtonBox(self)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.import_button.clicked.connect(self.start)
        self.undo_button = self.buttons.addButton("Undo this import", QDialogButtonBox.ButtonRole.ActionRole)
        self.undo_button.setToolTip("Remove everything this import added (also Edit → Undo)")
        self.undo_button.setVisible(False)
        self.undo_button.clicked.connect(self.undo_import)
        self.close_button.clicked.connect(self._close_or_cancel)

    def _format_changed(self) -> None:
        fmt = IMPORT_FORMATS[self.format.currentIndex()]
        self._top.setRowVisible(self.on_existing, fmt.labels_existing)

    def set_format(self, name: str) -> None:
        """Select the import format called ``name``."""
        self.format.setCurrentIndex(self.format.findData(name))

    def set_value(self, key: str, value: str) -> None:
        """Fill input ``key`` of the current format."""
        self.inputs[self.format.currentIndex()][key].edit.setText(value)

    def start(self) -> None:
        """Start the import in a worker thread (non-blocking)."""
        fmt = IMPORT_FORMATS[self.format.currentIndex()]
        values = {k: e.text() for k, e in self.inputs[self.format.currentIndex()].items()}
        split_text = self.split.currentText().strip()
        split = None if split_text.startswith("(") else split_text
        strict = self.strict.isChecked()
        existing = self.on_existing.currentData() if fmt.labels_existing else None
        if fmt.name == "masks" and not self._map_mask_values(values):
            return
        self.error, self.report, self.verified_result = "", None, None
        self.undo_command, self._before = None, import_undo.snapshot(self.store, existing == "replace")
        self.task = StoreTask(self.store.path,
                              lambda s, p: fmt.run(s, values, split, strict, p, existing), self)
        self.task.progressed.connect(self._on_progress)
        self.task.succeeded.connect(self._on_done)
        self.task.failed.connect(self._on_failed)
        self.task.finished.connect(lambda: self._busy(self.verifying()))
        self._busy(True)
        self.task.start()

    def _map_mask_values(self, values: dict[str, str]) -> bool:
        """Show the label values found and let the user name them; False: cancelled
        (or an input is wrong: a warning says which). Updates ``values["classes"]``."""
        from vision_studio.core.errors import VisionStudioError
        from vision_studio.core.io.masks import label_value_counts
        from vision_studio.gui.formats import _optional_int, parse_classes

        try:
            classes = parse_classes(values.get("classes", ""))
            ignore = _optional_int(values.get("ignore", ""), "Ignore value")
            counts, files, _problems = label_value_counts(values.get("masks", ""),
                                                          max_files=MAX_SCAN_FILES)
        except VisionStudioError as exc:
            QMessageBox.warning(self, "Import", str(exc))
            return False
        if not counts:
            return True  # no label image: the import's report says so
        dlg = MaskValuesDialog(counts, files, classes, ignore, self)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return False
        if not dlg.classes():
            QMessageBox.warning(self, "Import", "Give at least one label value a class name.")
            return False
        values["classes"] = classes_text(dlg.classes())
        self.set_value("classes", values["classes"])
        return True

    def undo_import(self) -> bool:
        """Undo the finished import (when it is the last step on the undo stack)."""
        stack, cmd = self.undo_stack, self.undo_command
        if stack is None or cmd is None or stack.index() == 0 or stack.command(stack.index() - 1) is not cmd:
            return False
        stack.undo()
        self.undo_button.setVisible(False)
        self.report_view.summary.setText(f"{self.report_view.summary.text()}\nImport undone.")
        return True

    def _push_undo(self) -> None:
        if self._before is None or self.undo_stack is None:
            return
        fmt = IMPORT_FORMATS[self.format.currentIndex()]
        cmd = import_undo.ImportCommand(self.store, self._before, f"Import ({fmt.label})")
        if not cmd.empty:
            self.undo_command = cmd
            self.undo_stack.push(cmd)
            self.undo_button.setVisible(True)

    def verifying(self) -> bool:
        """True while the full verification after an import runs."""
        return self.verify_task is not None and not self.verify_task.isFinished()

    def _busy(self, busy: bool) -> None:
        self.import_button.setEnabled(not busy)
        self.close_button.setText("Cancel" if busy else "Close")
        self.progress.setVisible(busy or self.progress.isVisible())
        if busy:
            self.progress.setRange(0, 0)

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _on_done(self, report: ImportReport) -> None:
        self.report = report
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.report_view.setVisible(True)
        self.report_view.show_report(report, self.store.problems())
        self._push_undo()
        self.imported.emit(report)
        self.start_verify()

    # ------------------------------------------------------------------ verification
    def start_verify(self) -> None:
        """Decode the project's new or changed images in full in the background
        (progress, Cancel keeps the import and what was verified so far)."""
        self.verify_task = task = StoreTask(self.store.path, verify_images, self)
        task.progressed.connect(self._on_progress)
        task.succeeded.connect(self._on_verified)
        task.failed.connect(self._on_verify_failed)
        task.finished.connect(lambda: self._busy(False))
        self._busy(True)
        self.progress.setFormat("checking images in full… %v / %m")
        task.start()

    def _verify_ended(self, line: str) -> None:
        """Full progress bar, ``line`` added to the summary, the problems list refreshed."""
        self.progress.setFormat("%p%")
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        view = self.report_view
        view.summary.setText(f"{view.summary.text()}\n{line}")
        view.show_problems(self.store.problems())

    def _on_verified(self, result: VerifyResult) -> None:
        self.verified_result = result
        self._verify_ended(result.summary())
        if result.problems:
            self.report_view.tabs.setCurrentIndex(1)
        self.verified.emit(result)

    def _on_verify_failed(self, message: str) -> None:
        self._verify_ended(f"Images not all verified in full: {message}")

    def _on_failed(self, message: str) -> None:
        self.error = message
        self.progress.setVisible(False)
        QMessageBox.warning(self, "Import failed", message)

    def _close_or_cancel(self) -> None:
        running = [t for t in (self.task, self.verify_task) if t is not None and t.isRunning()]
        for t in running:
            t.cancel()
        if not running:
            self.reject()

    def done(self, result: int) -> None:  # noqa: D102 - wait for the threads before closing
        for t in (self.task, self.verify_task):
            if t is not None and t.isRunning():
                t.cancel()
                t.wait()
        super().done(result)
