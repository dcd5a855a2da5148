"""Work off the GUI thread — prediction (progress, cancel) and the evaluations that take
longer than a frame (opening from the cache, a new NMS IoU, AP and the confusion matrix
when the thresholds rest) — and a small list model."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QRunnable, Qt, QThread,
                            QThreadPool, Signal)

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.gcpause import gc_paused
from vision_studio.core.evaluation.session import EvalInputs, EvaluationCancelled, predict_inputs

log = logging.getLogger(__name__)


class PredictWorker(QObject):
    """Runs :func:`predict_inputs` in its own :class:`QThread` (touches no store).

    Signals:
        progress(float, int): images done (fractional within a large image predicted
            tile by tile), total.
        done(object): the predictions (core dataclasses of numpy arrays).
        failed(str): a one-line reason (``"cancelled"`` after :meth:`cancel`).
    """

    progress = Signal(float, int)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, inputs: EvalInputs, paths: Sequence[Path], device: str = "auto") -> None:
        super().__init__()
        self.inputs, self.paths, self.device = inputs, list(paths), device
        self._cancel = False
        self.thread = QThread()
        self.thread.setObjectName("evaluate-predict")
        self.moveToThread(self.thread)
        self.thread.started.connect(self.run)

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def cancel(self) -> None:
        """Ask the prediction to stop after the current batch."""
        self._cancel = True

    def stop(self, timeout_ms: int = 60_000) -> bool:
        """Cancel, quit and wait for the thread (call before destroying the panel)."""
        self.cancel()
        self.thread.quit()
        return self.thread.wait(timeout_ms)

    def run(self) -> None:
        """Predict (in the worker thread); always quits the thread at the end."""
        try:
            pred = predict_inputs(self.inputs, self.paths, progress=self.progress.emit,
                                  cancelled=lambda: self._cancel, device=self.device)
            self.done.emit(pred)
        except EvaluationCancelled:
            self.failed.emit("cancelled")
        except VisionStudioError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a worker must never take the app down
            log.exception("prediction failed")
            self.failed.emit(f"prediction failed: {exc}")
        finally:
            self.thread.quit()


Job = Callable[[Callable[[Any], None], Callable[[], bool]], Any]
"""A computation for :class:`ComputeQueue`: called in the worker thread as
``job(report, stale)`` — ``report(partial)`` sends an intermediate result, ``stale()``
says whether a newer job superseded it (check it between long steps and return early);
returns the final result. It must only read shared data (no Qt objects, no store
writes) and return plain data."""


class _Relay(QObject):
    """Carries a job's results across threads (lives in the GUI thread)."""

    partial = Signal(int, object)
    done = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread_ids: list[int] = []  # where the jobs ran (threading.get_ident)


class _Run(QRunnable):
    def __init__(self, job: Job, generation: int, relay: _Relay, stale: Callable[[], bool]) -> None:
        super().__init__()
        self.job, self.generation, self.relay, self.stale = job, generation, relay, stale
        self.setAutoDelete(True)

    def run(self) -> None:
        g = self.generation
        # The cyclic garbage collector is paused while a job runs: an evaluation makes
        # hundreds of thousands of small dicts (COCO results), and the full collections
        # they trigger hold the GIL for hundreds of milliseconds — freezing the GUI thread
        # and doubling the job's time (measured: benchmarks/bench_eval_sliders.py). The
        # results are freed by reference counting; collection resumes after the job
        # (pauses overlapping with an import are counted, see core.gcpause).
        self.relay.thread_ids.append(threading.get_ident())
        with gc_paused():
            try:
                self.relay.done.emit(g, self.job(lambda obj: self.relay.partial.emit(g, obj),
                                                 self.stale))
            except VisionStudioError as exc:
                self.relay.failed.emit(g, str(exc))
            except Exception as exc:  # a worker must never take the app down
                log.exception("evaluation failed")
                self.relay.failed.emit(g, f"evaluation failed: {exc}")


class ComputeQueue(QObject):
    """One background thread for the evaluation's slow steps; the newest request wins.

    :meth:`submit` numbers each job with a new generation and drops jobs still waiting
    (a job already running finishes — COCO evaluation cannot be interrupted — but its
    results carry an old generation). Results arrive through the signals, queued to the
    thread of the connected receivers (connect bound methods of GUI-thread objects);
    compare the generation with :attr:`generation` to ignore stale ones.

    Signals:
        partial(int, object): generation, an intermediate result of the job.
        done(int, object): generation, the job's result.
        failed(int, str): generation, a one-line reason.

    Attributes:
        generation: The number of the newest job (0 before any).
    """

    partial = Signal(int, object)
    done = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.generation = 0
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.pool.setExpiryTimeout(-1)  # keep the thread (and its imports) warm
        self._relay = _Relay(self)
        self._relay.partial.connect(self._partial)
        self._relay.done.connect(self._done)
        self._relay.failed.connect(self._failed)

    def submit(self, job: Job) -> int:
        """Queue ``job`` (superseding the waiting ones); returns its generation."""
        self.generation += 1
        g = self.generation
        self.pool.clear()
        self.pool.start(_Run(job, g, self._relay, lambda: g != self.generation))
        return g

    @property
    def thread_ids(self) -> list[int]:
        """``threading.get_ident()`` of the thread each started job ran in, in order."""
        return self._relay.thread_ids

    def supersede(self) -> None:
        """Make every submitted job stale (e.g. a new evaluation was opened)."""
        self.generation += 1
        self.pool.clear()

    def busy(self) -> bool:
        """Whether a job runs or waits."""
        return self.pool.activeThreadCount() > 0

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Drop waiting jobs and wait for the running one (before the panel goes)."""
        self.pool.clear()
        return self.pool.waitForDone(timeout_ms)

    def _partial(self, g: int, obj: Any) -> None:
        self.partial.emit(g, obj)

    def _done(self, g: int, obj: Any) -> None:
        self.done.emit(g, obj)

    def _failed(self, g: int, msg: str) -> None:
        self.failed.emit(g, msg)


class RowsModel(QAbstractTableModel):
    """A read-only table of display tuples, each with a payload (what a row points at).

    Attributes:
        headers: Column titles.
        rows: Display values per row.
        payload: One object per row (an ``ErrorRow``, an image id ...).
        tooltips: Optional hover text per row: a sequence, or a function of the row
            (made only when hovered: a list of 1,000 rows fills at once).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.headers: list[str] = []
        self.rows: list[tuple] = []
        self.payload: list[Any] = []
        self.tooltips: Sequence[str] | Callable[[int], str] = []

    def set_rows(self, headers: Sequence[str], rows: Sequence[tuple], payload: Sequence[Any],
                 tooltips: Sequence[str] | Callable[[int], str] | None = None) -> None:
        """Replace everything (one model reset)."""
        self.beginResetModel()
        self.headers, self.rows, self.payload = list(headers), list(rows), list(payload)
        self.tooltips = tooltips if callable(tooltips) else list(tooltips or [])
        self.endResetModel()

    def replace_row(self, row: int, values: tuple) -> None:
        """Show new display values in one row (the payload stays)."""
        self.rows[row] = tuple(values)
        self.dataChanged.emit(self.index(row, 0), self.index(row, max(len(self.headers) - 1, 0)))

    def tooltip(self, row: int) -> str:
        """The hover text of ``row`` ("" when none)."""
        if callable(self.tooltips):
            return self.tooltips(row)
        return self.tooltips[row] if row < len(self.tooltips) else ""

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.headers)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            v = self.rows[index.row()][index.column()]
            return f"{v:.3f}" if isinstance(v, float) else str(v)
        if role == Qt.ItemDataRole.ToolTipRole and self.tooltips:
            return self.tooltip(index.row())
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers[section]
        return None
