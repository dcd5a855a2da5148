"""Help → Keyboard shortcuts (generated from the window's menus, so it never drifts from
what the keys do), Help → About, and Edit → Preferences."""
from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QHeaderView, QLabel,
                               QMenu, QMenuBar, QSpinBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from vision_studio import __version__
from vision_studio.core.paths import user_data_dir
from vision_studio.gui import settings

CANVAS_KEYS = (
    ("Canvas", "Enter / double-click", "Close the polygon being drawn"),
    ("Canvas", "Esc", "Cancel the shape being drawn"),
    ("Canvas", "Backspace", "Remove the last point of the polygon being drawn"),
    ("Canvas", "Mouse wheel", "Zoom around the cursor"),
    ("Canvas", "Middle / right drag, Space + drag", "Pan"),
    ("Canvas", "Hover an edge, click the marker", "Insert a vertex"),
    ("Canvas", "Shift/Alt + click a vertex", "Delete a vertex (a polygon keeps 3)"),
)


def shortcut_rows(menubar: QMenuBar) -> list[tuple[str, str, str]]:
    """``(menu, keys, action text — tooltip)`` for every menu action that has a shortcut."""
    rows = []

    def walk(menu: QMenu, path: str) -> None:
        for act in menu.actions():
            if act.menu() is not None:
                walk(act.menu(), f"{path} → {act.menu().title().replace('&', '')}")
            elif act.shortcuts():
                keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in act.shortcuts())
                text = act.text().replace("&", "").rstrip("…")
                tip = (act.statusTip() or "").replace("&", "")
                rows.append((path, keys, f"{text} — {tip}" if tip and tip != text else text))

    for act in menubar.actions():
        if act.menu() is not None:
            walk(act.menu(), act.menu().title().replace("&", ""))
    return rows


class ShortcutsDialog(QDialog):
    """A table of every keyboard shortcut: the menus' and the canvas's."""

    def __init__(self, menubar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(menubar) + list(CANVAS_KEYS)
        self.table = QTableWidget(len(rows), 3, self)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "What it does"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        self.table.setColumnWidth(0, 150)
        self.table.setColumnWidth(1, 190)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.sectionResized.connect(lambda *_: self.table.resizeRowsToContents())
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(860, 640)

    def showEvent(self, event) -> None:  # noqa: N802, D102 - rows fit the final widths
        super().showEvent(event)
        self.table.resizeRowsToContents()


ABOUT_TEXT = (f"<h3>Vision Studio {__version__}</h3>"
              "<p>Label images, train CNNs with transfer learning and review the model's "
              "errors, offline.</p><p>Every edit is saved to the project file at once; "
              "undo with Ctrl+Z. Export to COCO JSON, Pascal VOC or label PNGs from "
              "File → Export….</p><p>Built on PySide6 (Qt), PyTorch, torchvision, timm, "
              "pycocotools.</p>")


class PreferencesDialog(QDialog):
    """Preferences kept in QSettings (thumbnail size)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.thumb = QSpinBox(self)
        self.thumb.setRange(32, 256)
        self.thumb.setSingleStep(16)
        self.thumb.setValue(settings.thumbnail_size())
        self.thumb.setSuffix(" px")
        self.thumb.setToolTip("Edge of the image browser's thumbnails (applies to projects "
                              "opened afterwards)")
        data = QLabel(str(user_data_dir()), self)
        data.setToolTip("Demo and dataset projects are kept here ($VISION_STUDIO_HOME overrides)")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Thumbnail size", self.thumb)
        form.addRow("Data folder", data)
        form.addRow(buttons)

    def accept(self) -> None:  # noqa: D102
        settings.set_value("thumbnail_size", self.thumb.value())
        super().accept()


def make_action(parent: QWidget, text: str, slot, keys: tuple[str, ...] = (), tip: str = "") -> QAction:
    """A ``QAction`` with shortcuts and a tooltip naming them."""
    act = QAction(text, parent)
    if keys:
        act.setShortcuts([QKeySequence(k) for k in keys])
    if tip:
        act.setToolTip(f"{tip} ({', '.join(keys)})" if keys else tip)
        act.setStatusTip(tip)
    act.triggered.connect(lambda _checked=False: slot())
    return act
