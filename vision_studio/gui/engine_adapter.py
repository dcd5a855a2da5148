"""The GUI side of the training engine: the core :class:`Trainer` in a ``QThread``.

One :class:`TrainingEngine` per application (``AppState.engine``), shared by the Model
panel (which starts runs) and the Training monitor (which watches, pauses, stops and
resumes them). It owns one :class:`TrainingWorker` moved to one ``QThread``; the worker
opens its OWN :class:`~vision_studio.core.store.ProjectStore` connection on the project
file in that thread and runs the very same ``Trainer.fit`` the CLI runs, with a callback
that forwards the core's frozen event dataclasses. The engine re-emits them as typed
signals on the GUI thread, so panels (and ``qtbot.waitSignal``) only ever see GUI-thread
signals carrying frozen dataclasses of plain values — never tensors, never Qt objects.

Threading rules (DESIGN.md): the worker never touches widgets; what crosses the thread
boundary is a frozen dataclass (:class:`TrainJob`, the core events, :class:`DeviceStats`,
:class:`RunOutcome`); the thread is stopped (cancel, ``quit()``, ``wait()``) before the
window is destroyed (:meth:`TrainingEngine.shutdown`).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.training.cancel import CancelToken
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.training.events import (BatchEnd, CheckpointSaved, EpochEnd, EpochStart,
                                                SampleSkipped, TrainFailed, TrainFinished,
                                                TrainStarted)
from vision_studio.core.wording import plural

log = logging.getLogger(__name__)

BATCH_EVENT_INTERVAL_S = 0.05
"""At most one ``BatchEnd`` per this many seconds crosses to the GUI (the last step of an
epoch always does): a fast model must not flood the GUI's event queue."""

IDLE, STARTING, RUNNING, PAUSED, STOPPING = "idle", "starting", "running", "paused", "stopping"


class TrainingBusy(VisionStudioError):
    """A run is already in progress: one training at a time."""


@dataclass(frozen=True)
class TrainJob:
    """What the GUI asks the worker to run (crosses to the worker thread).

    Attributes:
        project: Path of the ``.vsproj`` file (the worker opens its own connection).
        config: ``TrainConfig.to_dict()``, or ``None`` to resume with the checkpoint's.
        resume: A run folder or checkpoint to continue from, or ``None``.
        torch_threads: ``torch.set_num_threads`` for the run (``None``: leave as is).
        cancel: The run's stop/pause flag (thread-safe; shared on purpose).
    """

    project: str
    config: Mapping[str, Any] | None
    resume: str | None = None
    torch_threads: int | None = None
    cancel: CancelToken = field(default_factory=CancelToken, compare=False)


@dataclass(frozen=True)
class DeviceStats:
    """Where the run trains and, on CUDA, its GPU memory (MiB), sent with batch events."""

    device: str
    name: str
    memory_allocated_mib: float | None = None
    memory_reserved_mib: float | None = None
    memory_total_mib: float | None = None


@dataclass(frozen=True)
class RunOutcome:
    """How a job ended (emitted once per job, after the trainer returned or raised).

    Attributes:
        status: ``"finished"``, ``"early_stopped"``, ``"stopped"`` or ``"failed"``.
        run_dir: The run folder (``""`` when the run failed before it had one).
        best_metric: Best value of ``metric_name`` or ``None``.
        metric_name: The metric that picks ``best.pt``.
        epochs_done: Completed epochs.
        history: The ``metrics.jsonl`` lines of the run (one dict per epoch).
        error: The readable failure message (``""`` unless failed).
    """

    status: str
    run_dir: str = ""
    best_metric: float | None = None
    metric_name: str = ""
    epochs_done: int = 0
    history: tuple[Mapping[str, Any], ...] = ()
    error: str = ""


def _device_stats(device: str) -> DeviceStats:
    """Device name and, on CUDA, memory use (torch is loaded by then)."""
    import torch

    if device == "cuda" and torch.cuda.is_available():
        i = torch.cuda.current_device()
        mib = 1024.0 ** 2
        return DeviceStats("cuda", torch.cuda.get_device_name(i),
                           torch.cuda.memory_allocated(i) / mib, torch.cuda.memory_reserved(i) / mib,
                           torch.cuda.get_device_properties(i).total_memory / mib)
    if device == "cpu":
        return DeviceStats("cpu", f"CPU ({plural(torch.get_num_threads(), 'thread')})")
    return DeviceStats(device, device.upper())


class TrainingWorker(QObject):
    """Runs :class:`TrainJob` s in the thread it was moved to. Never touches widgets.

    Signals (emitted in the worker thread; connect them to GUI-thread objects, which Qt
    then calls through queued connections):
        event(object): a core event (``TrainStarted``, ``EpochStart``, ``BatchEnd``,
            ``EpochEnd``, ``CheckpointSaved``, ``SampleSkipped``, ``TrainFinished``,
            ``TrainFailed``) or a :class:`DeviceStats`.
        done(object): the job's :class:`RunOutcome`.
    """

    event = Signal(object)
    done = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self._device = "cpu"
        self._last_batch = 0.0
        self._pending: BatchEnd | None = None

    @Slot(object)
    def run(self, job: TrainJob) -> None:  # worker thread
        """Train ``job`` to its end (or cancel / failure) and emit ``done``."""
        from vision_studio.core.store import ProjectStore

        self._pending, self._last_batch = None, 0.0
        try:
            store = ProjectStore.open(job.project)
        except VisionStudioError as exc:
            self.done.emit(RunOutcome(status="failed", error=str(exc)))
            return
        try:
            outcome = self._fit(store, job)
        except VisionStudioError as exc:
            outcome = RunOutcome(status="failed", error=str(exc))
        except Exception as exc:  # never let a traceback reach the user
            log.exception("training failed")
            outcome = RunOutcome(status="failed", error=f"unexpected {type(exc).__name__}: {exc}")
        finally:
            store.close()
        self.done.emit(outcome)

    def _fit(self, store: Any, job: TrainJob) -> RunOutcome:
        import torch

        from vision_studio.core.training.trainer import Trainer

        if job.torch_threads:
            torch.set_num_threads(job.torch_threads)
        config = TrainConfig.from_dict(job.config) if job.config is not None else None
        result = Trainer(store).fit(config, callbacks=[self._on_event], cancel=job.cancel,
                                    resume=job.resume)
        return RunOutcome(status=result.status, run_dir=result.run_dir,
                          best_metric=result.best_metric, metric_name=result.metric_name,
                          epochs_done=result.epochs_done,
                          history=tuple(dict(h) for h in result.history))

    def _on_event(self, ev: Any) -> None:  # the trainer's callback, worker thread
        if isinstance(ev, TrainStarted):
            self._device = ev.device
        if isinstance(ev, BatchEnd):
            now = time.monotonic()
            if ev.step < ev.steps and now - self._last_batch < BATCH_EVENT_INTERVAL_S:
                self._pending = ev
                return
            self._last_batch, self._pending = now, None
            self.event.emit(ev)
            self.event.emit(_device_stats(self._device))
            return
        if self._pending is not None and isinstance(ev, (EpochEnd, TrainFinished, TrainFailed)):
            self.event.emit(self._pending)
            self._pending = None
        self.event.emit(ev)


class TrainingEngine(QObject):
    """The app's one training engine, living on the GUI thread.

    Signals (all emitted on the GUI thread):
        started(object): :class:`TrainStarted`.
        epochStarted(object): :class:`EpochStart`.
        batchEnded(object): :class:`BatchEnd` (throttled, see :data:`BATCH_EVENT_INTERVAL_S`).
        epochEnded(object): :class:`EpochEnd` (``metrics`` = the ``metrics.jsonl`` line).
        checkpointSaved(object): :class:`CheckpointSaved`.
        sampleSkipped(object): :class:`SampleSkipped`.
        deviceStats(object): :class:`DeviceStats`.
        finished(object): :class:`TrainFinished` (finished, early-stopped or stopped).
        failed(str): a readable message (bad settings, out of memory, NaN loss...).
        runEnded(object): :class:`RunOutcome`, once per job, after ``finished``/``failed``.
        stateChanged(str): ``"idle"``, ``"starting"``, ``"running"``, ``"paused"`` or
            ``"stopping"``.

    Args:
        parent: The owner (``AppState``).
        torch_threads: Threads torch may use while training (default: all but one
            core, so that the GUI thread keeps one).
    """

    started = Signal(object)
    epochStarted = Signal(object)
    batchEnded = Signal(object)
    epochEnded = Signal(object)
    checkpointSaved = Signal(object)
    sampleSkipped = Signal(object)
    deviceStats = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    runEnded = Signal(object)
    stateChanged = Signal(str)
    _submit = Signal(object)

    _SIGNALS = {TrainStarted: "started", EpochStart: "epochStarted", BatchEnd: "batchEnded",
                EpochEnd: "epochEnded", CheckpointSaved: "checkpointSaved",
                SampleSkipped: "sampleSkipped", DeviceStats: "deviceStats",
                TrainFinished: "finished"}

    def __init__(self, parent: QObject | None = None, torch_threads: int | None = None) -> None:
        super().__init__(parent)
        self.torch_threads = torch_threads or max(1, (os.cpu_count() or 2) - 1)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._job: TrainJob | None = None
        self._state = IDLE
        self._failed_sent = False
        self.run_dir: str = ""
        """Folder of the current or last run (``""`` before the first)."""
        self.project: str = ""
        """Project file of the current or last run."""
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> str:
        """One of ``idle``, ``starting``, ``running``, ``paused``, ``stopping``."""
        return self._state

    @property
    def busy(self) -> bool:
        """True from :meth:`start` until the job's ``runEnded``."""
        return self._job is not None

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    # ------------------------------------------------------------------ control
    def start(self, project: str | os.PathLike, config: TrainConfig | None,
              resume: str | os.PathLike | None = None) -> None:
        """Start a run (or resume one) in the worker thread; returns at once.

        Args:
            project: The project file.
            config: The run's settings (validated here, on the GUI thread); ``None``
                with ``resume`` continues with the checkpoint's own config.
            resume: A run folder or checkpoint to continue.

        Raises:
            TrainingBusy: a run is in progress.
            ConfigError: invalid settings.
        """
        if self.busy:
            raise TrainingBusy("a training run is already in progress: stop it first")
        data = None
        if config is not None:
            config.validate()
            data = config.to_dict()
        elif resume is None:
            raise VisionStudioError("nothing to train: give settings or a run to resume")
        self._ensure_thread()
        self._job = TrainJob(project=str(project), config=data,
                             resume=str(resume) if resume is not None else None,
                             torch_threads=self.torch_threads)
        self.project, self._failed_sent = str(project), False
        if resume is not None:
            self.run_dir = str(Path(resume).parent if Path(resume).is_file() else resume)
        self._set_state(STARTING)
        self._submit.emit(self._job)

    def resume_run(self, project: str | os.PathLike, run_dir: str | os.PathLike) -> None:
        """Continue a stopped run from its ``last.pt`` with its own settings."""
        self.start(project, None, resume=run_dir)

    def pause(self) -> None:
        """Pause before the next batch (the thread waits; nothing is lost)."""
        if self._job is not None and self._state in (STARTING, RUNNING):
            self._job.cancel.pause()
            self._set_state(PAUSED)

    def unpause(self) -> None:
        """End a pause."""
        if self._job is not None and self._state == PAUSED:
            self._job.cancel.resume()
            self._set_state(RUNNING)

    def stop(self) -> None:
        """Stop at the next batch boundary; a resumable ``last.pt`` is written."""
        if self._job is not None and self._state != STOPPING:
            self._job.cancel.cancel()
            self._set_state(STOPPING)

    def shutdown(self, timeout_ms: int = 120_000) -> bool:
        """Stop any run and the thread, waiting for both (call before the window is
        destroyed). Returns False if the thread did not end within ``timeout_ms``."""
        if self._job is not None:
            self._job.cancel.cancel()
        if self._thread is None:
            return True
        self._thread.quit()
        ok = self._thread.wait(timeout_ms)
        if ok:
            self._thread = None
            self._worker = None
        else:
            log.error("the training thread did not stop within %d ms", timeout_ms)
        return ok

    # ------------------------------------------------------------------ plumbing
    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        self._thread = QThread(self)
        self._thread.setObjectName("training")
        self._worker = TrainingWorker()
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._submit.connect(self._worker.run)
        self._worker.event.connect(self._on_event)
        self._worker.done.connect(self._on_done)
        self._thread.start()

    @Slot(object)
    def _on_event(self, ev: Any) -> None:  # GUI thread (queued)
        if isinstance(ev, TrainStarted):
            self.run_dir = ev.run_dir
            if self._state == STARTING:
                self._set_state(PAUSED if self._job and self._job.cancel.paused else RUNNING)
        if isinstance(ev, TrainFailed):
            self._failed_sent = True
            self.failed.emit(ev.message)
            return
        name = self._SIGNALS.get(type(ev))
        if name is not None:
            getattr(self, name).emit(ev)

    @Slot(object)
    def _on_done(self, outcome: RunOutcome) -> None:  # GUI thread (queued)
        self._job = None
        if outcome.run_dir:
            self.run_dir = outcome.run_dir
        if outcome.error and not self._failed_sent:
            self.failed.emit(outcome.error)
        self._set_state(IDLE)
        self.runEnded.emit(outcome)
