""""Pre-label with model…": the dialog, and the run in the background (issue 14).

The dialog picks one checkpoint of the project's runs (``best.pt`` / ``last.pt``,
:func:`~vision_studio.core.evaluation.session.checkpoint_choices`), which images
(the unlabelled ones, all, or one split) and the lowest score kept. The run is
:func:`vision_studio.core.assist.prelabel.prelabel` in an
:class:`~.assist_job.AssistJob` (its own store connection), with a progress dialog whose
Cancel stops it at the next batch (of tiles, in a large image) and stores nothing. When
it ends, the proposals it stored are shown on the canvas
(:attr:`PrelabelController.proposalsAdded`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QDoubleSpinBox, QFormLayout, QLabel, QMessageBox, QProgressDialog, QWidget

from vision_studio.gui.panels.annotate.assist_job import AssistController, AssistJob, checkpoint_combo, dialog_buttons
from vision_studio.gui.state import AppState

log = logging.getLogger(__name__)

STEPS = 100
"""Progress-bar steps per image: a large image, predicted tile by tile, moves the bar."""
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
        self.checkpoint, self.choices = checkpoint_combo(store, self)
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
        form.addRow(dialog_buttons(self, "Pre-label", bool(self.choices)))

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


class PrelabelController(AssistController):
    """Asks (:meth:`ask`), runs (:meth:`start`) and reports one pre-labelling job at a time.

    Signals:
        proposalsAdded(int): a run ended; this many proposals were stored.
        failed(str): a run failed or was cancelled (one line).
    """

    proposalsAdded = Signal(int)
    failed = Signal(str)

    def __init__(self, state: AppState, parent: QWidget) -> None:
        super().__init__(state, parent)
        self.progress: QProgressDialog | None = None

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
        if self._launch(prelabel_job(request), "prelabel") is None:
            return None
        self.progress = QProgressDialog("Pre-labelling: loading the model…", "Cancel", 0, 0,
                                        self.parent_widget)
        self.progress.setWindowTitle("Pre-label with model")
        self.progress.setWindowModality(Qt.WindowModality.NonModal)
        self.progress.setMinimumDuration(0)
        self.progress.setAutoClose(False)
        self.progress.setAutoReset(False)
        self.progress.canceled.connect(self.cancel)  # a GUI-thread slot: the job's thread is busy
        self.job.progress.connect(self._on_progress)
        self.progress.show()
        self.job.start()
        return self.job

    def cancel(self) -> None:
        """Stop the running job (at its next batch)."""
        if self.job is not None:
            self.job.cancel()

    def _on_progress(self, done: float, total: int) -> None:
        if self.progress is not None:
            self.progress.setMaximum(max(total, 1) * STEPS)
            self.progress.setValue(round(done * STEPS))
            if float(done).is_integer():
                self.progress.setLabelText(f"Pre-labelling: image {int(done):,} of {total:,}")
            else:  # within a large image, predicted tile by tile
                self.progress.setLabelText(f"Pre-labelling: image {int(done) + 1:,} of {total:,} "
                                           f"(tiles: {done % 1:.0%})")

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
            self.proposalsAdded.emit(0)  # before the message: its own ("made 0 proposal(s)") would replace it
            self.state.statusMessage.emit("Pre-labelling cancelled: no proposal was stored")
            return
        log.error("pre-labelling failed: %s", message)
        QMessageBox.warning(self.parent_widget, "Pre-label with model", f"Pre-labelling failed: {message}")
