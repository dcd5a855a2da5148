"""The Training monitor: live curves, progress (epoch, step, images/s, ETA), device and GPU
memory, a log, Pause / Stop / Resume, and the project's past runs (compare, rename,
annotate, delete, resume, use as starting weights). It listens to the shared
:class:`~vision_studio.gui.engine_adapter.TrainingEngine` of ``AppState`` only."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QMessageBox, QPlainTextEdit,
                               QProgressBar, QPushButton, QSplitter, QTabWidget, QVBoxLayout,
                               QWidget)

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.training.events import (BatchEnd, CheckpointSaved, EpochEnd, EpochStart,
                                                SampleSkipped, TrainFinished, TrainStarted)
from vision_studio.core.wording import plural
from vision_studio.gui.engine_adapter import DeviceStats, RunOutcome
from vision_studio.gui.panels.monitor.curves import CompareCurves, TrainingCurves, metric_keys
from vision_studio.gui.panels.monitor.runs import RunsTable, read_metrics, run_folder
from vision_studio.gui.state import AppState
from vision_studio.gui.widgets.fitlabel import ElidedLabel
from vision_studio.gui.widgets.wrapped_label import WrappedLabel

log = logging.getLogger(__name__)


def _duration(seconds: float) -> str:
    s = int(max(0, seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class MonitorPanel(QWidget):
    """Watch and control the run of ``state.engine``; browse past runs.

    Attributes:
        curves: The live :class:`TrainingCurves`.
        compare: The :class:`CompareCurves` overlay.
        runs: The :class:`RunsTable`.
        progress: Progress over the whole run (steps).
        log_view: The log pane.
        last_metrics: The last epoch's ``metrics.jsonl`` line received (``{}`` before).
        best: ``(metric name, best value)`` of the run watched, from ``TrainFinished``.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.engine = engine = state.engine
        self.last_metrics: dict[str, Any] = {}
        self.best: tuple[str, float | None] = ("", None)
        self._steps, self._epochs = 1, 1
        self.title = ElidedLabel("No training yet.", self, objectName="run_title")
        self.title.setStyleSheet("font-weight: bold;")
        self.device = ElidedLabel("", self, objectName="device")
        self.progress = QProgressBar(self, objectName="progress")
        self.progress.setFormat("%p%")
        self.speed = ElidedLabel("", self, objectName="speed")
        # wraps long messages; as tall as its text, with no height-for-width that made the
        # whole tab as tall as its preferred height (1368 px) and scroll (widgets.wrapped_label)
        self.metric_label = WrappedLabel("", self, objectName="metric")
        self.buttons = {k: QPushButton(t, self, objectName=k) for k, t in (
            ("pause", "Pause ❚❚"), ("resume", "Resume ▶"), ("stop", "Stop ■"))}
        self.buttons["pause"].clicked.connect(engine.pause)
        self.buttons["resume"].clicked.connect(self.resume)
        self.buttons["stop"].clicked.connect(engine.stop)
        self.curves = TrainingCurves(self)
        self.compare = CompareCurves(self)
        self.compare_key = QComboBox(self, objectName="compare_key")
        self.compare_key.currentTextChanged.connect(lambda _t: self.show_comparison())
        self.log_view = QPlainTextEdit(self, objectName="log", readOnly=True)
        self.log_view.setMaximumBlockCount(5000)
        self.runs = RunsTable(self)
        self._build_layout()
        engine.started.connect(self._on_started)
        engine.epochStarted.connect(self._on_epoch_start)
        engine.batchEnded.connect(self._on_batch)
        engine.epochEnded.connect(self._on_epoch_end)
        engine.checkpointSaved.connect(self._on_checkpoint)
        engine.sampleSkipped.connect(self._on_skipped)
        engine.deviceStats.connect(self._on_device)
        engine.finished.connect(self._on_finished)
        engine.failed.connect(self._on_failed)
        engine.runEnded.connect(self._on_run_ended)
        engine.stateChanged.connect(self._update_buttons)
        engine.stateChanged.connect(self._on_state)
        self.runs.compareRequested.connect(self.show_comparison)
        self.runs.showRequested.connect(self._show_run)
        self.runs.resumeRequested.connect(self.resume_run)
        self.runs.weightsRequested.connect(self._use_weights)
        self.runs.changed.connect(state.runsChanged.emit)
        state.projectOpened.connect(self._project_opened)
        state.projectClosed.connect(self._project_closed)
        state.runsChanged.connect(self.runs.refresh)
        self._update_buttons(engine.state)

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.device)
        for b in self.buttons.values():
            top.addWidget(b)
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.speed)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.curves, "Curves")
        cmp = QWidget(self)
        cv = QVBoxLayout(cmp)
        row = QHBoxLayout()
        row.addWidget(QLabel("Value:", cmp))
        row.addWidget(self.compare_key, 1)
        cv.addLayout(row)
        cv.addWidget(self.compare, 1)
        self.tabs.addTab(cmp, "Compare runs")
        self.tabs.addTab(self.log_view, "Log")
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.tabs)
        split.addWidget(self.runs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        v = QVBoxLayout(self)
        v.addLayout(top)
        v.addLayout(prog)
        v.addWidget(self.metric_label)
        v.addWidget(split, 1)

    # ------------------------------------------------------------------ controls
    def _update_buttons(self, state: str) -> None:
        busy = state != "idle"
        self.buttons["pause"].setEnabled(state in ("running", "starting"))
        self.buttons["stop"].setEnabled(busy and state != "stopping")
        can_resume = state == "paused" or (not busy and self._resumable() is not None)
        self.buttons["resume"].setEnabled(can_resume)
        self.runs.busy_dir = self.engine.run_dir if busy else ""

    def _resumable(self) -> Path | None:
        d = self.engine.run_dir
        if not d or not (Path(d) / "last.pt").is_file():
            return None
        return Path(d) if self._last_status == "stopped" else None

    _last_status = ""

    def resume(self) -> None:
        """Resume ▶: end a pause, or continue the stopped run from its ``last.pt``."""
        if self.engine.state == "paused":
            self.engine.unpause()
            return
        folder = self._resumable()
        if folder is not None:
            self._start_resume(folder)

    def resume_run(self, run_id: int) -> None:
        """Continue a stopped past run (from the runs list)."""
        store = self.state.store
        if store is None:
            return
        self._start_resume(run_folder(store, store.run(run_id)))

    def _start_resume(self, folder: Path) -> None:
        try:
            self.engine.resume_run(self.state.store.path, folder)
        except VisionStudioError as exc:
            QMessageBox.warning(self, "Cannot resume", str(exc))

    def _use_weights(self, path: str) -> None:
        self.state.startWeightsRequested.emit(path)
        self.state.statusMessage.emit(f"The Model panel will start from {Path(path).name}")

    # ------------------------------------------------------------------ project
    def _project_opened(self, store: Any) -> None:
        """List the project's runs and show the latest one's curves (or nothing)."""
        self.runs.set_store(store)
        self._last_status = ""
        runs = store.runs()
        if runs and not self.engine.busy:
            self.show_run(runs[-1].id)
        else:
            self._reset_view("No training yet." if not runs else self.title.text())

    def _project_closed(self) -> None:
        """Show nothing of the closed project: no runs, curves, status line, log or
        comparison (the main window stops a run before its project closes)."""
        self.runs.set_store(None)
        self._last_status = ""
        if not self.engine.busy:
            self._reset_view("No training yet.")
            self.log_view.clear()
            self.compare.show_runs([], self.compare_key.currentText() or "value")

    def _reset_view(self, title: str) -> None:
        self.curves.clear()
        self.last_metrics, self.best = {}, ("", None)
        self.title.setText(title)
        for lab in (self.metric_label, self.speed, self.device):
            lab.setText("")
        self.progress.setFormat("%p%")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    # ------------------------------------------------------------------ events (GUI thread)
    def _on_state(self, state: str) -> None:
        if state == "starting":  # a new run: nothing of the previous one may stay
            self._reset_view("Starting…")
    def log(self, text: str) -> None:
        self.log_view.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def _on_started(self, ev: TrainStarted) -> None:
        self._epochs, self._start_epoch = ev.epochs, ev.start_epoch
        self.best = ("", None)
        self.last_metrics = {}
        self.metric_label.setText("")
        self.progress.setFormat("%p%")  # never "stopped · …" while a resumed run runs
        history = read_metrics(Path(ev.run_dir)) if ev.start_epoch > 1 else []
        self.curves.set_history(history) if history else self.curves.clear()
        self.curves.set_span(ev.epochs)
        if history:
            self.last_metrics = dict(history[-1])
        self.title.setText(f"{Path(ev.run_dir).name}  —  {ev.num_train} train / {ev.num_val} val "
                           f"images, classes: {', '.join(ev.class_names)}")
        self.log(f"training on {ev.device} (epochs {ev.start_epoch}–{ev.epochs}; {ev.split}); "
                 f"run folder {ev.run_dir}")
        self.runs.refresh()

    def _on_epoch_start(self, ev: EpochStart) -> None:
        self._steps = max(1, ev.steps)
        self.progress.setRange(0, self._epochs * self._steps)
        self.progress.setValue((ev.epoch - 1) * self._steps)
        trainable = [n for n, t, _ in ev.groups if t]
        self.log(f"epoch {ev.epoch}/{ev.epochs}: {plural(ev.steps, 'step')}; training "
                 f"{', '.join(trainable) if trainable else 'nothing'}")

    def _on_batch(self, ev: BatchEnd) -> None:
        self.curves.add_batch(ev)
        self.progress.setValue((ev.epoch - 1) * self._steps + ev.step)
        self.progress.setFormat(f"epoch {ev.epoch}/{self._epochs} · step {ev.step}/{ev.steps} · %p%")
        self.speed.setText(f"loss {ev.loss:.4f} · {ev.images_per_s:.1f} images/s · "
                           f"epoch ETA {_duration(ev.eta_s)}")

    def _on_epoch_end(self, ev: EpochEnd) -> None:
        self.last_metrics = dict(ev.metrics)
        self.curves.add_epoch(ev.metrics)
        shown = {k: v for k, v in ev.metrics.items() if k in ("train_loss", "val_loss")
                 or k in metric_keys(ev.metrics)}
        text = ", ".join(f"{k} {v:.4f}" for k, v in shown.items() if isinstance(v, (int, float)))
        self.metric_label.setText(f"Epoch {ev.epoch}: {text}")
        self.log(f"epoch {ev.epoch} done: {text}")
        self.runs.refresh()

    def _on_checkpoint(self, ev: CheckpointSaved) -> None:
        self.log(f"{ev.kind} checkpoint written (epoch {ev.epoch}): {ev.path}")

    def _on_skipped(self, ev: SampleSkipped) -> None:
        self.log(f"skipped {ev.source}: {ev.reason}")

    def _on_device(self, ev: DeviceStats) -> None:
        text = ev.name
        if ev.memory_allocated_mib is not None:
            text += (f" · GPU memory {ev.memory_allocated_mib:.0f} MiB used / "
                     f"{ev.memory_reserved_mib:.0f} reserved / {ev.memory_total_mib:.0f} total")
        self.device.setText(text)

    def _on_finished(self, ev: TrainFinished) -> None:
        self.best = (ev.metric_name, ev.best_metric)
        best = f"best {ev.metric_name} {ev.best_metric:.4f}" if ev.best_metric is not None else ""
        self.log(f"run {ev.status} after {ev.epochs_done} epoch(s) {best}")
        self.metric_label.setText(f"{ev.status.replace('_', ' ').capitalize()} after "
                                  f"{ev.epochs_done} epoch(s). {best}")
        self.progress.setFormat(f"{ev.status.replace('_', ' ')} · {self.progress.format()}")

    def _on_failed(self, message: str) -> None:
        self.log(f"FAILED: {message}")
        self.metric_label.setText(f"Training failed: {message}")
        if self.isVisible():
            QMessageBox.warning(self, "Training failed", message)

    def _on_run_ended(self, outcome: RunOutcome) -> None:
        self._last_status = outcome.status
        self._update_buttons(self.engine.state)
        self.state.runsChanged.emit()
        run = self._run_of(outcome.run_dir)
        if run is not None:  # the header names the run that just ended, not a selected one
            self.runs.select(run.id, show=False)
            self.title.setText(f"{run.name}  —  {outcome.status.replace('_', ' ')}")

    def _run_of(self, run_dir: str) -> Any:
        store = self.state.store
        if store is None or not run_dir:
            return None
        target = Path(run_dir).resolve()
        return next((r for r in reversed(store.runs())
                     if run_folder(store, r).resolve() == target), None)

    # ------------------------------------------------------------------ past runs
    def _show_run(self, run_id: int) -> None:
        if self.engine.busy or self.state.store is None:
            return  # the live run keeps the curves
        self.show_run(run_id)

    def show_run(self, run_id: int) -> None:
        """Show a past run: its per-epoch curves, name and status in the header, its
        best metric; the run is selected in the list."""
        store = self.state.store
        run = store.run(run_id)
        history = read_metrics(run_folder(store, run))
        self._reset_view(f"{run.name}  —  {run.status.replace('_', ' ')}")
        self.curves.set_history(history)
        self.last_metrics = dict(history[-1]) if history else {}
        if run.best_metric is not None:
            self.metric_label.setText(f"Best {run.metric_name} {run.best_metric:.4f} "
                                      f"after {len(history)} epoch(s).")
        self.runs.select(run_id, show=False)

    def show_comparison(self, run_ids: list[int] | None = None) -> list[str]:
        """Overlay the checked runs' per-epoch curves; returns the run names drawn."""
        store = self.state.store
        if store is None:
            return []
        ids = run_ids if run_ids is not None else self.runs.checked_ids()
        runs = [(r.name, read_metrics(run_folder(store, r))) for r in store.runs() if r.id in ids]
        keys: list[str] = []
        for _, lines in runs:
            for l in lines:
                keys += [k for k in metric_keys(l) + ["val_loss", "train_loss"] if k not in keys]
        key = self.compare_key.currentText()
        if set(keys) != {self.compare_key.itemText(i) for i in range(self.compare_key.count())}:
            self.compare_key.blockSignals(True)
            self.compare_key.clear()
            self.compare_key.addItems(keys)
            self.compare_key.setCurrentText(key if key in keys else (keys[0] if keys else ""))
            self.compare_key.blockSignals(False)
        self.compare.show_runs(runs, self.compare_key.currentText())
        self.tabs.setCurrentIndex(1)
        return [n for n, _ in runs]
