""""Export to run on another machine" (issue 16): the Model tab's configuration as a
TrainConfig JSON plus a text file with the exact command lines (one GPU, ``N`` GPUs with
``--nproc-per-node``, several machines with torchrun's rendezvous), written by
:func:`vision_studio.core.training.remote.export_remote`.

The dialog asks the folder, the file name, the GPUs per machine and the machines, shows
the commands as selectable text with a Copy button, and asks before replacing a file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QMessageBox, QPlainTextEdit, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from vision_studio.core.errors import OutputExistsError, VisionStudioError
from vision_studio.core.training import remote
from vision_studio.core.training.config import TrainConfig
from vision_studio.gui.widgets.fitlabel import wrapping


def ask_replace(parent: QWidget, path: Path) -> bool:
    """Ask whether ``path`` (an existing file) may be replaced."""
    return QMessageBox.question(parent, "Replace file?", f"{path} already exists.\n\nReplace it (and "
                                f"the other exported file with the same name)?") == QMessageBox.StandardButton.Yes


class ExportDialog(QDialog):
    """Write ``cfg`` and its command lines into a folder the user chooses.

    Attributes:
        folder, name, gpus, nodes: The inputs.
        commands: The commands file's text (read-only, selectable).
        result_label: What was written (or why not).
        exported: The last :class:`~vision_studio.core.training.remote.Exported`, or ``None``.
        confirm: ``confirm(path) -> bool`` asks before replacing (a message box).
    """

    def __init__(self, cfg: TrainConfig, project: Path, protected: frozenset | tuple = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="export_dialog")
        self.setWindowTitle("Export to run on another machine")
        self.cfg, self.project, self.protected = cfg, Path(project), protected
        self.exported: remote.Exported | None = None
        self.confirm: Callable[[Path], bool] = lambda path: ask_replace(self, path)
        self.folder = QLineEdit(str(self.project.parent), self, objectName="export_folder")
        browse = QPushButton("Choose…", self, objectName="export_browse")
        browse.clicked.connect(self._browse)
        self.name = QLineEdit(remote.safe_name(cfg.name or f"{self.project.stem}-{cfg.task}"), self,
                              objectName="export_name")
        self.gpus = QSpinBox(self, objectName="export_gpus", minimum=1, maximum=1024, value=1)
        self.nodes = QSpinBox(self, objectName="export_nodes", minimum=1, maximum=4096, value=1)
        self.commands = QPlainTextEdit(self, objectName="export_commands", readOnly=True)
        self.commands.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.commands.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.result_label = wrapping(QLabel("", self, objectName="export_result"))
        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form.addRow("Folder", row)
        form.addRow("File name", self.name)
        form.addRow("GPUs per machine", self.gpus)
        form.addRow("Machines (nodes)", self.nodes)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.export_btn = buttons.addButton("Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_btn = buttons.addButton("Copy commands", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_btn.setObjectName("export_write")
        self.copy_btn.setObjectName("export_copy")
        self.export_btn.clicked.connect(lambda: self.export())
        self.copy_btn.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        v = QVBoxLayout(self)
        v.addLayout(form)
        v.addWidget(QLabel("Commands (written next to the config; copy the project folder too):", self))
        v.addWidget(self.commands, 1)
        v.addWidget(self.result_label)
        v.addWidget(buttons)
        for w in (self.name, self.folder):
            w.textChanged.connect(lambda _t: self.update_text())
        for s in (self.gpus, self.nodes):
            s.valueChanged.connect(lambda _v: self.update_text())
        self.resize(820, 560)
        self.update_text()

    def _paths(self) -> tuple[Path, Path]:
        return remote.export_paths(self.folder.text().strip() or ".", remote.safe_name(self.name.text()))

    def update_text(self) -> str:
        """Show the commands file as it will be written; returns its text."""
        config_path, _ = self._paths()
        name = remote.safe_name(self.name.text())
        lines = remote.command_lines(self.project.name, config_path.name, self.gpus.value(),
                                     self.nodes.value(), run_id=name)
        text = remote.commands_text(self.cfg, lines, self.project, config_path.name, self.gpus.value(),
                                    self.nodes.value())
        self.commands.setPlainText(text)
        return text

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def export(self) -> bool:
        """Write both files; an existing one is replaced only if :attr:`confirm` agrees.
        Problems are said in the dialog (never a traceback). True if written."""
        kwargs = dict(nproc_per_node=self.gpus.value(), nnodes=self.nodes.value(), protected=self.protected)
        folder, name = self.folder.text().strip(), self.name.text()
        if not folder:
            self.result_label.setText("Choose a folder first.")
            return False
        try:
            try:
                self.exported = remote.export_remote(self.cfg, folder, name, self.project, **kwargs)
            except OutputExistsError as exc:
                if not self.confirm(Path(exc.path)):
                    self.result_label.setText("Not exported: the existing files were kept.")
                    return False
                self.exported = remote.export_remote(self.cfg, folder, name, self.project, overwrite=True,
                                                     **kwargs)
        except (VisionStudioError, OSError, ValueError) as exc:
            self.result_label.setText(f"Not exported: {exc}")
            return False
        self.result_label.setText(f"Wrote {self.exported.config} and {self.exported.commands.name}.")
        return True

    def copy(self) -> None:
        """Put the commands text on the clipboard."""
        QGuiApplication.clipboard().setText(self.commands.toPlainText())
        self.result_label.setText("Commands copied to the clipboard.")
