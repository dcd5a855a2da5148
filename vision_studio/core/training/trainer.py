"""``Trainer.fit``: the headless training loop shared by the CLI and the GUI.

One run = a store snapshot, a model from the registry with its transfer plan, and a loop
of epochs that emits named events (:mod:`.events`), checks the cancel token before every
batch, validates after every epoch, writes ``metrics.jsonl`` and the ``last.pt`` /
``best.pt`` checkpoints (:mod:`.checkpoints`) in the run folder, and records the run in
the project store. A run resumes exactly from ``last.pt`` (also after a mid-epoch
cancel): model, optimizer, schedule, AMP scaler, RNG states, epoch and step.
"""
from __future__ import annotations

import itertools
import logging
import math
import os
import time
from typing import Any, Callable, Sequence

import torch

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.training import checkpoints as ck
from vision_studio.core.training import distributed as D
from vision_studio.core.training.cancel import CancelToken
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.training.defaults import recommended
from vision_studio.core.training.engine import compute_loss, evaluate, to_device
from vision_studio.core.training.events import (BatchEnd, CheckpointSaved, EpochEnd, EpochStart,
                                                SampleSkipped, TrainFailed, TrainFinished)
from vision_studio.core.training.prepare import Run, prepare_run
from vision_studio.core.training.result import TrainingError, TrainResult
from vision_studio.core.training.probe import fit_probe_epoch
from vision_studio.core.types import Problem

log = logging.getLogger(__name__)

__all__ = ["CancelToken", "TrainResult", "Trainer", "TrainingError"]


class Trainer:
    """Trains models on a project.

    Args:
        store: The open :class:`~vision_studio.core.store.ProjectStore`.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def fit(self, config: TrainConfig | None = None, callbacks: Sequence[Callable[[Any], None]] = (),
            cancel: CancelToken | None = None, resume: str | os.PathLike | None = None) -> TrainResult:
        """Train (or resume) a run.

        Args:
            config: The run's settings; with ``resume`` it may be ``None`` (the
                checkpoint's config is used) or change ``epochs`` and other non-model
                settings.
            callbacks: Called with every event (:mod:`.events`), on this thread; an
                exception in a callback is logged, not raised.
            cancel: Checked before every batch; cancelling writes a resumable ``last.pt``.
                It also stops a library-weights download before the run starts
                (``DownloadCancelled``; :class:`WeightsProgress` events report it).
            resume: A run folder or checkpoint to continue from.

        Returns:
            The :class:`TrainResult`.

        Raises:
            ConfigError: invalid settings, no labelled images, a category without a
                training example (before anything is written).
            TrainingError: NaN/inf loss, out of memory (after ``TrainFailed``).
            CheckpointError: ``resume`` is not a readable checkpoint.
        """
        cancel = cancel or CancelToken()
        emit = _emitter(callbacks)
        run = prepare_run(self.store, config, resume, emit, cancel)
        try:
            return self._loop(run, emit, cancel)
        except BaseException as exc:
            message = _failure_message(exc, run)
            run.folder.update(status="stopped" if isinstance(exc, KeyboardInterrupt) else "failed")
            emit(TrainFailed(message=message, run_dir=str(run.folder.path)))
            if isinstance(exc, (VisionStudioError, KeyboardInterrupt)):
                raise
            log.error("training failed", exc_info=exc)  # the traceback goes to the log
            raise TrainingError(message) from exc
        finally:
            run.close()

    # ------------------------------------------------------------------ loop
    def _loop(self, run: Run, emit: Callable[[Any], None], cancel: CancelToken) -> TrainResult:
        emit(run.started_event())
        status = "finished"
        if run.config.strategy["name"] == "linear_probe":
            status = self._probe(run, emit, cancel)
            epochs = range(0)
        else:
            epochs = range(run.epoch + 1, run.config.epochs + 1)
        for epoch in epochs:
            if not self._train_epoch(run, epoch, emit, cancel):
                self._save(run, emit, best=False)
                status = "stopped"
                break
            stop = self._end_epoch(run, epoch, emit)
            if stop:
                status = "early_stopped"
                break
            if D.any_rank(cancel.cancelled):
                status = "stopped"
                break
        run.folder.update(status="stopped" if status == "stopped" else "finished",
                          best_metric=run.best_metric, metric_name=run.metric_name)
        emit(TrainFinished(best_metric=run.best_metric, run_dir=str(run.folder.path),
                           status=status, metric_name=run.metric_name, epochs_done=run.epoch))
        return run.result(status)

    def _probe(self, run: Run, emit: Callable[[Any], None], cancel: CancelToken) -> str:
        """The ``linear_probe`` strategy: one closed-form fit as epoch 1."""
        if run.epoch >= 1:
            return "finished"
        if not fit_probe_epoch(run, emit, cancel):
            return "stopped"
        self._end_epoch(run, 1, emit)
        return "finished"

    def _train_epoch(self, run: Run, epoch: int, emit: Callable[[Any], None],
                     cancel: CancelToken) -> bool:
        """Train one epoch from ``run.step``; False when cancelled (state kept in ``run``)."""
        model = run.built.model
        model.train()
        run.plan.apply(epoch - 1)
        steps = run.steps_per_epoch
        emit(EpochStart(epoch=epoch, epochs=run.config.epochs, steps=steps,
                        groups=run.describe_groups(epoch)))
        loader = run.train_loader
        loader.sampler.set_epoch(epoch, run.step * run.config.batch_size)
        loader.generator.manual_seed(run.config.seed * 7919 + epoch)
        started, done_at_start, seen = time.perf_counter(), run.step, 0
        batches = iter(loader)
        while run.step < steps:
            cancel.wait_while_paused()
            if D.any_rank(cancel.cancelled):  # distributed: every process stops at the same step
                return False
            batch = next(batches, None)
            if batch is None:
                break
            self._report_skipped(run, batch.skipped, epoch, emit)
            run.step += 1
            if not len(batch):
                continue
            loss, parts = self._step(run, batch, epoch)
            run.accumulate(loss, parts, len(batch))
            seen += len(batch)
            elapsed = max(time.perf_counter() - started, 1e-9)
            emit(BatchEnd(epoch=epoch, step=run.step, steps=steps, loss=loss, loss_parts=parts,
                          lr=run.head_lr(), images_per_s=seen / elapsed,
                          eta_s=elapsed / (run.step - done_at_start) * (steps - run.step)))
        run.epoch_state["train_time_s"] += time.perf_counter() - started
        return True

    def _step(self, run: Run, batch: Any, epoch: int) -> tuple[float, dict[str, float]]:
        """One optimizer step; raises TrainingError on a non-finite loss."""
        images, targets = to_device(batch, run.device, run.channels_last)
        with run.autocast():
            loss, parts = compute_loss(run.ddp_model or run.built.model, run.config.task, images, targets)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingError(_diverged_message(run, value, epoch))
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        if run.config.grad_clip:
            run.scaler.unscale_(run.optimizer)
            torch.nn.utils.clip_grad_norm_(run.trainable_params(), run.config.grad_clip)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        return value, {k: float(v.detach()) for k, v in parts.items()}

    def _report_skipped(self, run: Run, skipped: list, epoch: int,
                        emit: Callable[[Any], None]) -> None:
        for s in skipped:
            emit(SampleSkipped(source=s.source, reason=s.reason, epoch=epoch))
            run.epoch_state["skipped"] += 1
            if s.source in run.skipped:
                continue
            run.skipped.add(s.source)
            try:
                self.store.add_problems([Problem(source=s.source, image_id=s.image_id,
                                                 kind="decode_error",
                                                 message=f"skipped in training: {s.reason}")])
            except Exception as exc:  # the project may be read-only; the event was emitted
                log.warning("could not record the problem with %s: %s", s.source, exc)

    # ------------------------------------------------------------------ epoch end
    def _end_epoch(self, run: Run, epoch: int, emit: Callable[[Any], None]) -> bool:
        """Validate, write checkpoints and metrics; True when early stopping triggers."""
        metrics = self._validate(run)
        line = run.metrics_line(epoch, metrics)
        improved = run.observe(line)
        run.epoch, run.step = epoch, 0
        run.reset_epoch_state()
        self._save(run, emit, best=improved)
        run.folder.append_metrics(line)
        run.history.append(line)
        run.folder.update(best_metric=run.best_metric)
        emit(EpochEnd(epoch=epoch, metrics=line))
        patience = run.config.early_stopping_patience
        return bool(D.from_main(bool(patience) and run.bad_epochs >= patience))  # rank 0 decides

    def _validate(self, run: Run) -> dict[str, float]:
        if run.val_loader is None or run.config.max_val_batches == 0 or not D.is_main():
            return {}
        run.val_loader.generator.manual_seed(run.config.seed)
        run.val_loader.sampler.set_epoch(0)  # one fixed shuffled order: a capped pass is a fair sample
        batches = itertools.islice(run.val_loader, run.config.max_val_batches)
        return evaluate(run.built.model, run.config.task, batches, run.device,
                        run.num_outputs, run.autocast, run.channels_last)

    def _save(self, run: Run, emit: Callable[[Any], None], best: bool) -> None:
        if not D.is_main():  # distributed: rank 0 writes the checkpoints
            return
        state = run.checkpoint_state()
        path = ck.save_checkpoint(run.folder.path / ck.LAST, state)
        emit(CheckpointSaved(path=str(path), kind="last", epoch=run.epoch))
        if best:
            path = ck.save_checkpoint(run.folder.path / ck.BEST, state)
            emit(CheckpointSaved(path=str(path), kind="best", epoch=run.epoch))


def _emitter(callbacks: Sequence[Callable[[Any], None]]) -> Callable[[Any], None]:
    def emit(event: Any) -> None:
        for cb in callbacks:
            try:
                cb(event)
            except Exception:  # a broken listener must not kill the run
                log.exception("training callback %r failed on %s", cb, type(event).__name__)
    return emit


def _diverged_message(run: Run, value: float, epoch: int) -> str:
    """The NaN / inf message: what to change, in the words of the Model tab."""
    cfg = run.config
    rec = recommended(cfg.task, cfg.batch_size, cfg.optimizer)
    clip = (f"lower 'Gradient clipping' (now {cfg.grad_clip:g}, config grad_clip)"
            if cfg.grad_clip else "turn on 'Gradient clipping' on the Model tab (config "
                                  "grad_clip, e.g. 10)")
    return (f"loss became {'NaN' if math.isnan(value) else 'infinite'} at epoch {epoch} step "
            f"{run.step}: the training diverged. Lower the learning rate (now {cfg.lr:g}; "
            f"{rec.lr:g} is the stable default at batch size {cfg.batch_size}) or {clip}, "
            f"then resume or start again; {run.last_good()}")


def _failure_message(exc: BaseException, run: Run) -> str:
    text = str(exc)
    oom = isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text.lower() \
        or "can't allocate memory" in text.lower()
    if oom:
        return (f"out of memory on {run.device.type} with batch size {run.config.batch_size} "
                f"and image size {run.config.image_size}: use a smaller batch size or image "
                f"size; {run.last_good()}")
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, VisionStudioError):
        return text
    return f"training failed ({type(exc).__name__}: {text}); {run.last_good()}"
