"""Opening an evaluation in the Evaluation panel: the source choice (checkpoints and
COCO results files, :mod:`.sources`), a checkpoint on a split (predictions from the
cache, else a background :class:`~.worker.PredictWorker` run), or a COCO results file
made by another tool ("Open predictions file…", read by the core
:func:`~vision_studio.core.evaluation.external_results.results_inputs` in the worker
thread), up to the first view. A mixin of :class:`~.panel.EvaluatePanel`.

A results file that cannot be reviewed (not JSON, not a list of results, unknown images
or categories, a project without boxes or masks) is one warning dialog with the core's
message; the panel keeps what it showed before.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.evaluation.detection_session import DetectionSession
from vision_studio.core.evaluation.session import EvalInputs, checkpoint_choices, default_choice, split_choices
from vision_studio.core.wording import plural
from vision_studio.gui.panels.evaluate.jobs import OpenResult, open_job, predicted_job, results_job
from vision_studio.gui.panels.evaluate.sources import (add_results_item, fill_sources, is_results, recent_results,
                                                       remember_results, run_tasks)
from vision_studio.gui.panels.evaluate.view_factory import make_view  # imported here, not in the first open
from vision_studio.gui.panels.evaluate.worker import PredictWorker

NO_CHECKPOINT = "No trained checkpoint yet: train a model in the Model tab first, or open a predictions file."
PICK = "Pick a checkpoint and a split, then Evaluate (or open a predictions file made elsewhere)."
STOPPING = "Stopping the prediction…"
STEPS = 100
"""Progress-bar steps per image (a large image, predicted tile by tile, moves the bar)."""
RESULTS_FILTER = "COCO results (*.json);;All files (*)"
"""What the file dialog lists (``[{"image_id", "category_id", "bbox", "score"}, …]``)."""


def predicting_text(images: Sequence[Any]) -> str:
    """The status line while ``images`` (image records) are predicted: how many, and —
    when some are larger than :data:`~vision_studio.core.evaluation.sliced.AUTO_MIN_SIDE`
    — that those may go tile by tile (sliced inference: minutes for a large photo on a
    CPU)."""
    from vision_studio.core.evaluation.sliced import AUTO_MIN_SIDE

    n = len(images)
    text = f"Predicting {plural(n, 'image')}…"
    large = sum(1 for im in images if max(int(im.width or 0), int(im.height or 0)) > AUTO_MIN_SIDE)
    if large:
        text += f" {large} of them larger than {AUTO_MIN_SIDE} px: predicted tile by tile, slower."
    return text


class PanelOpening:
    """Source choice, open / predict / review-a-file orchestration (mixed into the panel).

    ``self._last`` is what the view shows — ``(kind, source, split)`` with kind
    ``"checkpoint"`` or ``"results"`` — and ``self._pending`` what is being opened.
    """

    state: Any
    ui: Any
    view: Any
    inputs: Any
    worker: Any
    jobs: Any
    compute: Any
    device: str
    score: float
    nms: float
    thresholds: Any
    evaluated: Any
    failed: Any
    liveShown: Any  # noqa: N815 (a Qt signal)

    def _init_opening(self) -> None:
        self._opening = False  # from start() until the view is made
        self._cancel_open = False
        self._first_full = False  # view made, its first AP not shown yet: evaluated follows
        self._src = ""
        self._last: tuple[str, Any, str] | None = None
        self._pending: tuple[str, Any, str] | None = None
        self._before = ""  # the status line when the opening began
        self._results_files: list[Path] = []  # opened in this session (this project)
        self.error_box: QMessageBox | None = None

    # ------------------------------------------------------------------ choices
    def refresh_choices(self) -> None:
        """Re-read the project's checkpoints and splits, with the predictions files
        opened in this session and those remembered for this project; the newest
        finished run's ``best.pt`` is chosen unless the user's choice is still there."""
        store, ui = self.state.store, self.ui
        cur = ui.checkpoint.currentData()
        ui.split.clear()
        ui.results_btn.setEnabled(store is not None and not self._opening)
        if store is None:
            ui.checkpoint.clear()
            return
        choices = checkpoint_choices(store)
        files = list(dict.fromkeys([*self._results_files, *recent_results(store.path)]))
        tasks = run_tasks(store) if choices else {}
        fill_sources(ui.checkpoint, [(c.label, str(c.path), tasks.get(c.path.parent.resolve(), ""))
                                     for c in choices], files, cur,
                     default_choice(choices) if choices else 0)
        for s in split_choices(store):
            ui.split.addItem(s, s)
        if not choices and not files:
            ui.status.setText(NO_CHECKPOINT)
        elif ui.status.text() == NO_CHECKPOINT:
            ui.status.setText(PICK)

    # ------------------------------------------------------------------ opening
    def start(self, checkpoint: str | Path | None = None, split: str | None = None) -> bool:
        """Evaluate ``checkpoint`` on ``split`` (default: the chosen ones; a chosen
        predictions file is reviewed with :meth:`open_results`). Predictions come from
        the cache when there (read, with the ground truth and the first evaluations, in
        the worker thread, over its own store connection), else from a background run;
        :attr:`evaluated` is emitted when everything is shown. False when it could not
        start."""
        ui = self.ui
        if checkpoint is None and is_results(ui.checkpoint):
            return self.open_results(ui.checkpoint.currentData(), split)
        checkpoint = checkpoint or ui.checkpoint.currentData()
        split = split or ui.split.currentData()
        if not self._begin(("checkpoint", checkpoint, split)):
            return False
        project, score, nms = self.state.store.path, self.score, self.nms
        self.jobs.submit(lambda report, stale: open_job(self.compute, project, checkpoint, split, score, nms, report, stale))
        return True

    def open_results(self, results_file: str | Path, split: str | None = None) -> bool:
        """Review a COCO results file made elsewhere (YOLO, Detectron2, MMDetection…,
        keyed by the image ids or file names of the project's COCO export) on ``split``
        (default: the chosen one): read and evaluated in the worker thread, then the
        same review as a checkpoint's. :attr:`evaluated` when shown; a file that cannot
        be reviewed is one warning dialog (:attr:`error_box`) and :attr:`failed`, and
        the panel keeps what it showed. False when it could not start."""
        split = split or self.ui.split.currentData()
        path = Path(results_file)
        if not self._begin(("results", path, split)):
            return False
        self.ui.status.setText(f"Reading the predictions of {path.name}…")
        project, score, nms = self.state.store.path, self.score, self.nms
        self.jobs.submit(lambda report, stale: results_job(self.compute, project, path, split, score, nms, report, stale))
        return True

    def _results_clicked(self) -> None:
        if self.state.store is None:
            return
        start = str(self._results_files[-1].parent) if self._results_files else str(Path(self.state.store.path).parent)
        path, _ = QFileDialog.getOpenFileName(self, "Open a COCO results file (predictions made elsewhere)", start,
                                              RESULTS_FILTER)
        if path:
            self.open_results(path)

    def _begin(self, what: tuple[str, Any, str]) -> bool:
        """Disable what must wait for the opening of ``what``; False when it cannot start."""
        ui = self.ui
        if self.state.store is None or not what[1] or not what[2] or self.worker is not None or self._opening:
            return False
        self._timer.stop()
        self._opening, self._cancel_open = True, False
        self._pending, self._before = what, ui.status.text()
        for w in (ui.evaluate_btn, ui.results_btn, ui.score_slider, ui.nms_slider):
            w.setEnabled(False)
        ui.evaluate_btn.setVisible(False)
        ui.cancel_btn.setEnabled(True)
        ui.cancel_btn.setVisible(True)
        ui.status.setText("Opening the evaluation…")
        ui.progress.setRange(0, 0)  # busy
        return True

    def refresh(self) -> bool:
        """Evaluate the last checkpoint (or predictions file) and split again (labels
        changed: the cached predictions against the new ground truth)."""
        if not self._last:
            return False
        kind, source, split = self._last
        return self.open_results(source, split) if kind == "results" else self.start(source, split)

    def _start_prediction(self, inputs: EvalInputs) -> None:
        store, ui = self.state.store, self.ui
        if store is None or self._cancel_open:
            self._fail("cancelled")
            return
        ui.status.setText(predicting_text(inputs.images))
        ui.progress.setRange(0, len(inputs.images) * STEPS)
        ui.progress.setValue(0)
        self.worker = PredictWorker(inputs, [store.resolve(im) for im in inputs.images], self.device)
        # bound methods of this (GUI-thread) object: queued to the GUI thread
        self.worker.progress.connect(self._on_progress)
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._fail)
        self.worker.start()

    def _on_progress(self, done: float, _total: int) -> None:
        self.ui.progress.setValue(round(done * STEPS))

    def _on_done(self, pred: Any) -> None:
        store = self.state.store
        if self.worker is None or store is None:
            return
        inputs = self.worker.inputs
        self._end_worker(keep_opening=True)
        self.ui.status.setText("Evaluating the predictions…")
        self.ui.progress.setRange(0, 0)
        project, score, nms = store.path, self.score, self.nms
        self.jobs.submit(lambda report, stale: predicted_job(self.compute, project, inputs, pred, score, nms, report, stale))

    def cancel(self) -> None:
        """Stop a running prediction (or an opening that has not reached it yet; a
        predictions file being read is dropped at once)."""
        self._cancel_open = True
        if self.worker is not None:
            self.worker.cancel()
            self.ui.cancel_btn.setEnabled(False)
            self.ui.status.setText(STOPPING)
        elif self._opening and self._pending and self._pending[0] == "results":
            self.jobs.supersede()
            self._fail("cancelled")

    def _end_worker(self, keep_opening: bool = False) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker.deleteLater()
            self.worker = None
        if keep_opening:
            return
        self._opening = False
        self.ui.cancel_btn.setVisible(False)
        self.ui.evaluate_btn.setEnabled(True)
        self.ui.evaluate_btn.setVisible(True)
        self.ui.results_btn.setEnabled(self.state.store is not None)

    def _fail(self, message: str) -> None:
        what, self._pending = self._pending, None
        self._end_worker()
        self.ui.progress.setRange(0, 1)
        self._set_enabled(self.view is not None)
        if what is not None and what[0] == "results":
            self._keep_previous(what[1], message)
        else:
            self.ui.status.setText(f"Not evaluated: {message}")
        self.failed.emit(message)

    def _keep_previous(self, path: Path, message: str) -> None:
        """A predictions file failed: the previous status and results stay; the core's
        message is one (non-modal) warning dialog."""
        if self.view is not None:
            self._busy(None)
            if self._detection():
                self.recompute()  # a threshold change the opening superseded
        else:
            self.ui.status.setText(self._before)
        if message == "cancelled":
            return
        if self.error_box is not None:
            self.error_box.close()
        box = self.error_box = QMessageBox(QMessageBox.Icon.Warning, "Cannot review these predictions",
                                           f"Could not review {path.name}:\n\n{message}", parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: setattr(self, "error_box", None) if self.error_box is b else None)
        box.open()  # not modal for the event loop: the app (and tests) carry on

    def _opened(self, r: OpenResult) -> None:
        """Inputs loaded (and, for detection, the base evaluation made) in the worker."""
        session = None
        if r.source is not None:
            session = DetectionSession(r.source)
            session.put_base(r.base)
        try:
            self.inputs = r.inputs
            if self.view is not None:
                self.view.close()
            self.view = make_view(self.ui, self.state.store, r.inputs, session)
        except VisionStudioError as exc:
            self._fail(str(exc))
            return
        self._last, self._pending = self._pending or self._last, None
        n = len(r.inputs.images)
        if self._last and self._last[0] == "results":
            src = f"predictions of {self._show_results(self._last[1])}"
        else:
            src = "cached predictions" if r.inputs.from_cache else "new predictions (cached)"
        self._src = f"{r.inputs.task}: {plural(n, 'image')} of '{r.inputs.split}', {src}"
        self._end_worker()  # the view is there: thresholds work from now on
        self.ui.refresh_btn.setVisible(False)
        self._set_enabled(True)
        if not self._detection():
            self.view.fill(self.thresholds)
            self.liveShown.emit()
            self._finish_open()
        else:
            self._first_full = True
            self._busy(" — computing AP…")
            self.view.fill(self.thresholds, done=self.liveShown.emit)  # in short passes

    def _show_results(self, path: Path) -> str:
        """Make the reviewed results file the chosen source (and remember it); its name."""
        if path not in self._results_files:
            self._results_files.append(path)
        remember_results(self.state.store.path, path)
        combo = self.ui.checkpoint
        combo.blockSignals(True)
        combo.setCurrentIndex(add_results_item(combo, path))
        combo.blockSignals(False)
        return path.name

    def _finish_open(self) -> None:
        self.view.flush()
        self._first_full = False
        self._busy(None)
        self.evaluated.emit()
