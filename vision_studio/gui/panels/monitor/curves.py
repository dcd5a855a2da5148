"""Live training curves (pyqtgraph): losses, the task metric, the learning rate, and an
overlay of several runs' curves for comparison.

The x axis is in epochs: a batch ``step`` of ``steps`` in epoch ``e`` sits at
``e - 1 + step / steps``; per-epoch values (``metrics.jsonl``) sit at ``e``.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QWidget

from vision_studio.core.training.events import BatchEnd

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#17becf", "#bcbd22", "#7f7f7f")
NOT_METRICS = {"epoch", "train_loss", "val_loss", "lr", "train_images", "train_time_s",
               "train_images_per_s", "skipped"}


def _plot(title: str, left: str, y_min: float | None = None) -> pg.PlotWidget:
    """A plot over epochs: the x axis starts at 0; neither axis shows an SI prefix
    (pyqtgraph's default scales a 0.002 loss to "loss (x0.001)" and epochs to
    "epoch (x0.001)": the numbers are shown as they are); with ``y_min`` the y axis never
    shows values below it (a learning rate or a loss cannot be negative: autorange
    padding must not suggest it)."""
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#222", size="10pt")
    w.setLabel("left", left)
    w.setLabel("bottom", "epoch")
    for side in ("bottom", "left"):
        w.getAxis(side).enableAutoSIPrefix(False)
    w.setLimits(xMin=0) if y_min is None else w.setLimits(xMin=0, yMin=y_min)
    w.setXRange(0, 1, padding=0.02)
    w.showGrid(x=True, y=True, alpha=0.25)
    w.addLegend(offset=(-10, 10), labelTextColor="#222")
    w.setMinimumHeight(90)
    return w


def metric_keys(line: Mapping[str, Any]) -> list[str]:
    """The validation metrics of a ``metrics.jsonl`` line (``accuracy``, ``mAP``...),
    leaving out losses, loss parts and bookkeeping."""
    return [k for k, v in line.items() if k not in NOT_METRICS and not k.startswith("loss")
            and isinstance(v, (int, float))]


class TrainingCurves(QWidget):
    """Three plots: loss (per batch, per epoch, validation, parts), task metric, learning
    rate. Feed it with :meth:`add_batch` / :meth:`add_epoch`, or :meth:`set_history`.

    Attributes:
        batch_x / batch_loss / batch_lr: Per-batch points received.
        epochs: The per-epoch lines received (dicts as in ``metrics.jsonl``).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = _plot("Loss", "loss", y_min=0.0)
        self.metric_plot = _plot("Validation metric", "metric")
        self.lr_plot = _plot("Learning rate (head)", "lr", y_min=0.0)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.loss_plot, 0, 0, 1, 2)
        grid.addWidget(self.metric_plot, 1, 0)
        grid.addWidget(self.lr_plot, 1, 1)
        self.clear()

    def clear(self) -> None:
        """Forget every point."""
        for p in (self.loss_plot, self.metric_plot, self.lr_plot):
            p.clear()
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.batch_lr: list[float] = []
        self.epochs: list[dict[str, Any]] = []
        pen = pg.mkPen("#9ecae1", width=1)
        self._batch_curve = self.loss_plot.plot([], [], pen=pen, name="train loss (batch)")
        self._lr_curve = self.lr_plot.plot([], [], pen=pg.mkPen(COLORS[2], width=2), name="lr")
        self._epoch_curves: dict[tuple[str, str], Any] = {}

    def set_span(self, epochs: float) -> None:
        """Show epochs 0…``epochs`` on the x axes (the run's length, known at its start)."""
        for p in (self.loss_plot, self.metric_plot, self.lr_plot):
            p.setXRange(0, max(1.0, float(epochs)), padding=0.02)

    def add_batch(self, ev: BatchEnd) -> None:
        """Add one batch's loss and learning rate."""
        x = ev.epoch - 1 + ev.step / max(1, ev.steps)
        self.batch_x.append(x)
        self.batch_loss.append(ev.loss)
        self.batch_lr.append(ev.lr)
        self._batch_curve.setData(self.batch_x, self.batch_loss)
        self._lr_curve.setData(self.batch_x, self.batch_lr)

    def add_epoch(self, line: Mapping[str, Any]) -> None:
        """Add one epoch's ``metrics.jsonl`` line (redraws the per-epoch curves)."""
        self.epochs = [e for e in self.epochs if e.get("epoch") != line.get("epoch")]
        self.epochs.append(dict(line))
        self.epochs.sort(key=lambda e: e.get("epoch", 0))
        self._draw_epochs()

    def set_history(self, lines: Sequence[Mapping[str, Any]]) -> None:
        """Show a whole run's per-epoch history (a past run, or a resumed one)."""
        self.clear()
        self.epochs = [dict(l) for l in lines]
        self.set_span(max((e.get("epoch", 0) for e in self.epochs), default=1))
        self._draw_epochs()
        if not self.batch_x:  # a past run: the per-epoch learning rate
            self._lr_curve.setData([e["epoch"] for e in self.epochs if "lr" in e],
                                   [e["lr"] for e in self.epochs if "lr" in e])

    def _curve(self, plot: pg.PlotWidget, key: str, color: str, width: int = 2) -> Any:
        if (id(plot), key) not in self._epoch_curves:
            self._epoch_curves[(id(plot), key)] = plot.plot(
                [], [], pen=pg.mkPen(color, width=width), symbol="o", symbolSize=6,
                symbolBrush=color, name=key)
        return self._epoch_curves[(id(plot), key)]

    def _draw_epochs(self) -> None:
        if not self.epochs:
            return
        keys: list[str] = []
        for e in self.epochs:
            keys += [k for k in e if k not in keys]
        losses = ["train_loss", "val_loss"] + [k for k in keys if k.startswith("loss_")]
        metrics = metric_keys({k: 0.0 for k in keys})
        for i, key in enumerate(losses):
            self._series(self.loss_plot, key, COLORS[i % len(COLORS)], 2 if i < 2 else 1)
        for i, key in enumerate(metrics):
            self._series(self.metric_plot, key, COLORS[i % len(COLORS)])

    def _series(self, plot: pg.PlotWidget, key: str, color: str, width: int = 2) -> None:
        pts = [(e["epoch"], e[key]) for e in self.epochs if isinstance(e.get(key), (int, float))]
        if pts:
            xs, ys = zip(*pts)
            self._curve(plot, key, color, width).setData(list(xs), list(ys))


class CompareCurves(QWidget):
    """Overlay of several runs: one line per run of a chosen per-epoch value."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _plot("Comparison of runs", "value")
        self.lines: dict[str, list[tuple[float, float]]] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.plot)

    def show_runs(self, runs: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], key: str) -> None:
        """Draw ``key`` (e.g. ``"accuracy"``, ``"val_loss"``) per epoch for each
        ``(run name, metrics lines)``."""
        self.plot.clear()
        self.plot.setTitle(f"Comparison of runs: {key}", color="#222", size="10pt")
        self.plot.setLabel("left", key)
        self.lines = {}
        for i, (name, lines) in enumerate(runs):
            pts = [(l["epoch"], l[key]) for l in lines if isinstance(l.get(key), (int, float))]
            self.lines[name] = pts
            if pts:
                xs, ys = zip(*pts)
                color = COLORS[i % len(COLORS)]
                self.plot.plot(list(xs), list(ys), pen=pg.mkPen(color, width=2), symbol="o",
                               symbolSize=6, symbolBrush=color, name=name)
