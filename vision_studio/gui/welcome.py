"""The welcome screen shown when no project is open: try the demo in one click, open a
real dataset of ``../shared/data``, create a project from a folder of images, open a
project file, or reopen a recent one. Slow work (building the demo, importing a
dataset) runs in a background thread with a progress bar."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QGroupBox, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QMessageBox, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

from vision_studio.core.store import PROJECT_SUFFIX, ProjectStore
from vision_studio.gui import settings
from vision_studio.gui.datasets import available_datasets, import_dataset, project_path
from vision_studio.gui.dialogs.worker import FunctionTask

log = logging.getLogger(__name__)


def create_project_from_folder(folder: Path, project: Path,
                               progress: Callable[[int, int], None] | None = None) -> Path:
    """Create ``project`` with root ``folder`` and add every image under it (unlabelled).

    Raises:
        VisionStudioError: the project file exists, or the folder does not or holds no file.
    """
    from vision_studio.core.io.imagefolder import read_images

    # the project appears only when the images are in (no half-made file on an error);
    # files that are not images, or do not decode, are recorded as the project's problems
    with ProjectStore.building(project, root=folder) as store:
        read_images(store, folder, progress=progress)
    return project


class WelcomePage(QWidget):
    """Start page. Emits :attr:`openRequested` with a project file to open.

    Signals:
        openRequested(object): a ``Path`` of a project file ready to open.
    """

    openRequested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task: FunctionTask | None = None
        title = QLabel("<h1>Vision Studio</h1><p>Label images, train CNNs with transfer "
                       "learning, and review the model's errors — offline.</p>", self)
        title.setWordWrap(True)
        self.demo_button = self._button("Try the demo project",
                                        "Open a small project made from scikit-image's sample "
                                        "photos (tags and coin polygons), built in seconds",
                                        self.open_demo)
        self.new_button = self._button("New project from a folder of images…",
                                       "Choose a folder: every image in it (and sub-folders) "
                                       "is added, ready to label", self.ask_new_project)
        self.open_button = self._button("Open project…", f"Open a {PROJECT_SUFFIX} project file",
                                        self.ask_open)
        self.datasets = QListWidget(self)
        self.datasets.setToolTip("Double-click: import this dataset into a new project "
                                 "(once) and open it")
        self.datasets.setSpacing(3)
        self.datasets.itemActivated.connect(self._dataset_activated)
        self.dataset_button = self._button("Open the selected dataset",
                                           "Import it into a project once (images are "
                                           "referenced, not copied), then open it",
                                           self._open_selected_dataset)
        self.recent = QListWidget(self)
        self.recent.setSpacing(3)
        self.recent.setToolTip("Double-click to reopen")
        self.recent.itemActivated.connect(
            lambda item: self.openRequested.emit(Path(item.data(Qt.ItemDataRole.UserRole))))
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        self._layout(title)
        self.refresh()

    def _button(self, text: str, tip: str, slot: Callable[[], Any]) -> QPushButton:
        b = QPushButton(text, self)
        b.setToolTip(tip)
        b.setMinimumHeight(36)
        b.clicked.connect(slot)
        return b

    def _layout(self, title: QLabel) -> None:
        start = QVBoxLayout()
        for w in (self.demo_button, self.new_button, self.open_button):
            start.addWidget(w)
        start.addStretch(1)
        data_box = QGroupBox("Real datasets (../shared/data) — double-click to open", self)
        box = QVBoxLayout(data_box)
        box.addWidget(self.datasets)
        box.addWidget(self.dataset_button)
        recent_box = QGroupBox("Recent projects — double-click to reopen", self)
        QVBoxLayout(recent_box).addWidget(self.recent)
        row = QHBoxLayout()
        row.addLayout(start, 1)
        row.addWidget(data_box, 2)
        row.addWidget(recent_box, 2)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 30, 40, 30)
        outer.addWidget(title)
        outer.addLayout(row, 1)
        outer.addWidget(self.progress)
        outer.addWidget(self.message)

    def refresh(self) -> None:
        """Re-list the shared datasets and the recent projects."""
        self.datasets.clear()
        for d in available_datasets():
            done = " — project ready" if project_path(d.name).exists() else ""
            item = QListWidgetItem(f"{d.name}  ({d.task}){done}\n    {d.description}")
            item.setData(Qt.ItemDataRole.UserRole, d.name)
            self.datasets.addItem(item)
        if not self.datasets.count():
            self.datasets.addItem("(no ../shared/data folder found)")
        self.recent.clear()
        for p in settings.recent_projects():
            item = QListWidgetItem(f"{p.stem}\n    {p}")
            item.setData(Qt.ItemDataRole.UserRole, str(p))
            self.recent.addItem(item)

    # ------------------------------------------------------------------ actions
    def _run(self, what: str, fn: Callable[[Callable[[int, int], None]], Path]) -> None:
        if self.task is not None and self.task.isRunning():
            return
        self.message.setText(what + "…")
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.task = FunctionTask(fn, self)
        self.task.progressed.connect(self._on_progress)
        self.task.succeeded.connect(self._on_done)
        self.task.failed.connect(self._on_failed)
        for b in (self.demo_button, self.new_button, self.open_button, self.dataset_button):
            b.setEnabled(False)
        self.task.finished.connect(self._finished)
        self.task.start()

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _finished(self) -> None:
        self.progress.setVisible(False)
        for b in (self.demo_button, self.new_button, self.open_button, self.dataset_button):
            b.setEnabled(True)

    def _on_done(self, project: Path) -> None:
        self.message.setText("")
        self.openRequested.emit(Path(project))

    def _on_failed(self, message: str) -> None:
        self.message.setText(f"Failed: {message}")
        QMessageBox.warning(self, "Vision Studio", message)

    def open_demo(self) -> None:
        """Build (once) and open the demo project."""
        from vision_studio.core.demo import build_demo_project
        from vision_studio.core.paths import demo_dir

        self._run("Building the demo project", lambda _p: build_demo_project(demo_dir()))

    def open_dataset(self, name: str) -> None:
        """Import shared dataset ``name`` into a project (once) and open it."""
        self._run(f"Importing {name}", lambda p: import_dataset(name, progress=p)[0])

    def _open_selected_dataset(self) -> None:
        item = self.datasets.currentItem()
        if item is not None:
            self._dataset_activated(item)

    def _dataset_activated(self, item: QListWidgetItem) -> None:
        name = item.data(Qt.ItemDataRole.UserRole)
        if name:
            self.open_dataset(name)

    def new_project(self, folder: Path, project: Path) -> None:
        """Create ``project`` from the images of ``folder`` in the background, then open it."""
        self._run(f"Adding the images of {folder}",
                  lambda p: create_project_from_folder(folder, project, p))

    def ask_new_project(self) -> None:
        """Ask for a folder of images and where to save the project, then create it."""
        folder = QFileDialog.getExistingDirectory(self, "Folder of images")
        if not folder:
            return
        default = str(Path(folder) / f"{Path(folder).name}{PROJECT_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self, "Save the project as", default,
                                              f"Vision Studio project (*{PROJECT_SUFFIX})")
        if path:
            self.new_project(Path(folder), Path(path))

    def ask_open(self) -> None:
        """Ask for a project file and open it."""
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "",
                                              f"Vision Studio project (*{PROJECT_SUFFIX});;All files (*)")
        if path:
            self.openRequested.emit(Path(path))

    def shutdown(self) -> None:
        """Wait for a running background task (before the window is destroyed)."""
        if self.task is not None and self.task.isRunning():
            self.task.cancel()
            self.task.wait()
