"""A model-assistance computation off the GUI thread, with its own store connection
(pre-labelling, Label-next scoring: issue 14).

SQLite connections belong to the thread that made them, and a job that writes hundreds
of proposals must not hold the GUI's connection: :class:`AssistJob` opens the project
file again in its worker thread (:meth:`ProjectStore.open`), runs the job there, and
closes it. The store's WAL mode lets the GUI keep reading and editing meanwhile; the
GUI re-reads what the job wrote when :attr:`AssistJob.done` arrives.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.store import ProjectStore

log = logging.getLogger(__name__)

JobFn = Callable[[ProjectStore, Callable[[int, int], None], Callable[[], bool]], Any]
"""``fn(store, progress, cancelled) -> result``: runs in the worker thread on its own
store; ``progress(done, total)`` reports, ``cancelled()`` says whether to stop (raise or
return early). The result must be plain data (no Qt objects)."""


class JobCancelled(VisionStudioError):
    """Raised by a job function that noticed ``cancelled()``."""


class AssistJob(QObject):
    """Runs ``fn`` (:data:`JobFn`) on project ``path`` in its own ``QThread``.

    Signals (queued to the GUI thread):
        progress(int, int): done, total.
        done(object): the job's result.
        failed(str): one line (``"cancelled"`` after :meth:`cancel`).
    """

    progress = Signal(int, int)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, path: Path, fn: JobFn, name: str = "assist") -> None:
        super().__init__()
        self.path, self.fn = Path(path), fn
        self.cancelled = False
        self.finished = False
        self.thread = QThread()
        self.thread.setObjectName(name)
        self.moveToThread(self.thread)
        self.thread.started.connect(self.run)

    def start(self) -> None:
        """Start the worker thread."""
        self.thread.start()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self.cancelled = True

    def stop(self, timeout_ms: int = 60_000) -> bool:
        """Cancel, then wait for the thread to end (before the window closes)."""
        self.cancel()
        self.thread.quit()
        return self.thread.wait(timeout_ms)

    def run(self) -> None:
        """The worker thread: open, run, close; always quits the thread."""
        try:
            store = ProjectStore.open(self.path)
            try:
                result = self.fn(store, self.progress.emit, lambda: self.cancelled)
            finally:
                store.close()
            if self.cancelled:
                self.failed.emit("cancelled")
            else:
                self.done.emit(result)
        except JobCancelled:
            self.failed.emit("cancelled")
        except VisionStudioError as exc:
            self.failed.emit("cancelled" if self.cancelled else str(exc))
        except Exception as exc:  # a worker must never take the app down
            log.exception("%s failed", self.thread.objectName())
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        finally:
            self.finished = True
            self.thread.quit()
