"""Shared application state: the one object panels use to talk to each other.

Panels never import each other (DESIGN.md, "Rules of direction"); they hold an
:class:`AppState`, read ``state.store`` and react to its signals.
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Category, ImageRecord

log = logging.getLogger(__name__)


class AppState(QObject):
    """The open project, the current image and the undo stack, with change signals.

    Signals:
        projectOpened(object): a :class:`ProjectStore` became current.
        projectClosed(): the current project was closed (``store`` is ``None`` now).
        currentImageChanged(object): the :class:`ImageRecord` shown (or ``None``).
        categoriesChanged(): categories were added, renamed, recoloured, merged or
            deleted — by an edit, its undo/redo or an import (emitted by
            :meth:`check_categories`; anyone caching categories re-reads them).
        annotationsChanged(int): annotations of this image id changed.
        imagesChanged(): images were added/removed or problems recorded (an import).
        showImageRequested(int): someone (a problems list, a report) asks the annotate
            panel to show this image id.
        statusMessage(str): a line for the status bar.
        runsChanged(): training runs were added, renamed, annotated or deleted.
        startWeightsRequested(str): someone (the runs list) asks the Model panel to
            start a new run from this checkpoint file.

    Attributes:
        engine: The app's one :class:`~vision_studio.gui.engine_adapter.TrainingEngine`
            (the training thread), shared by the Model and Training panels.
    """

    projectOpened = Signal(object)
    projectClosed = Signal()
    currentImageChanged = Signal(object)
    categoriesChanged = Signal()
    annotationsChanged = Signal(int)
    imagesChanged = Signal()
    showImageRequested = Signal(int)
    statusMessage = Signal(str)
    runsChanged = Signal()
    startWeightsRequested = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store: ProjectStore | None = None
        self.current_image: ImageRecord | None = None
        self.undo_stack = QUndoStack(self)
        self._categories: list[Category] = []
        self.undo_stack.indexChanged.connect(lambda _i: self.check_categories())
        from vision_studio.gui.engine_adapter import TrainingEngine

        self.engine = TrainingEngine(self)

    # ------------------------------------------------------------------ project
    def open_project(self, path: str | Path) -> ProjectStore:
        """Close the current project and open ``path``.

        Raises:
            StoreError: if the file is not a project (the current one stays closed).
        """
        store = ProjectStore.open(path)
        self.set_store(store)
        return store

    def set_store(self, store: ProjectStore) -> None:
        """Make an already-open ``store`` current (closing the previous one)."""
        self.close_project()
        self.store = store
        self._categories = store.categories()
        log.info("opened %s", store.path)
        self.projectOpened.emit(store)

    def close_project(self) -> None:
        """Close the current project, if any; the undo history goes with it."""
        if self.store is None:
            return
        self.undo_stack.clear()
        store, self.store = self.store, None
        self.current_image = None
        self.projectClosed.emit()
        try:
            store.close()
        except Exception as exc:  # closing must never take the app down
            log.warning("closing %s: %s", store.path, exc)

    def check_categories(self) -> bool:
        """Emit :attr:`categoriesChanged` if the stored categories differ from the last
        seen (called after every push/undo/redo and after imports); True if they did."""
        if self.store is None:
            return False
        cats = self.store.categories()
        if cats == self._categories:
            return False
        self._categories = cats
        self.categoriesChanged.emit()
        return True

    # ------------------------------------------------------------------ image
    def set_current_image(self, image: ImageRecord | None) -> None:
        """Record and announce the image on the canvas."""
        self.current_image = image
        self.currentImageChanged.emit(image)
