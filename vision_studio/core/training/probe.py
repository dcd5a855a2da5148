"""The ``linear_probe`` strategy inside a run: one pass of the frozen network over the
training images (validation transform, no augmentation), a logistic-regression head
fitted in closed form (:func:`vision_studio.core.models.linear_probe.fit_linear_probe`)
and written into the model's last linear layer, then the usual validation, checkpoints,
``metrics.jsonl`` line and events, as one epoch."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator

from vision_studio.core.training.cancel import CancelToken
from vision_studio.core.training.events import EpochStart, SampleSkipped
from vision_studio.core.training.setup import make_loader, shutdown_loaders

log = logging.getLogger(__name__)


class ProbeCancelled(Exception):
    """Raised inside the feature pass when the run is cancelled."""


def _batches(loader: Any, cancel: CancelToken, emit: Callable[[Any], None],
             run: Any) -> Iterator[Any]:
    for batch in loader:
        cancel.wait_while_paused()
        if cancel.cancelled:
            raise ProbeCancelled
        for s in batch.skipped:
            emit(SampleSkipped(source=s.source, reason=s.reason, epoch=1))
            run.epoch_state["skipped"] += 1
            run.skipped.add(s.source)
        if len(batch):
            yield batch


def fit_probe_epoch(run: Any, emit: Callable[[Any], None], cancel: CancelToken) -> bool:
    """Fit the probe as epoch 1 of ``run``; False when cancelled (nothing is saved: the
    probe restarts in seconds).

    The features come from the model in ``eval`` mode on the validation transform of the
    training images; ``run.epoch_state`` gets the image count and time, and
    ``run.probe_metrics`` the probe's training accuracy.
    """
    from vision_studio.core.models.linear_probe import fit_linear_probe

    loader = make_loader(run.snapshot, run.train_samples, run.config, run.built, False,
                         run.device)
    loader.sampler.set_epoch(1)
    emit(EpochStart(epoch=1, epochs=1, steps=len(loader), groups=run.describe_groups(1)))
    started = time.perf_counter()
    try:
        result = fit_linear_probe(run.built, _batches(loader, cancel, emit, run),
                                  device=str(run.device))
    except ProbeCancelled:
        return False
    finally:
        shutdown_loaders(loader)
    run.epoch_state["train_time_s"] = time.perf_counter() - started
    run.epoch_state["images"] = result.n_train
    run.probe_metrics = {"train_accuracy": result.train_accuracy}
    log.info("linear probe fitted on %d images (%d features, %d lbfgs iterations)",
             result.n_train, result.feature_dim, result.iterations)
    return True
