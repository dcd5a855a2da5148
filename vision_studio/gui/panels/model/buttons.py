"""The Model panel's button row: save / load the settings as a TrainConfig JSON, export
them to run on another machine, and Start training (outside the scroll areas: always
visible)."""
from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QMessageBox, QPushButton

from vision_studio.core.errors import ConfigError, VisionStudioError
from vision_studio.gui.panels.model.export_dialog import ExportDialog


def button_row(panel: Any) -> QHBoxLayout:
    """Create ``panel.save_btn``, ``load_btn``, ``export_btn`` and ``start`` in a row."""
    row = QHBoxLayout()
    panel.save_btn = QPushButton("Save settings…", panel, objectName="save_config")
    panel.load_btn = QPushButton("Load settings…", panel, objectName="load_config")
    panel.export_btn = QPushButton("Export for another machine…", panel, objectName="export_config")
    panel.export_btn.setToolTip("Write these settings as a config file with the exact command lines "
                                "to train on another machine (one or several GPUs, several machines)")
    panel.start = QPushButton("Start training ▶", panel, objectName="start")
    panel.start.setDefault(True)
    panel.save_btn.clicked.connect(lambda: ask_save(panel))
    panel.load_btn.clicked.connect(lambda: ask_load(panel))
    panel.export_btn.clicked.connect(lambda: open_export(panel))
    panel.start.clicked.connect(lambda: panel.start_training())
    for b in (panel.save_btn, panel.load_btn, panel.export_btn):
        row.addWidget(b)
    row.addStretch(1)
    row.addWidget(panel.start)
    return row


def ask_save(panel: Any) -> None:
    path, _ = QFileDialog.getSaveFileName(panel, "Save training settings", "train.json", "JSON (*.json)")
    if path:
        try:
            panel.save_config(path)
        except (VisionStudioError, OSError) as exc:
            QMessageBox.warning(panel, "Save settings", str(exc))


def ask_load(panel: Any) -> None:
    path, _ = QFileDialog.getOpenFileName(panel, "Load training settings", "", "JSON (*.json)")
    if path:
        try:
            panel.load_config(path)
        except VisionStudioError as exc:
            QMessageBox.warning(panel, "Load settings", str(exc))


def export_dialog(panel: Any) -> ExportDialog | None:
    """The export dialog for the configuration Start would use (not shown), or ``None``
    (no project; a setting out of range: said in a message box)."""
    store = panel.state.store
    if store is None:
        return None
    try:
        cfg = panel.config()
    except ConfigError as exc:
        QMessageBox.warning(panel, "Export settings", str(exc))
        return None
    from vision_studio.core.outputs import protected_paths

    return ExportDialog(cfg, store.path, protected_paths(store), panel)


def open_export(panel: Any) -> None:
    """Show the export dialog (modal)."""
    dialog = export_dialog(panel)
    if dialog is not None:
        dialog.exec()
        dialog.deleteLater()
