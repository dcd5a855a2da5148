"""The Evaluation panel: pick a checkpoint and a split, predict in the background (cached),
then read the metrics, PR curves and confusion matrix, browse the errors over the images
with live score / NMS thresholds, open an image in the Annotate panel, and accept
predictions as annotations (undoable).

The widgets and their layout are built by :mod:`.layout`; the task's behaviour lives in
:mod:`.views` (one view object per task); the slow evaluation steps are plain functions
in :mod:`.jobs`, run by :class:`~.worker.ComputeQueue` in a worker thread. This module
moves data between them.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from vision_studio.core.errors import VisionStudioError
from vision_studio.gui.panels.evaluate import data as D
from vision_studio.gui.panels.evaluate.detection import DEFAULT_NMS, DEFAULT_SCORE
from vision_studio.gui.panels.evaluate.jobs import OpenResult, StepResult, open_job, predicted_job, step_job
from vision_studio.gui.panels.evaluate.worker import ComputeQueue, PredictWorker
from vision_studio.gui.state import AppState

log = logging.getLogger(__name__)

RECOMPUTE_MS = 250


class EvaluatePanel(QWidget):
    """The Evaluate tab.

    Signals:
        openInAnnotate(int): show this image id in the Annotate panel.
        evaluated(): predictions and ground truth are loaded and every view is filled.
        failed(str): the evaluation could not run (the message says why).
        liveShown(): TP/FP/FN, list and overlays show the current thresholds (after each
            live step, and when a new base evaluation — open, NMS IoU — arrives).
        fullShown(): AP, summary and confusion matrix show the current thresholds.

    Everything that can take longer than a frame (opening from the cache, a new NMS IoU,
    AP and the confusion matrix when the thresholds rest) runs in :attr:`jobs`, one
    worker thread where the newest request supersedes older ones; the tables say
    "computing…" meanwhile and the live TP/FP/FN stay instant.

    Attributes:
        view: The task view (:class:`~.views.DetectionView` ...) of the last evaluation,
            or ``None``.
        inputs: The :class:`~.data.EvalInputs` of the last evaluation.
        score: Current score threshold (detections with ``score > score`` are shown).
        nms: Current class-wise NMS IoU (>= 1 disables NMS).
    """

    openInAnnotate = Signal(int)
    evaluated = Signal()
    failed = Signal(str)
    liveShown = Signal()
    fullShown = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None, device: str = "auto") -> None:
        super().__init__(parent)
        self.state = state
        self.device = device
        self.view: Any = None
        self.inputs: D.EvalInputs | None = None
        self.worker: PredictWorker | None = None
        self.score, self.nms = DEFAULT_SCORE, DEFAULT_NMS
        self.jobs = ComputeQueue(self)
        self.jobs.partial.connect(self._job_partial)
        self.jobs.done.connect(self._job_done)
        self.jobs.failed.connect(self._job_failed)
        self._opening = False  # from start() until the view is made
        self._cancel_open = False
        self._first_full = False  # view made, its first AP not shown yet: evaluated follows
        self._src = ""
        self._build()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RECOMPUTE_MS)
        self._timer.timeout.connect(self.recompute)
        state.projectOpened.connect(lambda _s: self.refresh_choices())
        state.projectClosed.connect(self._clear)
        state.runsChanged.connect(self.refresh_choices)
        if state.store is not None:
            self.refresh_choices()

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        from vision_studio.gui.panels.evaluate.layout import build

        build(self)

    def _set_enabled(self, ready: bool) -> None:
        dets = ready and getattr(self.view, "thresholds", False)
        for w in (self.score_slider, self.nms_slider):
            w.setEnabled(bool(dets))
        for w in (self.export_btn, self.png_btn, self.open_btn, self.filter):
            w.setEnabled(ready)
        for w in (self.accept_btn, self.accept_all_btn):
            w.setEnabled(bool(dets))
        self.tabs.setTabEnabled(1, bool(dets))

    # ------------------------------------------------------------------ choices
    def refresh_choices(self) -> None:
        """Re-read the project's checkpoints and splits."""
        store = self.state.store
        cur = self.checkpoint.currentData()
        self.checkpoint.clear()
        self.split.clear()
        if store is None:
            return
        for label, path in D.checkpoints_of(store):
            self.checkpoint.addItem(label, str(path))
        i = self.checkpoint.findData(cur)
        if i >= 0:
            self.checkpoint.setCurrentIndex(i)
        for s in D.split_choices(store):
            self.split.addItem(s, s)
        if not self.checkpoint.count():
            self.status.setText("No trained checkpoint yet: train a model in the Model tab first.")

    # ------------------------------------------------------------------ evaluation
    def start(self, checkpoint: str | Path | None = None, split: str | None = None) -> bool:
        """Evaluate ``checkpoint`` on ``split`` (default: the chosen ones). Predictions
        come from the cache when there (read, with the ground truth and the first
        evaluations, in the worker thread), else from a background run; :attr:`evaluated`
        is emitted when everything is shown. False when it could not start."""
        store = self.state.store
        checkpoint = checkpoint or self.checkpoint.currentData()
        split = split or self.split.currentData()
        if store is None or not checkpoint or not split or self.worker is not None or self._opening:
            return False
        self._timer.stop()
        self._opening, self._cancel_open = True, False
        self.evaluate_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.score_slider.setEnabled(False)
        self.nms_slider.setEnabled(False)
        self.status.setText("Opening the evaluation…")
        self.progress.setRange(0, 0)  # busy
        score, nms = self.score, self.nms
        self.jobs.submit(lambda report, stale: open_job(store, checkpoint, split, score, nms, report, stale))
        return True

    def _start_prediction(self, inputs: D.EvalInputs) -> None:
        store = self.state.store
        if store is None or self._cancel_open:
            self._fail("cancelled")
            return
        self.status.setText(f"Predicting {len(inputs.images)} images…")
        self.progress.setRange(0, len(inputs.images))
        self.progress.setValue(0)
        self.worker = PredictWorker(inputs, [store.resolve(im) for im in inputs.images], self.device)
        # bound methods of this (GUI-thread) object: queued to the GUI thread, never run
        # in the worker thread as a plain lambda would be
        self.worker.progress.connect(self._on_progress)
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._fail)
        self.worker.start()

    def _on_progress(self, done: int, _total: int) -> None:
        self.progress.setValue(done)

    def _on_done(self, pred: Any) -> None:
        store = self.state.store
        if self.worker is None or store is None:
            return
        inputs = self.worker.inputs
        self._end_worker(keep_opening=True)
        self.status.setText("Evaluating the predictions…")
        self.progress.setRange(0, 0)
        score, nms = self.score, self.nms
        self.jobs.submit(lambda report, stale: predicted_job(store, inputs, pred, score, nms, report, stale))

    def cancel(self) -> None:
        """Stop a running prediction (or an opening that has not reached it yet)."""
        self._cancel_open = True
        if self.worker is not None:
            self.worker.cancel()

    def _end_worker(self, keep_opening: bool = False) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker.deleteLater()
            self.worker = None
        if keep_opening:
            return
        self._opening = False
        self.evaluate_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)

    def _fail(self, message: str) -> None:
        self._end_worker()
        self.progress.setRange(0, 1)
        self.status.setText(f"Not evaluated: {message}")
        self._set_enabled(self.view is not None)
        self.failed.emit(message)

    # ------------------------------------------------------------------ worker results
    def _job_partial(self, generation: int, obj: Any) -> None:
        """An opened evaluation (live part ready) or a new base evaluation."""
        if isinstance(obj, OpenResult):
            if generation == self.jobs.generation:
                self._opened(obj)
            return
        if isinstance(obj, StepResult) and obj.base is not None:
            view = self.view
            if view is not None and getattr(view, "evaluator", None) is obj.evaluator:
                obj.evaluator.put_base(obj.base)  # worth keeping even when superseded
                if generation == self.jobs.generation and view.ready():
                    view.live()
                    self.liveShown.emit()

    def _job_done(self, generation: int, obj: Any) -> None:
        view = self.view
        if isinstance(obj, OpenResult):  # needs a prediction first
            if generation == self.jobs.generation:
                self._start_prediction(obj.inputs)
            return
        if not isinstance(obj, StepResult) or view is None or getattr(view, "evaluator", None) is not obj.evaluator:
            return
        obj.evaluator.put_full(obj.full)
        if generation != self.jobs.generation or obj.full is None:
            return
        if view.ready() and (obj.full.score, obj.full.nms) == (round(self.score, 6), round(self.nms, 4)):
            view.show_full(obj.full)
            self._busy(None)
            self.fullShown.emit()
        if self._first_full:
            self._finish_open()

    def _job_failed(self, generation: int, message: str) -> None:
        if generation == self.jobs.generation:
            if self._opening or self._first_full:
                self._first_full = False
                self._fail(message)
            else:
                self._busy(None)
                self.status.setText(f"Evaluation failed: {message}")

    def _opened(self, r: OpenResult) -> None:
        """Inputs loaded (and, for detection, the base evaluation made) in the worker."""
        from vision_studio.gui.panels.evaluate.views import make_view

        try:
            self.inputs = r.inputs
            self.view = make_view(self, r.inputs, r.evaluator)
        except VisionStudioError as exc:
            self._fail(str(exc))
            return
        n = len(r.inputs.images)
        src = "cached predictions" if r.inputs.from_cache else "new predictions (cached)"
        self._src = f"{r.inputs.task}: {n} images of '{r.inputs.split}', {src}"
        self._end_worker()  # the view is there: thresholds work from now on
        self._set_enabled(True)
        self.view.fill()
        self.liveShown.emit()
        if not getattr(self.view, "thresholds", False):
            self._finish_open()
        else:
            self._first_full = True
            self._busy(" — computing AP…")

    def _finish_open(self) -> None:
        self._first_full = False
        self._busy(None)
        self.evaluated.emit()

    # ------------------------------------------------------------------ thresholds
    def _sync_sliders(self) -> None:
        for s in (self.score_slider, self.nms_slider):
            s.blockSignals(True)
        self.score_slider.setValue(int(round(self.score * 1000)))
        self.nms_slider.setValue(int(round(min(self.nms, 1.0) * 100)))
        for s in (self.score_slider, self.nms_slider):
            s.blockSignals(False)
        self.score_label.setText(f"{self.score:.3f}")
        self.nms_label.setText("off" if self.nms >= 1 else f"{self.nms:.2f}")

    def set_score_threshold(self, value: float) -> None:
        """Set the score threshold (exact value; the slider shows it rounded) and update."""
        self.score = float(value)
        self._sync_sliders()
        self.apply_thresholds()

    def set_nms_iou(self, value: float) -> None:
        """Set the NMS IoU (>= 1 disables NMS) and update."""
        self.nms = float(value)
        self._sync_sliders()
        self.apply_thresholds()

    def _score_moved(self, v: int) -> None:
        self.score = v / 1000.0
        self.score_label.setText(f"{self.score:.3f}")
        self.apply_thresholds()

    def _nms_moved(self, v: int) -> None:
        self.nms = v / 100.0
        self.nms_label.setText("off" if self.nms >= 1 else f"{self.nms:.2f}")
        self.apply_thresholds()

    def apply_thresholds(self) -> None:
        """The live part of a threshold change: counts, operating point, list, overlays
        (instant when the base evaluation for the NMS IoU is computed; otherwise they say
        "computing…"); the slow part follows in the worker when the thresholds rest."""
        if self.view is None or not getattr(self.view, "thresholds", False) or self._opening:
            return
        ready = self.view.ready()
        if ready:
            self.view.live()
            self.liveShown.emit()
        full = self.view.evaluator.cached_full(self.score, self.nms) if ready else None
        if full is not None:
            self._timer.stop()
            self.jobs.supersede()
            self.view.show_full(full)
            self._busy(None)
            self.fullShown.emit()
            return
        self.view.set_pending(counts=not ready)
        self._busy(" — computing AP…" if ready else f" — computing NMS {self.nms:.2f}…")
        self._timer.start()

    def recompute(self) -> None:
        """The slow part of a threshold change (a base evaluation for a new NMS IoU, AP
        columns, summary, confusion matrix): shown at once when cached, else computed in
        the worker thread (:attr:`fullShown` when shown)."""
        self._timer.stop()
        view = self.view
        if view is None or not getattr(view, "thresholds", False) or self._opening:
            return
        ev, score, nms = view.evaluator, self.score, self.nms
        full = ev.cached_full(score, nms)
        if full is not None and view.ready():
            self.jobs.supersede()
            view.show_full(full)
            self._busy(None)
            self.fullShown.emit()
            return
        base = ev.cached_base(nms)
        self.jobs.submit(lambda report, stale: step_job(ev, score, nms, base, report, stale))

    def _busy(self, what: str | None) -> None:
        """Status and progress bar: ``what`` is being computed (busy bar), or done."""
        self.status.setText(self._src + (what or ""))
        if what:
            self.progress.setRange(0, 0)
        else:
            n = len(self.inputs.images) if self.inputs is not None else 0
            self.progress.setRange(0, max(n, 1))
            self.progress.setValue(n)

    def computing(self) -> bool:
        """Whether a background evaluation for the current state runs or waits."""
        return self.jobs.busy() or self._timer.isActive()

    def _gt_toggled(self, on: bool) -> None:
        self.viewer.set_gt_visible(on)

    def _iou_type_changed(self, _i: int) -> None:
        if self.view is not None and hasattr(self.view, "set_iou_type"):
            self.view.set_iou_type(self.iou_type.currentData())
            self.view.set_pending(counts=True)
            self.recompute()

    # ------------------------------------------------------------------ list / viewer
    def refresh_list(self) -> None:
        """Re-fill the list for the current filter."""
        if self.view is not None:
            self.view.fill_list(self.filter.currentData())

    def _list_reset(self) -> None:
        """Show the first listed image when the viewer shows none yet (a fresh
        evaluation), so the user sees predictions at once instead of an empty viewer."""
        if self.viewer.image_id is None and self.list_model.rowCount() > 0:
            self.list.selectRow(0)

    def _row_chosen(self, row: int) -> None:
        if self.view is not None and 0 <= row < len(self.list_model.payload):
            self.view.row_chosen(self.list_model.payload[row])

    def _class_selected(self, key: int) -> None:
        if self.view is not None:
            self.view.class_selected(key)

    def _cell_chosen(self, r: int, c: int) -> None:
        if self.view is not None:
            self.view.cell_chosen(r, c)

    def current_image_id(self) -> int | None:
        """The image shown in the viewer."""
        return self.viewer.image_id

    def _open_clicked(self) -> None:
        if self.viewer.image_id is not None:
            self.openInAnnotate.emit(int(self.viewer.image_id))
            self.state.showImageRequested.emit(int(self.viewer.image_id))

    # ------------------------------------------------------------------ accept
    def accept_prediction(self, raw_index: int) -> list[int]:
        """Add raw detection ``raw_index`` to the store as an annotation (one undo step);
        returns the new annotation ids."""
        return self.view.accept([raw_index]) if self.view is not None and hasattr(self.view, "accept") else []

    def accept_all_on_image(self, image_id: int | None = None) -> list[int]:
        """Accept every shown prediction of an image (default: the viewer's) in one step."""
        if self.view is None or not hasattr(self.view, "accept"):
            return []
        image_id = self.viewer.image_id if image_id is None else image_id
        return self.view.accept(self.view.shown_on_image(image_id)) if image_id is not None else []

    def _accept_clicked(self) -> None:
        raw = self.viewer.highlighted
        if raw is None:
            self.status.setText("Select a prediction in the list (or right-click it) to accept it.")
            return
        self.accept_prediction(raw)

    def _accept_all_clicked(self) -> None:
        self.accept_all_on_image()

    # ------------------------------------------------------------------ export
    def export_report(self, folder: str | Path) -> Path:
        """Write the report folder (the evaluation core's files) at the current thresholds."""
        from vision_studio.gui.panels.evaluate.export import export_report

        out = export_report(self, Path(folder))
        self.status.setText(f"Report written to {out}")
        return out

    def save_view_png(self, path: str | Path) -> bool:
        """Save the whole panel as it looks now as a PNG."""
        return self.grab().save(str(path))

    def _export_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the evaluation report to")
        if folder:
            try:
                self.export_report(folder)
            except (VisionStudioError, OSError) as exc:
                QMessageBox.warning(self, "Export failed", str(exc))

    def _png_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the view as PNG", "evaluation.png", "PNG (*.png)")
        if path and not self.save_view_png(path):
            QMessageBox.warning(self, "Not saved", f"Could not write {path}")

    # ------------------------------------------------------------------ life cycle
    def _clear(self) -> None:
        self._timer.stop()
        self.jobs.supersede()
        self.jobs.wait()
        self._end_worker()
        self.view = None
        self.inputs = None
        self.checkpoint.clear()
        self.split.clear()
        self._set_enabled(False)

    def shutdown(self) -> None:
        """Stop the prediction thread (before the window goes)."""
        self._timer.stop()
        self.jobs.wait()
        self._end_worker()
