"""File → "Attach checkpoint trained elsewhere…": pick a ``best.pt`` / ``last.pt`` made on
another machine and add it to the project as a finished run
(:func:`vision_studio.core.training.attach.attach_checkpoint`), so that Evaluate,
"Pre-label with model" and "Label next" offer it.

The attach (reading, checking and copying the file: seconds for a large detector) runs
in a :class:`~vision_studio.gui.dialogs.worker.StoreTask` thread on its own connection;
its outcome comes back on the GUI thread: :attr:`AppState.runsChanged` (every list of
runs re-reads the project) and a status-bar line, or a dialog naming the file and the
problem.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from vision_studio.gui import settings
from vision_studio.gui.dialogs.worker import StoreTask
from vision_studio.gui.state import AppState

LAST_DIR = "attach/last_dir"
FILTER = "Vision Studio checkpoints (*.pt *.pth);;All files (*)"


class AttachRun(QObject):
    """The menu action's controller.

    Signals:
        attached(object): the :class:`~vision_studio.core.training.attach.AttachedRun`.
        failed(str): the error shown to the user.

    Args:
        state: The shared :class:`AppState`.
        parent: The window (parent of the dialogs).
    """

    attached = Signal(object)
    failed = Signal(str)

    def __init__(self, state: AppState, parent: QWidget) -> None:
        super().__init__(parent)
        self.state = state
        self.window = parent
        self.task: StoreTask | None = None

    def ask(self) -> bool:
        """Ask for the file, then attach it; False when cancelled or busy."""
        if self.state.store is None or self.busy:
            return False
        start = str(settings.value(LAST_DIR, "") or self.state.store.path.parent)  # first time: the project's
        path, _f = QFileDialog.getOpenFileName(self.window, "Attach a checkpoint trained elsewhere", start, FILTER)
        if not path:
            return False
        settings.set_value(LAST_DIR, str(Path(path).parent))
        return self.start(Path(path))

    @property
    def busy(self) -> bool:
        """An attach is running."""
        return self.task is not None and self.task.isRunning()

    def start(self, path: Path, name: str | None = None) -> bool:
        """Attach ``path`` in the background (see :func:`attach_checkpoint`)."""
        from vision_studio.core.training.attach import attach_checkpoint

        if self.state.store is None or self.busy:
            return False
        store = self.state.store
        self.task = StoreTask(store.path, lambda s, _p: attach_checkpoint(s, path, name), self)
        self.task.succeeded.connect(lambda done: self._done(store, done))
        self.task.failed.connect(lambda msg: self._failed(store, msg))
        self.state.statusMessage.emit(f"Attaching {path.name}…")
        self.task.start()
        return True

    def _done(self, store: Any, done: Any) -> None:
        if self.state.store is not store:  # the project was closed meanwhile
            return
        note = (f"; it does not predict {', '.join(done.uncovered)}" if done.uncovered else "")
        self.state.runsChanged.emit()
        self.state.statusMessage.emit(f"Attached {done.source.name} as run {done.run.name!r}: Evaluate, "
                                      f"Pre-label and Label next offer it now{note}")
        self.attached.emit(done)

    def _failed(self, store: Any, message: str) -> None:
        self.failed.emit(message)
        if self.state.store is store:
            QMessageBox.warning(self.window, "Cannot attach the checkpoint", message)

    def shutdown(self) -> None:
        """Wait for a running attach (seconds at most) before the window goes."""
        if self.task is not None:
            self.task.wait()
