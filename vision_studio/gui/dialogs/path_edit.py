"""A line edit with a Browse… button, for the Import… and Export… dialogs' fields."""
from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget

from vision_studio.gui.formats import Field


class PathEdit(QWidget):
    """A line edit with a Browse… button for a :class:`Field` of kind file/dir/save_file."""

    def __init__(self, field: Field, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = field
        self.edit = QLineEdit(field.default, self)
        self.edit.setToolTip(field.tip)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        if field.kind in ("file", "dir", "save_file"):
            button = QPushButton("Browse…", self)
            button.setToolTip(f"Choose the {field.label.lower()}")
            button.clicked.connect(self._browse)
            layout.addWidget(button)

    def _browse(self) -> None:
        start = self.edit.text()
        if self.field.kind == "file":
            path, _ = QFileDialog.getOpenFileName(self, self.field.label, start, self.field.filter)
        elif self.field.kind == "save_file":
            path, _ = QFileDialog.getSaveFileName(self, self.field.label, start, self.field.filter)
        else:
            path = QFileDialog.getExistingDirectory(self, self.field.label, start)
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        """The entered value, stripped."""
        return self.edit.text().strip()
