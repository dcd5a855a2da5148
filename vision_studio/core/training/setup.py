"""Building the pieces of a run from its config: device, data loaders, model, transfer
plan, optimizer, learning-rate schedule and AMP."""
from __future__ import annotations

import contextlib
import logging
import math
import random
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


class EpochSampler(torch.utils.data.Sampler[int]):
    """A shuffling sampler whose order depends only on ``(seed, epoch)``, which can start
    part-way through an epoch (exact resume after a mid-epoch cancel).

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

    def __iter__(self) -> Iterator[int]:
        return iter(self.order()[self.start:])

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
    drop_last = train and len(ds) > config.batch_size
    return torch.utils.data.DataLoader(
        ds, batch_size=config.batch_size, sampler=sampler, num_workers=config.num_workers,
        collate_fn=collate, pin_memory=device.type == "cuda", drop_last=drop_last,
        persistent_workers=False, generator=torch.Generator().manual_seed(config.seed))


def build_options(config: TrainConfig) -> dict[str, Any]:
    """``build_model`` options of a run: ``model_options``, plus the config's
    ``image_size`` as a detection model's internal resize unless set there."""
    options = dict(config.model_options)
    if config.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION) and not (
            {"image_size", "min_size", "max_size"} & set(options)):
        options["image_size"] = config.image_size
    return options


def build(config: TrainConfig, snapshot: Snapshot, weights: str | None = None,
          options: dict[str, Any] | None = None) -> Any:
    """The :class:`BuiltModel` of the run, with ``weights`` (a registry weights name, a
    file, or ``None`` for random init) loaded; ``options`` default to
    :func:`build_options` (a checkpoint passes the options it was built with, e.g.
    ``frozen_bn``, so that its state dict fits).

    Raises:
        ConfigError: unknown architecture or option (from the registry).
        WeightsError: weights that cannot be found or read.
    """
    from vision_studio.core.models.registry import build_model

    options = dict(build_options(config) if options is None else options)
    built = build_model(config.arch, config.task, model_num_classes(snapshot), weights=weights,
                        **options)
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
    ``step_size`` epochs, or constant."""
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
