""""Pre-label with model…": the dialog, and the run in the background (issue 14).

The dialog picks one checkpoint of the project's runs (``best.pt`` / ``last.pt``,
:func:`~vision_studio.core.evaluation.session.checkpoint_choices`), which images
(the unlabelled ones, all, or one split) and the lowest score kept. The run is
:func:`vision_studio.core.assist.prelabel.prelabel` in an
:class:`~.assist_job.AssistJob` (its own store connection), with a progress dialog whose
Cancel stops it at the next batch. When it ends, the proposals it stored are shown on
the canvas (:attr:`PrelabelController.proposalsAdded`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel,
                               QMessageBox, QProgressDialog, QWidget)

from vision_studio.core.evaluation.session import checkpoint_choices, default_choice
from vision_studio.gui.panels.annotate.assist_job import AssistJob
from vision_studio.gui.state import AppState

log = logging.getLogger(__name__)

UNLABELLED, ALL = "unlabelled", "all"
"""Image choices besides a split name (the ``--images`` values of ``vision-studio prelabel``)."""


@dataclass(frozen=True)
class PrelabelRequest:
    """What to pre-label.

    Attributes:
        checkpoint: The checkpoint file.
        images: ``"unlabelled"``, ``"all"`` or a split name.
        score: Lowest score kept (0–1).
    """

    checkpoint: Path
    images: str = UNLABELLED
    score: float = 0.5


class PrelabelDialog(QDialog):
    """Checkpoint, images and score of a pre-labelling run.

    Args:
        store: The open project (its runs' checkpoints and splits are offered).
        parent: Parent widget.
    """

    def __init__(self, store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pre-label with model")
        form = QFormLayout(self)
        self.choices = checkpoint_choices(store)
        self.checkpoint = QComboBox(self)
        for c in self.choices:
            self.checkpoint.addItem(c.label, str(c.path))
        if self.choices:
            self.checkpoint.setCurrentIndex(default_choice(self.choices))
        self.checkpoint.setToolTip("A checkpoint of one of the project's runs")
        form.addRow("Checkpoint", self.checkpoint)
        self.images = QComboBox(self)
        self.images.addItem("Unlabelled images", UNLABELLED)
        self.images.addItem("All images", ALL)
        for split in (s for s in store.splits() if s):
            self.images.addItem(f"Split: {split}", split)
        self.images.setToolTip("Which images get proposals (an image's earlier proposals of "
                               "the same run are replaced)")
        form.addRow("Images", self.images)
        self.score = QDoubleSpinBox(self)
        self.score.setRange(0.0, 1.0)
        self.score.setSingleStep(0.05)
        self.score.setValue(0.5)
        self.score.setToolTip("Predictions scoring below this are not stored")
        form.addRow("Lowest score", self.score)
        if not self.choices:
            form.addRow(QLabel("The project has no trained checkpoint yet: train a model "
                               "(Model tab) first.", self))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Pre-label")
        buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.choices))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def request(self) -> PrelabelRequest | None:
        """The choices made, or None without a checkpoint."""
        if not self.choices:
            return None
        return PrelabelRequest(Path(self.checkpoint.currentData()), self.images.currentData(),
                               float(self.score.value()))


def prelabel_job(request: PrelabelRequest):
    """The job function (:data:`~.assist_job.JobFn`) running ``request``: returns the
    number of proposals stored."""
    def job(store, progress, cancelled) -> int:
        from vision_studio.core.assist.prelabel import prelabel  # torch: loaded on first use

        result = prelabel(store, request.checkpoint, images=request.images, score=request.score,
                          progress=progress, cancel=cancelled, slicing="auto")
        return len(result.proposals)
    return job


class PrelabelController(QObject):
    """Asks (:meth:`ask`), runs (:meth:`start`) and reports one pre-labelling job at a time.

    Signals:
        proposalsAdded(int): a run ended; this many proposals were stored.
        failed(str): a run failed or was cancelled (one line).
    """

    proposalsAdded = Signal(int)
    failed = Signal(str)

    def __init__(self, state: AppState, parent: QWidget) -> None:
        super().__init__(parent)
        self.state = state
        self.parent_widget = parent
        self.job: AssistJob | None = None
        self.progress: QProgressDialog | None = None

    @property
    def running(self) -> bool:
        """Whether a job runs."""
        return self.job is not None and not self.job.finished

    def ask(self) -> None:
        """The dialog, then :meth:`start` with its choices."""
        store = self.state.store
        if store is None:
            return
        if self.running:
            self.state.statusMessage.emit("Pre-labelling is already running")
            return
        dlg = PrelabelDialog(store, self.parent_widget)
        if dlg.exec() == QDialog.DialogCode.Accepted and dlg.request() is not None:
            self.start(dlg.request())

    def start(self, request: PrelabelRequest) -> AssistJob | None:
        """Run ``request`` in the background with a progress dialog (Cancel stops it)."""
        store = self.state.store
        if store is None or self.running:
            return None
        self.job = AssistJob(store.path, prelabel_job(request), "prelabel")
        self.progress = QProgressDialog("Pre-labelling: loading the model…", "Cancel", 0, 0,
                                        self.parent_widget)
        self.progress.setWindowTitle("Pre-label with model")
        self.progress.setWindowModality(Qt.WindowModality.NonModal)
        self.progress.setMinimumDuration(0)
        self.progress.setAutoClose(False)
        self.progress.setAutoReset(False)
        self.progress.canceled.connect(self.cancel)  # a GUI-thread slot: the job's thread is busy
        self.job.progress.connect(self._on_progress)
        self.job.done.connect(self._on_done)
        self.job.failed.connect(self._on_failed)
        self.progress.show()
        self.job.start()
        return self.job

    def cancel(self) -> None:
        """Stop the running job (at its next batch)."""
        if self.job is not None:
            self.job.cancel()

    def shutdown(self) -> None:
        """Stop and wait for a running job (before the window is destroyed)."""
        if self.job is not None:
            self.job.stop()

    def _on_progress(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress.setMaximum(max(total, 1))
            self.progress.setValue(done)
            self.progress.setLabelText(f"Pre-labelling: image {done:,} of {total:,}")

    def _close_progress(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None

    def _on_done(self, count: int) -> None:
        self._close_progress()
        self.proposalsAdded.emit(int(count))

    def _on_failed(self, message: str) -> None:
        self._close_progress()
        self.failed.emit(message)
        if message == "cancelled":
            self.state.statusMessage.emit("Pre-labelling cancelled (the images done so far keep their proposals)")
            self.proposalsAdded.emit(0)
            return
        log.error("pre-labelling failed: %s", message)
        QMessageBox.warning(self.parent_widget, "Pre-label with model", f"Pre-labelling failed: {message}")
