"""The headless training engine: config, events, trainer, checkpoints.

Public API::

    from vision_studio.core.training import TrainConfig, Trainer, CancelToken
    result = Trainer(store).fit(TrainConfig(task="classification", arch="resnet18"),
                                callbacks=[print_event], cancel=CancelToken())

``TrainConfig`` and the events are importable without torch; ``Trainer``,
``TrainResult``, ``TrainingError`` and ``load_checkpoint`` import torch on first use.
"""
from vision_studio.core.training.cancel import CancelToken
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.training.events import (BatchEnd, CheckpointSaved, EpochEnd, EpochStart,
                                                SampleSkipped, TrainFailed, TrainFinished,
                                                TrainStarted, WeightsProgress)

_LAZY = {
    "Trainer": "vision_studio.core.training.trainer",
    "TrainResult": "vision_studio.core.training.result",
    "TrainingError": "vision_studio.core.training.result",
    "load_checkpoint": "vision_studio.core.training.checkpoints",
    "CheckpointError": "vision_studio.core.training.checkpoints",
}


def __getattr__(name: str):  # PEP 562: torch only when the engine is used
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BatchEnd", "CancelToken", "CheckpointError", "CheckpointSaved", "EpochEnd",
           "EpochStart", "SampleSkipped", "TrainConfig", "TrainFailed", "TrainFinished",
           "TrainResult", "TrainStarted", "Trainer", "TrainingError", "WeightsProgress",
           "load_checkpoint"]
