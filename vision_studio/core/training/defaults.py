"""Training defaults that train stably, per architecture family and batch size: the one
place the CLI, the GUI and the Python API take the learning rate, the warm-up and the
gradient clipping from when the user left them unset (``None`` in :class:`TrainConfig`).

Rules (each with its source):

- Learning rate: a reference recipe ``(ref_lr, ref_batch)`` per family, scaled with the
  batch size ``B``. SGD uses the *linear scaling rule* ``lr = ref_lr × B / ref_batch``
  (Goyal et al. 2017, "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour",
  arXiv:1706.02677, §2.1). Adam / AdamW use the *square-root rule*
  ``lr = ref_lr × sqrt(B / ref_batch)`` (Hoffer et al. 2017, arXiv:1705.08741; Malladi et
  al. 2022, "On the SDEs and Scaling Rules for Adaptive Gradient Algorithms",
  arXiv:2205.10287).
- Reference recipes: detection and instance segmentation (two-stage R-CNN detectors)
  ``lr 0.02`` at batch 16 (torchvision ``references/detection``: 8 GPUs × 2 images, "0.02
  for 8 GPUs"), i.e. 0.0025 at batch 2; semantic segmentation ``lr 0.02`` at batch 32
  (torchvision ``references/segmentation``: 8 GPUs × 4 images); classification transfer
  learning ``lr 0.01`` at batch 16 (this project's tested fine-tuning default; Goyal's
  0.1 at 256 is the same ratio). Adam: 1e-3 (classification, segmentation) and 1e-4
  (detection, DETR's recipe) at the same reference batch.
- Warm-up: detection and segmentation warm up linearly over the first epoch (Goyal et al.
  2017 §2.2 "gradual warm-up"; torchvision's detection reference warms up over its first
  1,000 iterations). Classification fine-tuning starts at a small lr already: no warm-up.
- Gradient clipping: on for detection and segmentation, global L2 norm 10.0 (the value
  ultralytics' trainer clips to; torchvision's detection reference offers
  ``--clip-grad-norm``). A fresh FPN / RPN head on a pretrained backbone produces large
  early gradients: without clipping, Faster R-CNN on EfficientNet-Lite0 at batch 2 and
  lr 0.01 diverged here (loss 2.7 → 342 → 54,473 → NaN in epoch 2). Classification: off.
- Short runs (the number of training images is known when a run starts:
  :func:`fill_defaults` ``train_images``). Both rules above assume many optimizer
  steps — torchvision's detection recipe warms up over 1,000 iterations of a ~90,000
  iteration schedule. Mask R-CNN at the default batch 16 on 30 images has one step per
  epoch: "warm-up over one epoch" was one step at the full lr 0.02, and the loss rose.
  So (a) the warm-up lasts at least :data:`MIN_WARMUP_STEPS` optimizer steps, but at
  most :data:`MAX_WARMUP_SHARE` of the run's steps (the rest of the run must train at
  the rate); (b) in a detection or instance-segmentation run of fewer than
  :data:`SHORT_RUN_STEPS` steps the batch-scaled lr is capped at the family's lr for batch :data:`SHORT_RUN_MAX_BATCH` (the linear
  scaling rule is not applied beyond it: Goyal et al. §2.2 report it breaks down early
  in training, which is all of a short run). Only values left unset are affected.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vision_studio.core.training.config import TrainConfig
from vision_studio.core.types import Task

GRAD_CLIP_OFF = 0.0
"""``grad_clip`` value that turns clipping off (``None`` means "the family's default")."""
AUTO_FIELDS = ("lr", "warmup_epochs", "grad_clip")
"""``TrainConfig`` fields that :func:`fill_defaults` fills when they are ``None``."""
HIGH_LR_FACTOR = 2.0
"""An lr above this multiple of the recommended one is flagged by the pre-training checks."""
MIN_WARMUP_STEPS = 20
"""Fewest optimizer steps a default warm-up lasts (when the run is long enough)."""
MAX_WARMUP_SHARE = 0.5
"""Largest share of a run's optimizer steps a default warm-up may take."""
SHORT_RUN_STEPS = 200
"""Runs with fewer optimizer steps than this are "short" (see the module docstring)."""
SHORT_RUN_MAX_BATCH = 4
"""In a short run the default lr is not scaled beyond this batch size."""
SHORT_RUN_CAPPED = (Task.DETECTION, Task.INSTANCE_SEGMENTATION)
"""Families whose short-run lr is capped (the two-stage R-CNN heads seen to diverge)."""


@dataclass(frozen=True)
class Recipe:
    """A family's reference recipe (see the module docstring for the sources).

    Attributes:
        sgd_lr: SGD learning rate at ``ref_batch``.
        adam_lr: Adam / AdamW learning rate at ``ref_batch``.
        ref_batch: The batch size the learning rates are given for.
        warmup_epochs: Linear warm-up length in epochs.
        grad_clip: Global gradient L2-norm limit, or :data:`GRAD_CLIP_OFF`.
        source: Where the numbers come from (shown in docs and checks).
    """

    sgd_lr: float
    adam_lr: float
    ref_batch: int
    warmup_epochs: float
    grad_clip: float
    source: str


_DETECTION = Recipe(0.02, 1e-4, 16, 1.0, 10.0,
                    "torchvision references/detection (lr 0.02 at batch 16)")
RECIPES: dict[str, Recipe] = {
    Task.CLASSIFICATION: Recipe(0.01, 1e-3, 16, 0.0, GRAD_CLIP_OFF,
                                "fine-tuning at lr 0.01 per 16 images (Goyal et al. 2017 ratio)"),
    Task.DETECTION: _DETECTION,
    Task.INSTANCE_SEGMENTATION: _DETECTION,
    Task.SEMANTIC_SEGMENTATION: Recipe(0.02, 1e-3, 32, 1.0, 10.0,
                                       "torchvision references/segmentation (lr 0.02 at batch 32)"),
}
"""Task (architecture family) → reference recipe."""


@dataclass(frozen=True)
class Recommended:
    """The stable settings for one task, optimizer and batch size.

    Attributes:
        lr: Base learning rate (per optimizer step).
        warmup_epochs: Linear warm-up in epochs.
        grad_clip: Gradient L2-norm limit (0 = off).
        rule: One sentence saying how ``lr`` was obtained.
    """

    lr: float
    warmup_epochs: float
    grad_clip: float
    rule: str

    def as_config(self) -> dict[str, Any]:
        """The three ``TrainConfig`` fields."""
        return {"lr": self.lr, "warmup_epochs": self.warmup_epochs, "grad_clip": self.grad_clip}


def recommended(task: str, batch_size: int, optimizer: str = "sgd") -> Recommended:
    """The learning rate (scaled with ``batch_size``), warm-up and clipping of ``task``.

    Args:
        task: A :class:`Task` value (two-stage detectors share the detection recipe).
        batch_size: Images per optimizer step (> 0).
        optimizer: ``"sgd"`` (linear scaling) or ``"adam"`` / ``"adamw"`` (square root).

    Returns:
        The :class:`Recommended` settings; e.g. detection, SGD, batch 2 → lr 0.0025,
        1 warm-up epoch, clipping at 10.

    Raises:
        KeyError: an unknown task.
    """
    r = RECIPES[task]
    ratio = max(1, int(batch_size)) / r.ref_batch
    if optimizer == "sgd":
        lr, how = r.sgd_lr * ratio, "linear scaling rule (Goyal et al. 2017)"
        base = r.sgd_lr
    else:
        lr, how = r.adam_lr * math.sqrt(ratio), "square-root scaling rule (Malladi et al. 2022)"
        base = r.adam_lr
    rule = (f"{base:g} at batch {r.ref_batch} ({r.source}) × batch {batch_size} by the {how}")
    return Recommended(lr=float(f"{lr:.6g}"), warmup_epochs=r.warmup_epochs,
                       grad_clip=r.grad_clip, rule=rule)


def steps_per_epoch(train_images: int, batch_size: int, max_steps: int | None = None) -> int:
    """Optimizer steps per epoch as the training loader makes them: the last partial
    batch is dropped when there is more than one batch (``drop_last``), else one step;
    at most ``max_steps`` (``TrainConfig.max_steps_per_epoch``)."""
    n, b = max(0, int(train_images)), max(1, int(batch_size))
    steps = n // b if n > b else 1
    return max(1, min(steps, max_steps)) if max_steps else steps


def short_run(config: TrainConfig, train_images: int) -> Recommended | None:
    """The defaults of a run of ``train_images`` images when its step count calls for a
    longer warm-up or a capped lr (module docstring, "Short runs"); ``None`` when the
    family's :func:`recommended` values hold as they are.

    Returns:
        The adjusted settings (``warmup_epochs`` may be fractional), or ``None``.
    """
    rec = recommended(config.task, config.batch_size, config.optimizer)
    spe = steps_per_epoch(train_images, config.batch_size, config.max_steps_per_epoch)
    total = spe * max(1, config.epochs)
    lr, warm, notes = rec.lr, rec.warmup_epochs, []
    if rec.warmup_epochs > 0:
        steps = max(rec.warmup_epochs * spe, MIN_WARMUP_STEPS)
        steps = max(1.0, min(steps, MAX_WARMUP_SHARE * total))
        warm = round(steps / spe, 3)
        if warm != rec.warmup_epochs:
            notes.append(f"warm-up {warm:g} epochs ({steps:g} of {total} steps)")
    if (config.task in SHORT_RUN_CAPPED and total < SHORT_RUN_STEPS
            and config.batch_size > SHORT_RUN_MAX_BATCH):
        cap = recommended(config.task, SHORT_RUN_MAX_BATCH, config.optimizer).lr
        if cap < lr:
            lr = cap
            notes.append(f"lr capped at the batch-{SHORT_RUN_MAX_BATCH} value {cap:g} "
                         f"(a short run of {total} steps)")
    if not notes:
        return None
    return Recommended(lr=lr, warmup_epochs=warm, grad_clip=rec.grad_clip,
                       rule=f"{rec.rule}; {'; '.join(notes)}")


def fill_defaults(config: TrainConfig, train_images: int | None = None) -> TrainConfig:
    """A validated copy of ``config`` whose unset (``None``) ``lr``, ``warmup_epochs`` and
    ``grad_clip`` take :func:`recommended` values for its task, batch size and optimizer.
    Set values are kept as they are. Called by the trainer for every run (CLI, GUI, API)
    and by the GUI to show the defaults.

    Args:
        config: The settings (unset fields allowed).
        train_images: Training images of the run, when known (the trainer passes it
            once the split is made): a short run gets :func:`short_run`'s longer
            warm-up and capped lr.

    Raises:
        ConfigError: the config does not validate.
    """
    rec = recommended(config.task, config.batch_size, config.optimizer)
    if train_images is not None:
        rec = short_run(config, train_images) or rec
    data = config.to_dict()
    for key, value in rec.as_config().items():
        if key in AUTO_FIELDS and data.get(key) is None:
            data[key] = value
    if data["warmup_epochs"] > data["epochs"]:
        data["warmup_epochs"] = float(data["epochs"])
    return TrainConfig.from_dict(data)


def default_arch(task: str) -> str:
    """The architecture a new run of ``task`` starts with: ``DEFAULT_ARCH[task]`` when its
    pretrained weights are on this computer, else the first of
    :data:`~vision_studio.core.models.local_weights.FALLBACK_ARCHS` whose weights are
    (shipped or downloaded before: transfer learning works offline), else
    ``DEFAULT_ARCH[task]`` (its weights need a download)."""
    from vision_studio.core.models.local_weights import FALLBACK_ARCHS, first_with_local_weights
    from vision_studio.core.training.config import DEFAULT_ARCH

    first = DEFAULT_ARCH[task]
    return first_with_local_weights((first,) + FALLBACK_ARCHS.get(task, ())) or first
