"""What a run returns and the error it stops with: the value types shared by the run
state (:mod:`.prepare`) and the loop (:mod:`.trainer`), one level below both."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vision_studio.core.errors import VisionStudioError


class TrainingError(VisionStudioError):
    """The run stopped on a fault (NaN loss, out of memory...); the message says what to
    change. The last good ``last.pt`` is kept."""


@dataclass
class TrainResult:
    """What :meth:`~vision_studio.core.training.trainer.Trainer.fit` returns.

    Attributes:
        status: ``"finished"``, ``"early_stopped"`` or ``"stopped"`` (cancelled; resumable).
        run_dir: The run folder.
        best_metric: Best value of ``metric_name`` (``None`` before the first epoch ended).
        metric_name: The metric that picks ``best.pt``.
        epochs_done: Completed epochs.
        history: The ``metrics.jsonl`` lines, one per completed epoch.
        last_checkpoint / best_checkpoint: Paths, or ``None`` when not written.
        skipped: Project paths of images that could not be loaded.
    """

    status: str
    run_dir: str
    best_metric: float | None
    metric_name: str
    epochs_done: int
    history: list[dict[str, Any]] = field(default_factory=list)
    last_checkpoint: str | None = None
    best_checkpoint: str | None = None
    skipped: list[str] = field(default_factory=list)
