"""Setting up a run (fresh or resumed) and the mutable state the loop works on."""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from vision_studio.core.data.snapshot import Sample, Snapshot, take_snapshot
from vision_studio.core.data.split import assign_splits, check_examples
from vision_studio.core.errors import ConfigError
from vision_studio.core.training import checkpoints as ck
from vision_studio.core.training import distributed as D
from vision_studio.core.training import setup as su
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.training.defaults import AUTO_FIELDS, fill_defaults
from vision_studio.core.training.engine import TASK_METRIC
from vision_studio.core.training.events import TrainStarted, WeightsProgress
from vision_studio.core.training.result import TrainResult
from vision_studio.core.training.runs import RunFolder, default_run_dir
from vision_studio.core.types import Task

log = logging.getLogger(__name__)


def _new_epoch_state() -> dict[str, Any]:
    return {"loss_sum": 0.0, "n": 0, "parts": {}, "images": 0, "skipped": 0,
            "train_time_s": 0.0}


@dataclass
class Run:
    """Everything a training loop works on; mutated as it goes."""

    config: TrainConfig
    snapshot: Snapshot
    train_samples: list[Sample]
    val_samples: list[Sample]
    split_how: str
    device: torch.device
    built: Any
    plan: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    autocast: Callable[[], Any]
    channels_last: bool
    train_loader: Any
    val_loader: Any
    steps_per_epoch: int
    folder: RunFolder
    metric_name: str
    epoch: int = 0
    step: int = 0
    best_metric: float | None = None
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch_state: dict[str, Any] = field(default_factory=_new_epoch_state)
    skipped: set[str] = field(default_factory=set)
    probe_metrics: dict[str, float] = field(default_factory=dict)
    ddp: Any = None  # distributed: the :class:`~.distributed.TrainableDDP` of built.model

    @property
    def ddp_model(self) -> Any:
        """The ``DistributedDataParallel`` wrapper for the parameters that train now
        (rebuilt when the strategy changed them), ``None`` when not distributed."""
        return self.ddp.module() if self.ddp is not None else None

    @property
    def num_outputs(self) -> int:
        return self.snapshot.num_classes

    def started_event(self) -> TrainStarted:
        return TrainStarted(run_dir=str(self.folder.path), device=self.device.type,
                            num_train=len(self.train_samples), num_val=len(self.val_samples),
                            class_names=tuple(self.snapshot.class_names),
                            start_epoch=self.epoch + 1, epochs=self.config.epochs,
                            split=self.split_how)

    def describe_groups(self, epoch: int) -> tuple[tuple[str, bool, float], ...]:
        mults = self.plan.lr_multipliers(epoch - 1)
        names = [g.get("name", str(i)) for i, g in enumerate(self.plan.param_groups(self.config.lr))]
        factor = su.schedule_factor((epoch - 1) * self.steps_per_epoch, self.steps_per_epoch,
                                    self.config)
        return tuple((n, m > 0, self.config.lr * factor * m) for n, m in zip(names, mults))

    def head_lr(self) -> float:
        """Learning rate of the last parameter group (the head)."""
        return float(self.optimizer.param_groups[-1]["lr"])

    def close(self) -> None:
        """Stop the data loaders' worker processes."""
        su.shutdown_loaders(self.train_loader, self.val_loader)

    def trainable_params(self) -> list[torch.nn.Parameter]:
        return [p for g in self.optimizer.param_groups for p in g["params"] if p.requires_grad]

    def accumulate(self, loss: float, parts: dict[str, float], n: int) -> None:
        st = self.epoch_state
        st["loss_sum"] += loss * n
        st["n"] += n
        st["images"] += n
        for k, v in parts.items():
            st["parts"][k] = st["parts"].get(k, 0.0) + v * n

    def reset_epoch_state(self) -> None:
        self.epoch_state = _new_epoch_state()

    def last_good(self) -> str:
        path = self.folder.path / ck.LAST
        return (f"the last good checkpoint is {path}" if path.is_file()
                else "no checkpoint was written yet")

    def metrics_line(self, epoch: int, val: dict[str, float]) -> dict[str, Any]:
        """The ``metrics.jsonl`` line of an epoch."""
        st = self.epoch_state
        n = max(1, st["n"])
        line: dict[str, Any] = {"epoch": epoch}
        if st["n"]:
            line["train_loss"] = st["loss_sum"] / n
        line.update(self.probe_metrics)
        if len(st["parts"]) > 1:
            line.update({k: v / n for k, v in st["parts"].items()})
        line["lr"] = self.head_lr()
        line.update(val)
        line["train_images"] = st["images"]
        line["train_time_s"] = round(st["train_time_s"], 3)
        line["train_images_per_s"] = st["images"] / max(st["train_time_s"], 1e-9)
        line["skipped"] = st["skipped"]
        return line

    def observe(self, line: dict[str, Any]) -> bool:
        """Track the best ``metric_name``; True when this epoch improved it (a NaN metric,
        e.g. mIoU with no class present, never does)."""
        value = line.get(self.metric_name)
        lower = self.metric_name.endswith("loss")
        improved = value is not None and not math.isnan(value) and (
            self.best_metric is None or (value < self.best_metric if lower else value > self.best_metric))
        if improved:
            self.best_metric, self.bad_epochs = float(value), 0
        else:
            self.bad_epochs += 1
        return improved

    def checkpoint_state(self) -> dict[str, Any]:
        """The checkpoint dict (see :mod:`.checkpoints`)."""
        return {
            "model": self.built.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "config": self.config.to_dict(),
            "categories": self.snapshot.category_dicts(),
            "class_names": self.snapshot.class_names,
            "num_classes": su.model_num_classes(self.snapshot),
            "build_options": dict(getattr(self.built, "options", {}) or {}),
            "epoch": self.epoch, "step": self.step,
            "epoch_state": dict(self.epoch_state),
            "best_metric": self.best_metric, "metric_name": self.metric_name,
            "bad_epochs": self.bad_epochs,
            "rng": ck.rng_state(),
            "run_id": self.folder.run_id,
            "split": {"train": [s.image_id for s in self.train_samples],
                      "val": [s.image_id for s in self.val_samples]},
            "saved_at": time.time(),
            "world_size": D.world_size(),
        }

    def result(self, status: str) -> TrainResult:
        """The :class:`TrainResult` of the run so far."""
        last, best = self.folder.path / ck.LAST, self.folder.path / ck.BEST
        return TrainResult(status=status, run_dir=str(self.folder.path),
                           best_metric=self.best_metric, metric_name=self.metric_name,
                           epochs_done=self.epoch, history=list(self.history),
                           last_checkpoint=str(last) if last.is_file() else None,
                           best_checkpoint=str(best) if best.is_file() else None,
                           skipped=sorted(self.skipped))


def _resume_config(saved: TrainConfig, given: TrainConfig | None, run_dir: Path) -> TrainConfig:
    if given is None:
        given = saved
    for name in ("task", "arch", "model_options", "unlabelled_as"):
        if _model_defining(getattr(given, name), name) != _model_defining(getattr(saved, name), name):
            raise ConfigError(f"{name}: the checkpoint was trained with {getattr(saved, name)!r}, "
                              f"not {getattr(given, name)!r}; start a new run instead")
    data = given.to_dict()
    for name in AUTO_FIELDS:  # unset: the values the run was trained with
        if data[name] is None:
            data[name] = getattr(saved, name)
    data["out_dir"] = str(run_dir)
    return TrainConfig.from_dict(data)


def _model_defining(value: Any, name: str) -> Any:
    """``value`` of config field ``name`` without what may change on resume:
    ``model_options.sync_bn`` (how BatchNorm computes under DDP, not the weights)."""
    if name == "model_options" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "sync_bn"}
    return value


def _config_and_state(config: TrainConfig | None, resume: str | os.PathLike | None
                      ) -> tuple[TrainConfig, dict[str, Any] | None]:
    """The run's complete config (unset fields filled with the stable defaults) and, when
    resuming, the checkpoint's state."""
    state = None
    if resume is not None:
        path = ck.find_checkpoint(resume)
        state = ck.read_checkpoint(path)
        config = _resume_config(TrainConfig.from_dict(state["config"]), config, path.parent)
    if config is None:
        raise ConfigError("config: a TrainConfig is required (or resume=RUN_DIR)")
    return fill_defaults(config), state  # a validated private copy


def _split(snapshot: Snapshot, config: TrainConfig,
           state: dict | None) -> tuple[list[Sample], list[Sample], str]:
    if state is None:
        return assign_splits(snapshot, config.val_split, config.seed)
    by_id = {s.image_id: s for s in snapshot.samples}
    train = [by_id[i] for i in state["split"]["train"] if i in by_id]
    val = [by_id[i] for i in state["split"]["val"] if i in by_id]
    lost = len(state["split"]["train"]) + len(state["split"]["val"]) - len(train) - len(val)
    if lost:
        log.warning("%d images of the run are no longer labelled in the project", lost)
    return train, val, "the run's own split (resumed)"


def _run_folder(store: Any, config: TrainConfig, resuming: bool) -> RunFolder:
    path = Path(config.out_dir) if config.out_dir else default_run_dir(store, config)
    path = Path(D.from_main(str(path)))  # distributed: rank 0's folder (a default one is timestamped)
    if D.is_main() and not resuming and (path / ck.LAST).exists():
        raise ConfigError(f"out_dir: {path} already holds a run; resume it or pick another folder")
    config.out_dir = str(path.resolve())
    return RunFolder(path, store) if D.is_main() else NullRunFolder(path)


class NullRunFolder(RunFolder):
    """The run folder of a distributed process other than rank 0: writes nothing."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path, self.store, self.run_id = Path(path), None, None

    def write_config(self, config: TrainConfig) -> None:
        return None

    def append_metrics(self, line: Any) -> None:
        return None

    def truncate_metrics(self, epoch: int) -> list[dict[str, Any]]:
        return []


def prepare_run(store: Any, config: TrainConfig | None, resume: str | os.PathLike | None,
                emit: Callable[[Any], None] | None = None, cancel: Any = None) -> Run:
    """Set up a run in one pass: config → snapshot and split → model and transfer plan →
    loaders, optimizer and schedule → run folder; with ``resume``, every state restored
    from the checkpoint. A library-weights download emits :class:`WeightsProgress` events
    through ``emit`` and stops when ``cancel.cancelled`` is set.

    Raises:
        ConfigError: invalid config, no labelled images, a category without examples.
        CheckpointError: unreadable ``resume`` checkpoint.
        WeightsError: weights that cannot be found or read, or a cancelled download
            (``DownloadCancelled``).
    """
    given = config
    config, state = _config_and_state(config, resume)
    cats = [c["id"] for c in state["categories"]] if state else config.categories
    snapshot = take_snapshot(store, config.task, cats, config.unlabelled_as, config.include_empty)
    train, val, how = _split(snapshot, config, state)
    if state is None and given is not None:  # unset lr / warm-up: fit the run's step count
        config = fill_defaults(given, train_images=len(train))
    check_examples(snapshot, train)
    device = su.resolve_device(config.device)
    progress = (lambda done, total: emit(WeightsProgress(done, total))) if emit else None
    if device.type == "cuda" and D.world_size() > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    D.check_sync_bn(bool(config.model_options.get("sync_bn")), device)  # before anything is written
    model = su.build_model_parts(config, snapshot, device, state, progress, cancel)
    loop = su.build_loop_parts(config, snapshot, model, train, val, device)
    metric = TASK_METRIC[config.task] if val and config.max_val_batches != 0 else "train_loss"
    run = Run(config=config, snapshot=snapshot, train_samples=train, val_samples=val,
              split_how=how, device=device, built=model.built, plan=model.plan,
              channels_last=model.channels_last, **vars(loop),
              folder=_run_folder(store, config, state is not None), metric_name=metric)
    if state is not None:
        _restore(run, state)
    # DDP itself is built at the first training step, after the strategy set requires_grad
    run.ddp = D.wrap_model(run.built.model, device, bool(config.model_options.get("sync_bn")),
                           find_unused=config.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION))
    run.folder.write_config(config)
    run.folder.record(config, run.metric_name, state.get("run_id") if state else None)
    return run


def _restore(run: Run, state: dict[str, Any]) -> None:
    """Load every saved state into a freshly built run (RNG last)."""
    run.built.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["lr_scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    saved_lr, saved_world = float(state["config"]["lr"]), int(state.get("world_size", 1))
    if run.config.lr != saved_lr:  # resuming with another learning rate (e.g. after NaN)
        log.info("learning rate changed on resume: %g -> %g", saved_lr, run.config.lr)
    # the optimizer ran at lr x processes (linear scaling rule): rescale to this run's
    D.rescale_restored_lr(run.optimizer, run.scheduler, run.config.lr * D.world_size() / (saved_lr * saved_world))
    run.epoch, run.step = int(state["epoch"]), int(state["step"])
    run.epoch_state = dict(state["epoch_state"])
    if run.step and saved_world != D.world_size():  # another sharding of the epoch: start it again
        log.warning("resuming a mid-epoch checkpoint of %d processes with %d: epoch %d starts again",
                    saved_world, D.world_size(), run.epoch + 1)
        run.step, run.epoch_state = 0, _new_epoch_state()
    run.best_metric, run.bad_epochs = state["best_metric"], int(state["bad_epochs"])
    run.metric_name = state["metric_name"] or run.metric_name
    run.history = run.folder.truncate_metrics(run.epoch)
    ck.set_rng_state(state["rng"])
    log.info("resumed %s at epoch %d step %d", run.folder.path, run.epoch + 1, run.step)
