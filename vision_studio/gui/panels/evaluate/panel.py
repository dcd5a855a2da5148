"""The Evaluation panel: pick a checkpoint and a split, predict in the background (cached)
— or open a COCO results file made by another tool ("Open predictions file…") —
then read the metrics, PR curves and confusion matrix, browse the errors over the images
with live score / NMS thresholds, open an image in the Annotate panel, and accept
predictions as annotations (undoable).

The widgets are built by :mod:`.layout` (one :class:`~.layout.EvalWidgets` object); the
task's display lives in :mod:`.views` / :mod:`.detection_view` (one view per
evaluation); everything they show comes from the core evaluation session
(:mod:`vision_studio.core.evaluation.session`), whose slow steps run as the plain
functions of :mod:`.jobs` in :class:`~.worker.ComputeQueue`'s worker thread. Opening
(the source choice, a checkpoint, a predictions file) is :mod:`.opening`'s mixin; this
module holds the state and wires signals, thresholds, list and viewer.
"""
from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QWidget

from vision_studio.core.evaluation.compute_process import shared_compute_process
from vision_studio.core.evaluation.detection_base import DEFAULT_NMS, DEFAULT_SCORE, full_key
from vision_studio.core.evaluation.session import DETECTION_TASKS, EvalInputs
from vision_studio.core.types import Task
from vision_studio.gui.panels.evaluate.actions import PanelActions
from vision_studio.gui.panels.evaluate.jobs import OpenResult, StepResult, step_job
from vision_studio.gui.panels.evaluate.layout import EvalWidgets, build
from vision_studio.gui.panels.evaluate.opening import NO_CHECKPOINT, PICK, PanelOpening
from vision_studio.gui.panels.evaluate.sources import source_task
from vision_studio.gui.panels.evaluate.views import Thresholds
from vision_studio.gui.panels.evaluate.worker import ComputeQueue, PredictWorker
from vision_studio.gui.state import AppState

log = logging.getLogger(__name__)

RECOMPUTE_MS = 250
DEFAULT_DISPLAY = 0.5
"""Predictions are drawn from this score up (the metrics use every score above the
score threshold): at 0.05, hundreds of false positives buried the image (issue 19)."""
__all__ = ["DEFAULT_DISPLAY", "NO_CHECKPOINT", "PICK", "EvaluatePanel"]


class EvaluatePanel(PanelOpening, PanelActions, QWidget):
    """The Evaluate tab.

    Signals:
        openInAnnotate(int): show this image id in the Annotate panel.
        evaluated(): predictions and ground truth are loaded and every view is filled.
        failed(str): the evaluation could not run (the message says why).
        liveShown(): TP/FP/FN, list and overlays show the current thresholds.
        fullShown(): AP, summary and confusion matrix show the current thresholds.

    Everything that can take longer than a frame (opening from the cache, a new NMS IoU,
    AP and the confusion matrix when the thresholds rest) runs in :attr:`jobs`, one
    worker thread where the newest request supersedes older ones; the tables say
    "computing…" meanwhile and the live TP/FP/FN stay instant.

    Attributes:
        ui: The widgets (:class:`~.layout.EvalWidgets`).
        view: The task view of the last evaluation, or ``None``.
        inputs: The :class:`~vision_studio.core.evaluation.session.EvalInputs` shown.
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
        self.state, self.device = state, device
        self.view: Any = None
        self.inputs: EvalInputs | None = None
        self.worker: PredictWorker | None = None
        self.score, self.nms = DEFAULT_SCORE, DEFAULT_NMS
        self.display = DEFAULT_DISPLAY
        self.jobs = ComputeQueue(self)
        self.compute = shared_compute_process()  # COCO evaluations: a child process, no GIL of ours
        self.compute.start()
        self.jobs.partial.connect(self._job_partial)
        self.jobs.done.connect(self._job_done)
        self.jobs.failed.connect(self._job_failed)
        self._init_opening()
        self.ui: EvalWidgets = build(self)
        self._connect()
        self._sync_sliders()
        self._set_enabled(False)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RECOMPUTE_MS)
        self._timer.timeout.connect(self.recompute)
        state.projectOpened.connect(lambda _s: self.refresh_choices())
        state.projectClosed.connect(self._clear)
        state.runsChanged.connect(self.refresh_choices)
        if state.store is not None:
            self.refresh_choices()

    def _connect(self) -> None:
        ui = self.ui
        ui.evaluate_btn.clicked.connect(lambda: self.start())
        ui.results_btn.clicked.connect(self._results_clicked)
        ui.cancel_btn.clicked.connect(self.cancel)
        ui.export_btn.clicked.connect(self._export_clicked)
        ui.png_btn.clicked.connect(self._png_clicked)
        ui.classes.classSelected.connect(self._class_selected)
        ui.pr.thresholdPicked.connect(lambda s: self.set_score_threshold(max(0.0, s - 1e-6)))
        ui.confusion.cellChosen.connect(self._cell_chosen)
        ui.score_slider.valueChanged.connect(self._score_moved)
        ui.nms_slider.valueChanged.connect(self._nms_moved)
        ui.show_gt.toggled.connect(ui.viewer.set_gt_visible)
        ui.checkpoint.currentIndexChanged.connect(lambda _i: self._show_task_controls())
        ui.display_spin.valueChanged.connect(self.set_display_threshold)
        ui.refresh_btn.clicked.connect(self.refresh)
        ui.iou_type.currentIndexChanged.connect(self._iou_type_changed)
        ui.filter.currentIndexChanged.connect(lambda _i: self.refresh_list())
        ui.list.selectionModel().currentRowChanged.connect(lambda cur, _p: self._row_chosen(cur.row()))
        ui.list_model.modelReset.connect(self._list_reset)
        ui.open_btn.clicked.connect(self._open_clicked)
        ui.accept_btn.clicked.connect(self._accept_clicked)
        ui.accept_all_btn.clicked.connect(self._accept_all_clicked)
        ui.viewer.acceptRequested.connect(self.accept_prediction)
        ui.viewer.acceptAllRequested.connect(self._accept_all_clicked)

    @property
    def thresholds(self) -> Thresholds:
        """The current thresholds."""
        return Thresholds(self.score, self.nms, self.display)

    def _detection(self) -> bool:
        return bool(getattr(self.view, "thresholds", False))

    def _set_enabled(self, ready: bool) -> None:
        ui, dets = self.ui, ready and self._detection()
        for w in (ui.score_slider, ui.nms_slider, ui.display_spin, ui.accept_all_btn):
            w.setEnabled(bool(dets))
        tags = ready and hasattr(self.view, "fixed_tag")  # classification: accept the predicted tag
        ui.accept_btn.setEnabled(bool(dets or tags))
        ui.accept_btn.setToolTip("Make the predicted class the image's tag (undoable)." if tags else
                                 "Add the selected prediction to the project as an annotation (undoable).")
        self._show_task_controls()
        for w in (ui.export_btn, ui.png_btn, ui.open_btn, ui.filter):
            w.setEnabled(ready)
        ui.results_btn.setEnabled(self.state.store is not None and not self._opening)
        ui.tabs.setTabEnabled(1, bool(dets))

    def _show_task_controls(self) -> None:
        """Show only the controls that apply to the task — the evaluation's shown, else
        the chosen source's (a checkpoint's run task), else (no source) detection's when
        the project has boxes or masks: classification has no score / NMS thresholds and
        no ground-truth overlay; semantic segmentation has its ground-truth layer."""
        task = self.inputs.task if self.view is not None and self.inputs is not None else \
            source_task(self.ui.checkpoint)
        if self.view is not None:
            det = self._detection()
        elif task:
            det = task in DETECTION_TASKS
        else:
            det = self.state.store is not None and self.state.store.annotation_count() > 0
        self.ui.det_bar.setVisible(det)
        self.ui.show_gt.setVisible(det or task == Task.SEMANTIC_SEGMENTATION)
        self.ui.show_gt.setText("Show ground truth (dashed)" if det else "Show ground truth")

    # ------------------------------------------------------------------ worker results
    def _mine(self, source: Any) -> bool:
        """Whether a worker result belongs to the detection session shown now."""
        return self.view is not None and self._detection() and self.view.session.source is source

    def _job_partial(self, generation: int, obj: Any) -> None:
        """An opened evaluation (live part ready) or a new base evaluation."""
        if isinstance(obj, OpenResult):
            if generation == self.jobs.generation:
                self._opened(obj)
            return
        if isinstance(obj, StepResult) and obj.base is not None and self._mine(obj.source):
            self.view.session.put_base(obj.base)  # worth keeping even when superseded
            if generation == self.jobs.generation and self.view.ready(self.thresholds):
                self.view.live(self.thresholds, done=self.liveShown.emit)  # in short passes

    def _job_done(self, generation: int, obj: Any) -> None:
        if isinstance(obj, OpenResult):  # needs a prediction first
            if generation == self.jobs.generation:
                self._start_prediction(obj.inputs)
            return
        if not isinstance(obj, StepResult) or not self._mine(obj.source) or obj.full is None:
            return
        self.view.session.put_full(obj.full)
        if generation != self.jobs.generation:
            return
        self.view.flush()  # the passes of the live part come first
        t = self.thresholds
        if self.view.ready(t) and (obj.full.score, obj.full.nms) == full_key(t.score, t.nms):
            self.view.show_full(obj.full, t)
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
                self.ui.status.setText(f"Evaluation failed: {message}")

    # ------------------------------------------------------------------ thresholds
    def _sync_sliders(self) -> None:
        ui = self.ui
        for s in (ui.score_slider, ui.nms_slider):
            s.blockSignals(True)
        ui.score_slider.setValue(int(round(self.score * 1000)))
        ui.nms_slider.setValue(int(round(min(self.nms, 1.0) * 100)))
        for s in (ui.score_slider, ui.nms_slider):
            s.blockSignals(False)
        ui.score_label.setText(f"{self.score:.3f}")
        ui.nms_label.setText("off" if self.nms >= 1 else f"{self.nms:.2f}")

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

    def set_display_threshold(self, value: float) -> None:
        """Draw predictions from ``value`` up (the metrics do not change)."""
        self.display = float(value)
        if abs(self.ui.display_spin.value() - self.display) > 1e-9:
            self.ui.display_spin.setValue(self.display)
        if self.view is not None and self._detection() and self.ui.viewer.image_id in getattr(self.view, "pos", {}):
            self.view.draw(self.ui.viewer.image_id, self.thresholds)

    def _score_moved(self, v: int) -> None:
        self.score = v / 1000.0
        self.ui.score_label.setText(f"{self.score:.3f}")
        self.apply_thresholds()

    def _nms_moved(self, v: int) -> None:
        self.nms = v / 100.0
        self.ui.nms_label.setText("off" if self.nms >= 1 else f"{self.nms:.2f}")
        self.apply_thresholds()

    def _show_cached_full(self) -> bool:
        """Show the full result at the thresholds when the session has it."""
        t = self.thresholds
        full = self.view.session.cached_full(t.score, t.nms) if self.view.ready(t) else None
        if full is None:
            return False
        self._timer.stop()
        self.jobs.supersede()
        self.view.show_full(full, t)
        self._busy(None)
        self.fullShown.emit()
        return True

    def apply_thresholds(self) -> None:
        """The live part of a threshold change: counts, operating point, list, overlays
        (instant when the base evaluation for the NMS IoU is there; otherwise they say
        "computing…"); the slow part follows in the worker when the thresholds rest."""
        if self.view is None or not self._detection() or self._opening:
            return
        t = self.thresholds
        ready = self.view.ready(t)
        if ready:
            self.view.live(t)
            self.liveShown.emit()
        if self._show_cached_full():
            return
        self.view.set_pending(t, counts=not ready)
        self._busy(" — computing AP…" if ready else f" — computing NMS {self.nms:.2f}…")
        self._timer.start()

    def recompute(self) -> None:
        """The slow part of a threshold change (a base evaluation for a new NMS IoU, AP
        columns, summary, confusion matrix): shown at once when cached, else computed in
        the worker thread (:attr:`fullShown` when shown)."""
        self._timer.stop()
        if self.view is None or not self._detection() or self._opening or self._show_cached_full():
            return
        session, score, nms = self.view.session, self.score, self.nms
        src, need_base = session.source, not session.has_base(nms)
        self.jobs.submit(lambda report, stale: step_job(self.compute, src, score, nms, need_base, report, stale))

    def _busy(self, what: str | None) -> None:
        """Status and progress bar: ``what`` is being computed (busy bar), or done."""
        self.ui.status.setText(self._src + (what or ""))
        if what:
            self.ui.progress.setRange(0, 0)
        else:
            n = len(self.inputs.images) if self.inputs is not None else 0
            self.ui.progress.setRange(0, max(n, 1))
            self.ui.progress.setValue(n)

    def computing(self) -> bool:
        """Whether a background evaluation for the current state runs or waits."""
        return self.jobs.busy() or self._timer.isActive()

    def _iou_type_changed(self, _i: int) -> None:
        if self.view is not None and hasattr(self.view, "set_iou_type"):
            self.view.set_iou_type(self.ui.iou_type.currentData())
            self.view.set_pending(self.thresholds, counts=True)
            self.recompute()

    # ------------------------------------------------------------------ list / viewer
    def refresh_list(self) -> None:
        """Re-fill the list for the current filter."""
        if self.view is not None:
            self.view.refresh_list(self.thresholds)

    def _list_reset(self) -> None:
        """Show the first listed image when the viewer shows none yet (a fresh
        evaluation), so the user sees predictions at once instead of an empty viewer —
        in the next event-loop pass, not in the one that filled the list (each stays
        short)."""
        if self.ui.viewer.image_id is None and self.ui.list_model.rowCount() > 0:
            QTimer.singleShot(0, self._show_first_row)

    def _show_first_row(self) -> None:
        if self.ui.viewer.image_id is None and self.ui.list_model.rowCount() > 0:
            self.ui.list.selectRow(0)
            if self.ui.viewer.image_id is None:  # row 0 was current already: no signal
                self._row_chosen(0)

    def _row_chosen(self, row: int) -> None:
        if self.view is not None and 0 <= row < len(self.ui.list_model.payload):
            self.view.row_chosen(self.ui.list_model.payload[row], self.thresholds)

    def _class_selected(self, key: int) -> None:
        if self.view is not None:
            self.view.class_selected(key, self.thresholds)

    def _cell_chosen(self, r: int, c: int) -> None:
        """List the images of a confusion-matrix cell and show the first of them (the
        viewer kept showing an image that was not in the new list)."""
        if self.view is not None:
            self.view.cell_chosen(r, c, self.thresholds)
            if self.ui.list_model.rowCount() > 0:
                self.ui.list.selectRow(0)
                if self.ui.viewer.image_id != self._row_image(0):  # row 0 was current already: no signal
                    self._row_chosen(0)

    def _row_image(self, row: int) -> int | None:
        payload = self.ui.list_model.payload
        return int(getattr(payload[row], "image_id", payload[row])) if 0 <= row < len(payload) else None

    def current_image_id(self) -> int | None:
        """The image shown in the viewer."""
        return self.ui.viewer.image_id

    def _open_clicked(self) -> None:
        image_id = self.ui.viewer.image_id
        if image_id is not None:
            self.openInAnnotate.emit(int(image_id))
            self.state.showImageRequested.emit(int(image_id))

    # ------------------------------------------------------------------ life cycle
    def _clear(self) -> None:
        self._timer.stop()
        self.jobs.supersede()
        self.jobs.wait()
        self._end_worker()
        if self.view is not None:
            self.view.close()
        self.view = None
        self.inputs = None
        self._last, self._pending, self._results_files = None, None, []
        self.ui.checkpoint.clear()
        self.ui.split.clear()
        self._set_enabled(False)

    def clear(self) -> None:
        """Show nothing of the current evaluation: stop its work, empty the checkpoint
        and split choices, the metrics, curves, confusion matrix, list and image, and
        reset the status line (the main window calls it when a project closes, so that
        the next project never shows the previous one's image or predictions)."""
        self._clear()
        ui = self.ui
        ui.viewer.set_detections([])
        ui.viewer.set_truth([])
        ui.viewer.set_label_maps(None, None, ())
        ui.viewer.image_item.setPixmap(QPixmap())
        ui.viewer.caption.setPixmap(QPixmap())
        ui.viewer.image_id = None
        ui.list_model.set_rows([], [], [])
        ui.list_info.setText("")
        for table in (ui.summary, ui.classes, ui.confusion):
            table.clearContents()
            table.setRowCount(0)
        ui.confusion.setColumnCount(0)
        ui.pr.set_result(None, {}, {})
        ui.status.setText(PICK)

    def shutdown(self) -> None:
        """Stop the prediction thread (before the window goes)."""
        self._timer.stop()
        self.jobs.wait()
        self._end_worker()
