"""Starting a run from the Model tab, and saying at once, on that tab, when it fails.

:class:`Launcher` owns the inline error line under "Start training" and the library
weights download (progress bar, Cancel). A run whose library weights are not on this
machine downloads them first (cancellable, with progress); a download or a start that
fails shows the reason and the fix ("use a weights file" / "choose None") right there,
instead of only in the Training tab's log minutes later.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QWidget

from vision_studio.core.training.config import TrainConfig
from vision_studio.gui.widgets.fitlabel import wrapping

log = logging.getLogger(__name__)

FIX_WEIGHTS = ("Fix: pick a file with “Use a weights file…”, or choose “None — random "
               "initialisation” (with the ‘From scratch’ strategy).")


def error_label(parent: QWidget, name: str) -> QLabel:
    """A red, word-wrapped, selectable label that can never widen its window."""
    lab = wrapping(QLabel("", parent, objectName=name))
    lab.setStyleSheet("color: #b00020;")
    lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    lab.hide()
    return lab


def is_library_weights(spec: Any, weights: str | None) -> bool:
    """True if ``weights`` names one of the architecture's library weights (not a file)."""
    return bool(weights) and spec is not None and weights in spec.weights


class Launcher(QObject):
    """Download-then-start and the Model tab's start errors.

    Args:
        panel: The Model panel (``state``, ``arch`` section).
        error: The inline error label under the Start button.

    Attributes:
        task: The running download (a ``FunctionTask``) or ``None``.
        last_error: The text shown in ``error`` (``""`` when none).
    """

    def __init__(self, panel: Any, error: QLabel) -> None:
        super().__init__(panel)
        self.panel, self.error = panel, error
        self.task: Any = None
        self.last_error = ""
        self._waiting = False  # a run started here has not reported TrainStarted yet
        self._then: Callable[[], None] | None = None
        engine = panel.state.engine
        engine.started.connect(lambda _ev: self._run_started())
        engine.failed.connect(self._engine_failed)
        panel.arch.cancel_download.clicked.connect(self.cancel)

    # ------------------------------------------------------------------ errors
    def show_error(self, text: str) -> None:
        """Show ``text`` under the Start button (and in the status bar)."""
        self.last_error = text
        self.error.setText(text)
        self.error.setToolTip(text)
        self.error.setVisible(bool(text))
        if text:
            self.panel.state.statusMessage.emit(text.splitlines()[0])

    def clear(self) -> None:
        self.show_error("")

    def start_failed(self, cfg: TrainConfig | None, message: str) -> None:
        """A start (or its download) failed: the reason, and the fix for weights."""
        weights = cfg.weights if cfg is not None else None
        fix = f"\n{FIX_WEIGHTS}" if weights and ("weights" in message.lower()
                                                 or "download" in message.lower()) else ""
        self.show_error(f"Training did not start: {message}{fix}")

    def expect_start(self) -> None:
        """A run was just submitted: its early failure belongs to this tab."""
        self._waiting = True

    def _run_started(self) -> None:
        self._waiting = False

    def _engine_failed(self, message: str) -> None:
        if self._waiting:
            self._waiting = False
            try:
                cfg = self.panel.config()
            except Exception:  # the form may have changed meanwhile: no weights hint then
                cfg = None
            self.start_failed(cfg, message)

    # ------------------------------------------------------------------ download
    def needs_download(self, cfg: TrainConfig) -> bool:
        """True if the run's library weights are not on this machine yet."""
        from vision_studio.gui.panels.model import weights_status as ws

        spec = self.panel.arch.spec
        return (is_library_weights(spec, cfg.weights)
                and ws.availability(spec, cfg.weights) != ws.DOWNLOADED)

    def download(self, name: str, then: Callable[[], None] | None = None) -> bool:
        """Fetch library weights ``name`` in a background thread (progress, Cancel);
        ``then`` runs after a successful download. False if one is already running."""
        from vision_studio.gui.dialogs.worker import FunctionTask
        from vision_studio.gui.panels.model import weights_status as ws

        spec = self.panel.arch.spec
        if not name or spec is None or self.task is not None:
            return False
        arch = self.panel.arch
        arch.progress.setRange(0, 0)
        arch.progress.setFormat(f"downloading {name}… %p%")
        arch.progress.show()
        arch.cancel_download.show()
        self._then = then
        task = FunctionTask(lambda progress: ws.download(spec, name, progress), self)
        task.progressed.connect(self._progress)
        task.succeeded.connect(lambda _p: self._done(""))
        task.failed.connect(self._done)
        self.task = task
        task.start()
        return True

    def _progress(self, done: int, total: int) -> None:
        bar = self.panel.arch.progress
        bar.setRange(0, max(total, 0))
        bar.setValue(done if total > 0 else 0)

    def cancel(self) -> None:
        """Stop the download at its next chunk (nothing is kept; no run starts)."""
        if self.task is not None:
            self.task.cancel()
            self._then = None

    def _done(self, error: str) -> None:
        arch = self.panel.arch
        arch.progress.hide()
        arch.cancel_download.hide()
        if self.task is not None:
            self.task.wait()
            self.task = None
        then, self._then = self._then, None
        arch._fill_weights(keep=arch.current_weights())
        if error:
            self.show_error(f"Downloading the weights failed: {error}\n{FIX_WEIGHTS}")
        elif then is not None:
            then()

    def shutdown(self) -> None:
        """Cancel and wait for a running download (before the window is destroyed)."""
        if self.task is not None:
            self.task.cancel()
            self.task.wait(30000)

