"""Named training events: frozen dataclasses of plain Python values.

``Trainer.fit`` calls every callback with one event (never the trainer itself), on the
training thread; the GUI's ``TrainingWorker`` turns them into Qt signals. Epochs are
counted from 1, steps within an epoch from 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class TrainStarted:
    """The run is set up and about to train.

    Attributes:
        run_dir: The run folder.
        device: ``"cpu"``, ``"cuda"`` or ``"mps"``.
        num_train: Number of training images; ``num_val`` likewise.
        class_names: Model labels' names (``"background"`` first where there is one).
        start_epoch: First epoch to run (> 1 when resuming).
        epochs: Last epoch.
        split: Where the train/validation split came from.
    """

    run_dir: str
    device: str
    num_train: int
    num_val: int
    class_names: tuple[str, ...]
    start_epoch: int
    epochs: int
    split: str = ""


@dataclass(frozen=True)
class WeightsProgress:
    """Library weights are downloading, before the run starts (cancel stops it).

    Attributes:
        done: Bytes received so far.
        total: Bytes in all, -1 when unknown.
    """

    done: int
    total: int


@dataclass(frozen=True)
class EpochStart:
    """An epoch begins. ``groups``: ``(group name, trainable, lr)`` per parameter group."""

    epoch: int
    epochs: int
    steps: int
    groups: tuple[tuple[str, bool, float], ...] = ()


@dataclass(frozen=True)
class BatchEnd:
    """One optimizer step done.

    Attributes:
        loss: Total training loss of the batch.
        loss_parts: The parts of the loss (detection: ``loss_classifier``,
            ``loss_box_reg``, ...; other tasks: ``{"loss": loss}``).
        lr: Learning rate of the head's parameter group after the step.
        images_per_s: Training throughput over the epoch so far.
        eta_s: Estimated seconds until the end of the epoch.
    """

    epoch: int
    step: int
    steps: int
    loss: float
    loss_parts: Mapping[str, float]
    lr: float
    images_per_s: float
    eta_s: float


@dataclass(frozen=True)
class EpochEnd:
    """An epoch ended. ``metrics``: the line written to ``metrics.jsonl``."""

    epoch: int
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointSaved:
    """A checkpoint file was written. ``kind``: ``"last"`` or ``"best"``."""

    path: str
    kind: str
    epoch: int = 0


@dataclass(frozen=True)
class SampleSkipped:
    """An image could not be loaded; it was left out and training went on."""

    source: str
    reason: str
    epoch: int


@dataclass(frozen=True)
class TrainFinished:
    """The run ended normally, early-stopped or was cancelled (``status`` says which)."""

    best_metric: float | None
    run_dir: str
    status: str = "finished"
    metric_name: str = ""
    epochs_done: int = 0


@dataclass(frozen=True)
class TrainFailed:
    """The run stopped on an error; ``message`` says what to change."""

    message: str
    run_dir: str = ""


Event = (TrainStarted | WeightsProgress | EpochStart | BatchEnd | EpochEnd | CheckpointSaved
         | SampleSkipped
         | TrainFinished | TrainFailed)
Callback = Callable[[Any], None]
