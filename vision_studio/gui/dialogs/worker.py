"""Run a core function (an import, an export) in a ``QThread`` with progress and cancel.

The function gets its OWN :class:`ProjectStore` connection on the project file, so the
GUI thread keeps reading the project (WAL readers are not blocked by the writer) while a
long import holds its write transaction. Results and errors come back as GUI-thread
signals carrying plain Python values.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.store import ProjectStore

log = logging.getLogger(__name__)


class Cancelled(VisionStudioError):
    """The user cancelled the operation (an import is rolled back: nothing changed)."""


class _Task(QThread):
    """What :class:`StoreTask` and :class:`FunctionTask` share: the signals, cancelling at
    the next progress report, and turning the outcome into ``succeeded`` / ``failed``."""

    progressed = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(str)

    _cancelled_message = "cancelled by the user"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = False

    def cancel(self) -> None:
        """Ask the task to stop at its next progress report."""
        self._cancel = True

    def _progress(self, done: int, total: int) -> None:
        if self._cancel:
            raise Cancelled(self._cancelled_message)
        self.progressed.emit(int(done), int(total))

    def _emit_outcome(self, call: Callable[[], Any], what: str) -> None:
        """Run ``call()`` and emit its result or its error message; an unexpected
        exception is logged (as "``what`` failed") and reported by type and text."""
        try:
            result = call()
        except VisionStudioError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # never let a traceback reach the user
            log.exception("%s failed", what)
            self.failed.emit(f"unexpected {type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(result)


class StoreTask(_Task):
    """Runs ``fn(store, progress)`` on a fresh connection to ``project``.

    Signals (delivered in the GUI thread):
        progressed(int, int): done, total (total 0 = unknown).
        succeeded(object): ``fn``'s return value.
        failed(str): the error message (a :class:`VisionStudioError`'s text, or the
            type and text of an unexpected exception, never a traceback).
    """

    _cancelled_message = "cancelled by the user: nothing was changed"

    def __init__(self, project: Path, fn: Callable[[ProjectStore, Callable[[int, int], None]], Any],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = Path(project)
        self.fn = fn

    def run(self) -> None:  # worker thread
        try:
            store = ProjectStore.open(self.project)
        except VisionStudioError as exc:
            self.failed.emit(str(exc))
            return
        try:
            self._emit_outcome(lambda: self.fn(store, self._progress), f"task on {self.project}")
        finally:
            store.close()


class FunctionTask(_Task):
    """Runs ``fn(progress)`` (no project needed: building the demo, importing a dataset
    into a new project) with the same signals as :class:`StoreTask`."""

    def __init__(self, fn: Callable[[Callable[[int, int], None]], Any],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fn = fn

    def run(self) -> None:  # worker thread
        self._emit_outcome(lambda: self.fn(self._progress), "background task")
