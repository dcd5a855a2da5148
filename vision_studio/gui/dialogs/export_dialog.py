"""The Export… dialog over the core export formats (:mod:`vision_studio.gui.formats`).

The export runs in a :class:`~vision_studio.gui.dialogs.worker.StoreTask` thread; an
existing file or non-empty folder is replaced only when the user agrees, asked by name,
and the project file and its images are never written (:mod:`vision_studio.core.outputs`).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QMessageBox, QStackedWidget, QWidget

from vision_studio.core.store import ProjectStore
from vision_studio.core.wording import plural
from vision_studio.gui.dialogs.path_edit import PathEdit
from vision_studio.gui.dialogs.worker import StoreTask
from vision_studio.gui.formats import EXPORT_FORMATS, ExportFormat


class ExportDialog(QDialog):
    """Export the project (or one split) to COCO JSON, Pascal VOC or label PNGs.

    Signals:
        exported(str): the output path of a finished export.
    """

    exported = Signal(str)

    def __init__(self, store: ProjectStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export annotations")
        self.store = store
        self.task: StoreTask | None = None
        self.error = ""
        self.result_value: object = None
        self.format = QComboBox(self)
        for fmt in EXPORT_FORMATS:
            self.format.addItem(fmt.label, fmt.name)
        self.split = QComboBox(self)
        self.split.addItem("All images", None)
        for name, n in store.splits().items():
            self.split.addItem(f"{name or 'unassigned'} ({plural(n, 'image')})", name)
        self.target = QStackedWidget(self)
        self.targets = [PathEdit(f.target, self) for f in EXPORT_FORMATS]
        for t in self.targets:
            self.target.addWidget(t)
        self.format.currentIndexChanged.connect(self.target.setCurrentIndex)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(self)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        close = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.clicked.connect(self.start)
        close.clicked.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("Images", self.split)
        form.addRow("Save to", self.target)
        form.addRow(self.status)
        form.addRow(self.buttons)
        self.resize(560, 180)

    def current_format(self) -> ExportFormat:
        """The chosen :class:`ExportFormat`."""
        return EXPORT_FORMATS[self.format.currentIndex()]

    def set_format(self, name: str) -> None:
        """Select the export format called ``name``."""
        self.format.setCurrentIndex(self.format.findData(name))

    def set_target(self, path: str | Path) -> None:
        """Set the output file/folder of the current format."""
        self.targets[self.format.currentIndex()].edit.setText(str(path))

    def start(self) -> None:
        """Export in a worker thread (non-blocking)."""
        fmt, out = self.current_format(), self.targets[self.format.currentIndex()].text()
        if not out:
            self.status.setText("Choose where to save first.")
            return
        allowed = self.may_write(out)
        if allowed is None:
            return
        kw = {"overwrite": True} if allowed == "replace" else {}
        split = self.split.currentData()
        self.error, self.result_value = "", None
        self.task = StoreTask(self.store.path, lambda s, _p: fmt.call(s, out, split, kw), self)
        self.task.succeeded.connect(lambda r: self._on_done(out, r))
        self.task.failed.connect(self._on_failed)
        self.task.finished.connect(lambda: self.export_button.setEnabled(True))
        self.export_button.setEnabled(False)
        self.status.setText("Exporting…")
        self.task.start()

    def may_write(self, out: str) -> str | None:
        """Whether the export may write ``out``: ``"new"`` (nothing there), ``"replace"``
        (the user agreed, asked by name, to replace the existing file or fill the
        non-empty folder) or ``None`` (refused: the project file or one of its images,
        or the user said no; shown in the dialog)."""
        from vision_studio.core.errors import OutputExistsError, ProtectedPathError
        from vision_studio.core.outputs import check_output, protected_paths

        protected = protected_paths(self.store)
        try:
            check_output(out, overwrite=False, protected=protected)
            return "new"
        except ProtectedPathError as exc:
            self._refuse(str(exc))
            return None
        except OutputExistsError:
            what = "folder and its files" if Path(out).is_dir() else "file"
            if QMessageBox.question(
                    self, "Replace?", f"{Path(out).name} already exists:\n{out}\n\n"
                    f"Replace this {what} with the export?") != QMessageBox.StandardButton.Yes:
                self.status.setText(f"Not exported: {Path(out).name} was kept.")
                return None
        try:
            check_output(out, overwrite=True, protected=protected)
        except ProtectedPathError as exc:
            self._refuse(str(exc))
            return None
        return "replace"

    def _refuse(self, message: str) -> None:
        self.error = message
        self.status.setText(f"Not exported: {message}")
        QMessageBox.warning(self, "Export refused", message)

    def _on_done(self, out: str, result: object) -> None:
        self.result_value = result
        self.status.setText(f"Saved to {out}")
        self.exported.emit(out)

    def _on_failed(self, message: str) -> None:
        self.error = message
        self.status.setText(f"Export failed: {message}")
        QMessageBox.warning(self, "Export failed", message)

    def done(self, result: int) -> None:  # noqa: D102
        if self.task is not None and self.task.isRunning():
            self.task.wait()
        super().done(result)
