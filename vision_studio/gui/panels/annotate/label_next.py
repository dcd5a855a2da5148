""""Label next": the unlabelled images ordered by how unsure the model is (issue 14).

The scores come from :mod:`vision_studio.core.assist.queue` (classification
``entropy`` / ``margin`` / ``least_confident`` of the softmax, detection and
segmentation image scores, ``coreset`` diversity, ``random``; higher = label sooner),
computed in the background (:class:`~.assist_job.AssistJob`) after every finished
training run and on demand ("Score unlabelled images…"), and stored in the project
(``store.set_queue_scores``). The image browser then shows each image's score on its
thumbnail and, in the "Label next" order, sorts by it (most uncertain first);
:meth:`LabelNext.label_next` shows the top-scored image that is still unlabelled.
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QProgressBar,
                               QToolButton, QVBoxLayout, QWidget)

from vision_studio.core.assist.uncertainty import DEFAULT_STRATEGY as CORE_DEFAULT
from vision_studio.core.assist.uncertainty import STRATEGIES as CORE_STRATEGIES
from vision_studio.core.evaluation.session import checkpoint_file
from vision_studio.core.store.filters import ImageFilter, filter_image_ids
from vision_studio.gui.panels.annotate.assist_job import AssistController, AssistJob, checkpoint_combo, dialog_buttons
from vision_studio.gui.state import AppState

log = logging.getLogger(__name__)

STRATEGIES = CORE_STRATEGIES
"""What "Score unlabelled images…" offers: every strategy of the core queue, its default
(``typiclust``, model-free, the best measured on small budgets) preselected."""
DEFAULT_STRATEGY = "entropy"
"""The scoring after every finished run: the new model's own uncertainty (TypiClust does
not look at the model, and its ImageNet feature backbone may not be on the computer)."""
ORDER_PROJECT, ORDER_SCORE = 0, 1
SETTING = "label_next"
"""Project setting: ``{"order": "score" | "project", "auto": bool}`` (kept when the
project is closed and opened again)."""


def queue_job(checkpoint: Path, strategy: str):
    """The job function scoring the unlabelled images with ``checkpoint``: stores the
    scores (``set_queue_scores``) and returns how many images were scored."""
    def job(store, progress, cancelled) -> int:
        from vision_studio.core.assist.queue import score_images  # torch: loaded on first use

        result = score_images(store, strategy, checkpoint, progress=progress, cancel=cancelled)
        return len(result.image_ids)
    return job


class QueueDialog(QDialog):
    """Checkpoint and strategy of a Label-next scoring."""

    def __init__(self, store, auto: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Score unlabelled images")
        form = QFormLayout(self)
        self.checkpoint, self.choices = checkpoint_combo(store, self)
        form.addRow("Checkpoint", self.checkpoint)
        self.strategy = QComboBox(self)
        for s in STRATEGIES:
            self.strategy.addItem(s.replace("_", " "), s)
        self.strategy.setCurrentIndex(self.strategy.findData(CORE_DEFAULT))
        self.strategy.setToolTip("typiclust: the most typical image of each group of similar images "
                                 "not labelled yet (Hacohen et al. 2022; best with few labels); "
                                 "entropy / margin / least confident: the model's uncertainty; "
                                 "coreset: the images least like the labelled ones (k-center "
                                 "greedy, Sener & Savarese 2018); random: a baseline")
        form.addRow("Strategy", self.strategy)
        self.auto = QCheckBox("Score again after every finished training run", self)
        self.auto.setChecked(auto)
        form.addRow(self.auto)
        form.addRow(dialog_buttons(self, "Score", bool(self.choices)))


class LabelNext(AssistController):
    """Label-next scores in the image browser, the scoring job, and the jump.

    Args:
        state: The session state (project, runs, current image).
        model: The browser's :class:`~.browser.BrowserModel` (``set_scores``).
        browser: The image browser.
        parent: Parent widget.

    Attributes:
        widget: The "Order" row the panel puts above the browser.
        auto: Score the unlabelled images after every finished run.

    Signals:
        scored(int): a scoring ended; this many images got a score.
    """

    scored = Signal(int)

    def __init__(self, state: AppState, model, browser, parent: QWidget) -> None:
        super().__init__(state, parent)
        self.model, self.browser = model, browser
        self.auto = True
        self._scored_runs: set[str] = set()
        self.widget = QWidget(parent)
        rows = QVBoxLayout(self.widget)
        rows.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        rows.addLayout(row)
        self._buttons = QHBoxLayout()
        rows.addLayout(self._buttons)
        row.addWidget(QLabel("Order", self.widget))
        self.order = QComboBox(self.widget)
        self.order.addItem("Project order", ORDER_PROJECT)
        self.order.addItem("Most uncertain first (Label next)", ORDER_SCORE)
        self.order.setToolTip("Sort the images by the model's uncertainty score (shown on "
                              "each thumbnail); Annotate → Score unlabelled images… computes it")
        self.order.currentIndexChanged.connect(lambda _i: (self.apply(), self._save_prefs()))
        row.addWidget(self.order, 1)
        self._build_progress(rows)
        state.projectOpened.connect(lambda _s: self._on_project_opened())
        state.runsChanged.connect(self._on_runs_changed)

    def _build_progress(self, rows: QVBoxLayout) -> None:
        """A "Scoring n / N" bar with a Cancel button, shown while a scoring runs (it
        takes minutes on a CPU: without it nothing said that it ran, nor how to stop it)."""
        self.progress_row = QWidget(self.widget)
        line = QHBoxLayout(self.progress_row)
        line.setContentsMargins(0, 0, 0, 0)
        self.progress = QProgressBar(self.progress_row)
        self.progress.setFormat("Scoring %v / %m")
        self.progress.setRange(0, 0)  # busy until the first report (the model loads)
        self.progress.setToolTip("Label next: the unlabelled images are being scored in the background")
        line.addWidget(self.progress, 1)
        self.cancel_button = QToolButton(self.progress_row)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop the scoring (at the next batch)")
        self.cancel_button.clicked.connect(self.cancel)
        line.addWidget(self.cancel_button)
        self.progress_row.hide()
        rows.addWidget(self.progress_row)

    def cancel(self) -> None:
        """Stop the running scoring at its next batch."""
        if self.running:
            self.job.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(int(total), 1))
        self.progress.setValue(int(done))

    def add_actions(self, *actions) -> None:
        """Buttons of ``actions`` (Score…, Label next) under the Order row."""
        for act in actions:
            button = QToolButton(self.widget)
            button.setDefaultAction(act)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self._buttons.addWidget(button)

    # ------------------------------------------------------------------ browser
    def scores(self) -> dict[int, float]:
        """The stored scores (``{image_id: score}``, highest first), ``{}`` when none."""
        store = self.state.store
        return {} if store is None else store.queue_scores()

    def apply(self) -> None:
        """Give the browser the stored scores and the chosen order."""
        current = self.state.current_image
        self.model.set_scores(self.scores(), ordered=self.order.currentData() == ORDER_SCORE)
        if current is not None:
            self.browser.select_image(current.id)

    def set_ordered(self, ordered: bool) -> None:
        """Choose the Label-next order (True) or the project order."""
        self.order.setCurrentIndex(ORDER_SCORE if ordered else ORDER_PROJECT)

    def next_image_id(self) -> int | None:
        """The unlabelled image with the highest score, or None."""
        store = self.state.store
        scores = self.scores()
        if store is None or not scores:
            return None
        unlabelled = set(filter_image_ids(store, ImageFilter(labelled=False)))
        return next((i for i in scores if i in unlabelled), None)  # highest score first

    def label_next(self) -> bool:
        """Show the most uncertain unlabelled image; False (with a status line) when none."""
        image_id = self.next_image_id()
        if image_id is None:
            msg = ("No Label-next scores yet: Annotate → Score unlabelled images…" if not self.scores()
                   else "Every scored image is labelled: score the unlabelled images again")
            self.state.statusMessage.emit(msg)
            return False
        self.state.showImageRequested.emit(image_id)
        return True

    # ------------------------------------------------------------------ scoring
    def ask(self) -> None:
        """The dialog, then :meth:`start`."""
        store = self.state.store
        if store is None:
            return
        dlg = QueueDialog(store, self.auto, self.parent_widget)
        if dlg.exec() == QDialog.DialogCode.Accepted and dlg.choices:
            self.auto = dlg.auto.isChecked()
            self._save_prefs()
            self.start(Path(dlg.checkpoint.currentData()), dlg.strategy.currentData())

    def start(self, checkpoint: Path, strategy: str = DEFAULT_STRATEGY) -> AssistJob | None:
        """Score the unlabelled images with ``checkpoint`` in the background."""
        if self._launch(queue_job(Path(checkpoint), strategy), "label-next") is None:
            return None
        self.state.statusMessage.emit(f"Scoring the unlabelled images ({strategy}) in the background…")
        self.progress.setRange(0, 0)
        self.progress_row.show()
        self.job.progress.connect(self._on_progress)
        self.job.start()
        return self.job

    def _on_done(self, count: int) -> None:
        self.progress_row.hide()
        self.set_ordered(True)
        self.apply()
        self.state.statusMessage.emit(f"Label next: {count:,} unlabelled image(s) scored")
        self.scored.emit(int(count))

    def _on_failed(self, message: str) -> None:
        self.progress_row.hide()
        log.warning("Label-next scoring: %s", message)
        self.state.statusMessage.emit(f"Label-next scoring {message}" if message == "cancelled"
                                      else f"Label-next scoring failed: {message}")

    def _on_project_opened(self) -> None:
        store = self.state.store
        self._scored_runs = {r.name for r in store.runs()} if store is not None else set()
        prefs = (store.get_setting(SETTING) or {}) if store is not None else {}
        self.auto = bool(prefs.get("auto", True))
        self.order.blockSignals(True)  # restoring is not a change to save
        self.order.setCurrentIndex(ORDER_SCORE if prefs.get("order") == "score" else ORDER_PROJECT)
        self.order.blockSignals(False)
        self.apply()

    def _save_prefs(self) -> None:
        """Keep the order and the after-every-run choice in the project (quit and reopen:
        the Label-next order was back to the project order)."""
        store = self.state.store
        if store is None:
            return
        try:
            store.set_setting(SETTING, {"order": "score" if self.order.currentData() == ORDER_SCORE else "project",
                                        "auto": bool(self.auto)})
        except Exception as exc:  # a read-only or closing project: the view still works
            log.warning("could not keep the Label-next order in the project: %s", exc)

    def _on_runs_changed(self) -> None:
        """After a run finished: score the unlabelled images with its checkpoint."""
        store = self.state.store
        if not self.auto or store is None or self.running:
            return
        finished = [r for r in store.runs() if r.status == "finished" and r.name not in self._scored_runs]
        if not finished or not filter_image_ids(store, ImageFilter(labelled=False)):
            return
        run = finished[-1]
        self._scored_runs.add(run.name)
        folder = Path(run.out_dir)
        ckpt = checkpoint_file(folder if folder.is_absolute() else store.root / folder)
        if ckpt.is_file():
            self.start(ckpt)
