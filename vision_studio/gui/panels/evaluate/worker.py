"""Prediction in a background thread, with progress and cancel, and a small list model."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QThread, Signal

from vision_studio.core.errors import VisionStudioError
from vision_studio.gui.panels.evaluate.data import EvalInputs, EvaluationCancelled, predict_inputs

log = logging.getLogger(__name__)


class PredictWorker(QObject):
    """Runs :func:`predict_inputs` in its own :class:`QThread` (touches no store).

    Signals:
        progress(int, int): images done, total.
        done(object): the predictions (core dataclasses of numpy arrays).
        failed(str): a one-line reason (``"cancelled"`` after :meth:`cancel`).
    """

    progress = Signal(int, int)
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


class RowsModel(QAbstractTableModel):
    """A read-only table of display tuples, each with a payload (what a row points at).

    Attributes:
        headers: Column titles.
        rows: Display values per row.
        payload: One object per row (an ``ErrorRow``, an image id ...).
        tooltips: Optional hover text per row.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.headers: list[str] = []
        self.rows: list[tuple] = []
        self.payload: list[Any] = []
        self.tooltips: list[str] = []

    def set_rows(self, headers: Sequence[str], rows: Sequence[tuple], payload: Sequence[Any],
                 tooltips: Sequence[str] | None = None) -> None:
        """Replace everything (one model reset)."""
        self.beginResetModel()
        self.headers, self.rows, self.payload = list(headers), list(rows), list(payload)
        self.tooltips = list(tooltips) if tooltips is not None else []
        self.endResetModel()

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
            return self.tooltips[index.row()]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers[section]
        return None
