"""A model-assistance computation off the GUI thread, with its own store connection
(pre-labelling, Label-next scoring: issue 14).

SQLite connections belong to the thread that made them, and a job that writes hundreds
of proposals must not hold the GUI's connection: :class:`AssistJob` opens the project
file again in its worker thread (:meth:`ProjectStore.open`), runs the job there, and
closes it. The store's WAL mode lets the GUI keep reading and editing meanwhile; the
GUI re-reads what the job wrote when :attr:`AssistJob.done` arrives.

:class:`AssistController` is the part the pre-labelling and Label-next controllers
share (one job at a time, stop on shutdown), and :func:`checkpoint_combo` /
:func:`dialog_buttons` the parts their dialogs share.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QWidget

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.evaluation.session import checkpoint_choices, default_choice
from vision_studio.core.store import ProjectStore

log = logging.getLogger(__name__)

JobFn = Callable[[ProjectStore, Callable[[float, int], None], Callable[[], bool]], Any]
"""``fn(store, progress, cancelled) -> result``: runs in the worker thread on its own
store; ``progress(done, total)`` reports, ``cancelled()`` says whether to stop (raise or
return early). The result must be plain data (no Qt objects)."""


class JobCancelled(VisionStudioError):
    """Raised by a job function that noticed ``cancelled()``."""


class AssistJob(QObject):
    """Runs ``fn`` (:data:`JobFn`) on project ``path`` in its own ``QThread``.

    Signals (queued to the GUI thread):
        progress(float, int): done, total (``done`` fractional within a large image
            predicted tile by tile: see :mod:`vision_studio.core.cancel`).
        done(object): the job's result.
        failed(str): one line (``"cancelled"`` after :meth:`cancel`).
    """

    progress = Signal(float, int)
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


class AssistController(QObject):
    """Runs one :class:`AssistJob` at a time for the open project of ``state``.

    Subclasses implement ``_on_done(result)`` and ``_on_failed(message)`` (GUI thread).

    Attributes:
        job: The last job started, or None.
    """

    def __init__(self, state, parent: QWidget) -> None:
        super().__init__(parent)
        self.state = state
        self.parent_widget = parent
        self.job: AssistJob | None = None

    @property
    def running(self) -> bool:
        """Whether a job runs."""
        return self.job is not None and not self.job.finished

    def _launch(self, fn: JobFn, name: str) -> AssistJob | None:
        """Start ``fn`` on the open project (its done / failed go to the subclass); None
        without a project or while a job runs."""
        store = self.state.store
        if store is None or self.running:
            return None
        self.job = AssistJob(store.path, fn, name)
        self.job.done.connect(self._on_done)
        self.job.failed.connect(self._on_failed)
        return self.job

    def shutdown(self) -> None:
        """Stop and wait for a running job (before the window is destroyed)."""
        if self.job is not None:
            self.job.stop()

    def _on_done(self, result: Any) -> None:
        raise NotImplementedError

    def _on_failed(self, message: str) -> None:
        raise NotImplementedError


def checkpoint_combo(store, parent: QWidget) -> tuple[QComboBox, list]:
    """A combo box of the project's checkpoints (data: the path as str), the default one
    current; and the choices (:func:`~vision_studio.core.evaluation.session.checkpoint_choices`)."""
    choices = checkpoint_choices(store)
    combo = QComboBox(parent)
    for c in choices:
        combo.addItem(c.label, str(c.path))
    if choices:
        combo.setCurrentIndex(default_choice(choices))
    return combo, choices


def dialog_buttons(dialog: QDialog, ok_text: str, enabled: bool) -> QDialogButtonBox:
    """OK (named ``ok_text``, enabled or not) and Cancel, wired to ``dialog``."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, dialog)
    ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok.setText(ok_text)
    ok.setEnabled(enabled)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons
