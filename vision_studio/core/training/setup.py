"""Building the pieces of a run from its config, in one pass: device, model and transfer
plan (:func:`build_model_parts`), then data loaders, optimizer, learning-rate schedule and
AMP (:func:`build_loop_parts`).

Data loading runs in DataLoader worker processes (``num_workers``; ``None`` = one fewer
than the CPU cores, at most 4) that persist for the whole run, so that decoding and
augmenting images does not hold the training thread's GIL (the GUI stays responsive).
Workers start with ``forkserver`` on Linux and ``spawn`` elsewhere, never ``fork``: the
process that trains also runs Qt's GUI thread and other threads, and forking a
multithreaded process is unsafe (POSIX; Python 3.12 warns about it) — the GUI tests
segfaulted in a paint event about one run in three with ``fork`` workers. The frozen
app's launchers call ``multiprocessing.freeze_support()`` for these methods.
Every sample's augmentation is drawn from its own seed (:class:`EpochSampler`), so a run
gives the same numbers with any number of workers and resumes exactly.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from vision_studio.core.data.datasets import VisionDataset, collate
from vision_studio.core.data.snapshot import Sample, Snapshot
from vision_studio.core.data.transforms import build_transforms
from vision_studio.core.errors import ConfigError
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.types import Task

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    random.seed(seed)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA if available, else MPS, else CPU.

    Raises:
        ConfigError: CUDA or MPS asked for but not available.
    """
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: CUDA is not available on this machine; use 'auto' or 'cpu'")
    if name == "mps" and not has_mps:
        raise ConfigError("device: Apple MPS is not available on this machine; use 'auto' or 'cpu'")
    return torch.device(name)


def autocast_factory(device: torch.device, enabled: bool) -> Callable[[], Any]:
    """A function returning the AMP context: float16 autocast on CUDA when ``enabled``,
    else a null context (CPU and MPS train in float32)."""
    if enabled and device.type == "cuda":
        return lambda: torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext


class EpochSampler(torch.utils.data.Sampler[tuple[int, int]]):
    """A shuffling sampler whose order depends only on ``(seed, epoch)``, which can start
    part-way through an epoch (exact resume after a mid-epoch cancel).

    It yields ``(index, sample_seed)`` keys (see :class:`VisionDataset`): the seed of the
    augmentation of the sample at position ``p`` of epoch ``e`` is a function of
    ``(seed, e, p)`` only.

    Args:
        n: Dataset length.
        seed: Run seed.
        shuffle: Shuffle (training) or keep the order (validation).
    """

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch, self.start = 1, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Use the order of ``epoch``, skipping its first ``start`` indices."""
        self.epoch, self.start = epoch, start

    def order(self) -> list[int]:
        """The full index order of the current epoch."""
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def sample_seed(self, position: int) -> int:
        """The augmentation seed of the sample at ``position`` of the current epoch."""
        return ((self.seed * 1_000_003 + self.epoch) * 1_000_003 + position) % (2**63)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self.order()
        return iter([(order[p], self.sample_seed(p)) for p in range(self.start, self.n)])

    def __len__(self) -> int:
        return self.n - self.start


def make_loader(snapshot: Snapshot, samples: Sequence[Sample], config: TrainConfig,
                built: Any, train: bool, device: torch.device) -> torch.utils.data.DataLoader:
    """The DataLoader of one split, with an :class:`EpochSampler` and its own generator
    (so that iterating it never touches the global RNG's sequence)."""
    normalize = not getattr(built.spec, "model_normalizes", False)
    tf = build_transforms(snapshot.task, train, config.image_size, built.mean, built.std,
                          config.augmentation, normalize=normalize)
    ds = VisionDataset(snapshot, samples, tf)
    sampler = EpochSampler(len(ds), config.seed, shuffle=True)
    if train:  # one shard per process when distributed (validation runs on rank 0, whole)
        from vision_studio.core.training.distributed import shard_sampler

        sampler = shard_sampler(sampler)
    drop_last = train and len(ds) > config.batch_size
    workers = resolve_workers(config.num_workers)
    extra: dict[str, Any] = {}
    if workers:
        extra = dict(persistent_workers=True, multiprocessing_context=worker_context(),
                     worker_init_fn=_worker_init)
    return torch.utils.data.DataLoader(
        ds, batch_size=config.batch_size, sampler=sampler, num_workers=workers,
        collate_fn=collate, pin_memory=device.type == "cuda", drop_last=drop_last,
        generator=torch.Generator().manual_seed(config.seed), **extra)


def resolve_workers(num_workers: int | None) -> int:
    """DataLoader workers: ``num_workers``, or for ``None`` one fewer than the CPU cores
    (at most 4; 0 on a single core)."""
    if num_workers is not None:
        return int(num_workers)
    return max(0, min(4, (os.cpu_count() or 1) - 1))


WORKER_PRELOAD = ("torch", "torchvision", "vision_studio.core.data.datasets",
                  "vision_studio.core.data.transforms")
"""Modules the fork server imports once, so that each worker forked from it starts in
milliseconds instead of importing torch again."""


def worker_context() -> Any:
    """The multiprocessing context of the DataLoader workers (see the module doc):
    ``forkserver`` preloading :data:`WORKER_PRELOAD` on Linux, else ``"spawn"``."""
    if not sys.platform.startswith("linux"):
        return "spawn"
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(WORKER_PRELOAD))  # used when the server first starts
    return ctx


def _worker_init(_worker_id: int) -> None:
    """One intra-op thread per worker: the workers decode and transform, the training
    thread owns the cores' math."""
    torch.set_num_threads(1)


def shutdown_loaders(*loaders: Any) -> None:
    """Stop the persistent worker processes of ``loaders`` now (not at garbage collection)."""
    for loader in loaders:
        it = getattr(loader, "_iterator", None)
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        if loader is not None:
            loader._iterator = None


def build_options(config: TrainConfig) -> dict[str, Any]:
    """``build_model`` options of a run: ``model_options``, plus the config's
    ``image_size`` as a detection model's internal resize unless set there."""
    options = dict(config.model_options)
    if config.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION) and not (
            {"image_size", "min_size", "max_size"} & set(options)):
        options["image_size"] = config.image_size
    return options


def build(config: TrainConfig, snapshot: Snapshot, weights: str | None = None,
          options: dict[str, Any] | None = None,
          progress: Callable[[int, int], None] | None = None, cancel: Any = None) -> Any:
    """The :class:`BuiltModel` of the run, with ``weights`` (a registry weights name, a
    file, or ``None`` for random init) loaded; ``options`` default to
    :func:`build_options` (a checkpoint passes the options it was built with, e.g.
    ``frozen_bn``, so that its state dict fits). ``progress`` / ``cancel`` follow and stop
    a library-weights download.

    Raises:
        ConfigError: unknown architecture or option (from the registry).
        WeightsError: weights that cannot be found or read.
    """
    from vision_studio.core.models.registry import build_model

    options = dict(build_options(config) if options is None else options)
    built = build_model(config.arch, config.task, model_num_classes(snapshot), weights=weights,
                        progress=progress, cancel=cancel, **options)
    report = getattr(built, "weights_report", None)
    if report is not None:
        summary = getattr(report, "summary", None)
        log.info("weights %s: %s", weights, summary() if callable(summary) else report)
    return built


def model_num_classes(snapshot: Snapshot) -> int:
    """The ``num_classes`` given to ``build_model``: project categories for detection
    (the model adds background), model outputs for the other tasks."""
    if snapshot.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        return len(snapshot.categories)
    return snapshot.num_classes


def transfer_plan(built: Any, config: TrainConfig) -> Any:
    """The :class:`TransferPlan` of the config's strategy."""
    from vision_studio.core.models.strategies import StrategyConfig, TransferPlan

    return TransferPlan(built, StrategyConfig.from_dict(config.strategy))


def make_optimizer(groups: list[dict], config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Nesterov-free, with momentum), Adam or AdamW over the plan's parameter
    groups; every group starts at the base ``lr`` (the plan's multipliers are folded into
    the schedule, :func:`make_scheduler`)."""
    groups = [{**g, "lr": config.lr} for g in groups if g["params"]]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=config.lr, weight_decay=config.weight_decay)


def schedule_factor(step: int, steps_per_epoch: int, config: TrainConfig) -> float:
    """Base learning-rate factor after ``step`` optimizer steps: linear warm-up over
    ``warmup_epochs`` (from 1 / (warm-up steps)), then cosine to 0 over the remaining
    steps (SGDR without restarts, Loshchilov & Hutter 2017), or ×``gamma`` every
    ``step_size`` epochs, or constant. ``config`` must be filled
    (:func:`~vision_studio.core.training.defaults.fill_defaults`)."""
    warm = int(round(config.warmup_epochs * steps_per_epoch))
    if warm and step < warm:
        return (step + 1) / warm
    if config.scheduler == "cosine":
        total = max(1, config.epochs * steps_per_epoch - warm)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / total)))
    if config.scheduler == "step":
        return config.gamma ** ((step // steps_per_epoch) // config.step_size)
    return 1.0


def make_scheduler(optimizer: torch.optim.Optimizer, plan: Any, steps_per_epoch: int,
                   config: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step ``LambdaLR`` with one lambda per parameter group:
    ``lr_g(step) = lr × schedule_factor(step) × plan.lr_multipliers(epoch)[g]``."""
    names = [g.get("name", "") for g in optimizer.param_groups]
    all_names = [g.get("name", "") for g in plan.param_groups(config.lr)]
    index = [all_names.index(n) for n in names]
    cache: dict[int, list[float]] = {}

    def mults(epoch: int) -> list[float]:
        if epoch not in cache:
            cache[epoch] = list(plan.lr_multipliers(epoch))
        return cache[epoch]

    def factor(g: int) -> Callable[[int], float]:
        return lambda step: (schedule_factor(step, steps_per_epoch, config)
                             * mults(step // steps_per_epoch)[index[g]])

    return torch.optim.lr_scheduler.LambdaLR(optimizer, [factor(g) for g in range(len(names))])


@dataclass
class ModelParts:
    """The network side of a run.

    Attributes:
        built: The :class:`~vision_studio.core.models.base.BuiltModel`, on the device.
        plan: Its :class:`~vision_studio.core.models.strategies.TransferPlan`.
        channels_last: Whether inputs use the channels-last memory format (CUDA).
    """

    built: Any
    plan: Any
    channels_last: bool


@dataclass
class LoopParts:
    """The optimisation and data side of a run (see :func:`build_loop_parts`)."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    autocast: Callable[[], Any]
    train_loader: Any
    val_loader: Any
    steps_per_epoch: int


def build_model_parts(config: TrainConfig, snapshot: Snapshot, device: torch.device,
                      state: dict[str, Any] | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      cancel: Any = None) -> ModelParts:
    """Seed the run (the only :func:`seed_everything` of a run, right before the random
    initialisation), build the model with its weights (none when resuming: ``state``
    holds them, built with the checkpoint's ``build_options``), move it to ``device`` and
    make its transfer plan.

    Raises:
        ConfigError / WeightsError: see :func:`build`.
    """
    seed_everything(config.seed)
    built = build(config, snapshot, weights=None if state else config.weights,
                  options=state.get("build_options") if state else None,
                  progress=progress, cancel=cancel)
    channels_last = device.type == "cuda" and config.task in (Task.CLASSIFICATION,
                                                              Task.SEMANTIC_SEGMENTATION)
    built.model.to(device, memory_format=torch.channels_last if channels_last
                   else torch.preserve_format)
    return ModelParts(built=built, plan=transfer_plan(built, config), channels_last=channels_last)


def build_loop_parts(config: TrainConfig, snapshot: Snapshot, model: ModelParts,
                     train: Sequence[Sample], val: Sequence[Sample],
                     device: torch.device) -> LoopParts:
    """Loaders (validation only when ``val`` is not empty), optimizer over the plan's
    groups, per-step schedule, gradient scaler and autocast factory."""
    plan = model.plan
    from vision_studio.core.training.distributed import world_size

    optimizer = make_optimizer(plan.param_groups(config.lr), config)
    for g in optimizer.param_groups:  # distributed: lr x processes (linear scaling rule, global batch)
        g["lr"] *= world_size()
    from vision_studio.core.large.tiled_training import tile_samples

    tiled = tile_samples(train, config.task, config.image_size, mode=config.tiles, overlap=config.tile_overlap,
                         auto_min_side=config.tile_auto_min_side)
    train_loader = make_loader(snapshot, tiled, config, model.built, True, device)
    val_loader = make_loader(snapshot, val, config, model.built, False, device) if val else None
    steps = max(1, min(len(train_loader), config.max_steps_per_epoch or len(train_loader)))
    amp = config.amp and device.type == "cuda"
    return LoopParts(optimizer=optimizer, scheduler=make_scheduler(optimizer, plan, steps, config),
                     scaler=torch.amp.GradScaler("cuda", enabled=amp),
                     autocast=autocast_factory(device, config.amp), train_loader=train_loader,
                     val_loader=val_loader, steps_per_epoch=steps)
