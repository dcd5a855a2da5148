"""Pre-training advice and checks, as plain Qt-free functions shared by the GUI's Model
tab and the CLI: the tasks a project's labels allow, hyperparameter defaults from the
task, the dataset size and the batch size (learning rate, warm-up and clipping from
:mod:`vision_studio.core.training.defaults`), the plain-language explanation of each
transfer strategy, and the checks shown before a run starts (:func:`run_checks`: errors
that make a run pointless, warnings about settings likely to go wrong). Every function
reads the store or a config and returns plain values."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from vision_studio.core.data.snapshot import Snapshot
from vision_studio.core.training.defaults import HIGH_LR_FACTOR, recommended, short_run
from vision_studio.core.types import Task

TASK_LABELS = {
    Task.CLASSIFICATION: "Classification (one category per image)",
    Task.DETECTION: "Object detection (boxes)",
    Task.INSTANCE_SEGMENTATION: "Instance segmentation (one mask per object)",
    Task.SEMANTIC_SEGMENTATION: "Semantic segmentation (a class per pixel)",
}

STRATEGY_TEXT: dict[str, tuple[str, str]] = {
    "feature_extraction": (
        "Feature extraction (train the head only)",
        "The pretrained backbone is frozen and only the new head learns. Use it when you "
        "have few labelled images (tens to a few hundred) that look like everyday photos: "
        "it trains fast and cannot over-fit the backbone."),
    "linear_probe": (
        "Linear probe (logistic regression on frozen features)",
        "Like feature extraction, but the head is fitted in one go by logistic "
        "regression. The quickest honest test of how good the pretrained features are "
        "for your classes (classification only)."),
    "fine_tune": (
        "Fine-tuning (everything, backbone at a low learning rate)",
        "Every layer trains; the backbone at a tenth of the head's learning rate so the "
        "pretrained features are adjusted, not destroyed. Use it when you have more data "
        "(hundreds of images per class or more) or images unlike ImageNet photos."),
    "partial": (
        "Partial fine-tuning (the deepest stages only)",
        "The last few backbone stages train with the head; the early, generic stages "
        "(edges, textures) stay frozen. A middle ground for medium-sized datasets."),
    "gradual": (
        "Gradual unfreezing (head first, then deeper to shallower)",
        "The head trains alone first; then one backbone stage more is unfrozen every few "
        "epochs, deepest first. Protects the pretrained features from the large early "
        "gradients of a new head; good when data is limited but fine-tuning still helps."),
    "discriminative": (
        "Discriminative learning rates (layer-wise decay)",
        "Everything trains, each stage at a learning rate that shrinks with its distance "
        "from the head (ULMFiT / BEiT style): early generic layers move least. A refined "
        "fine-tuning for larger datasets."),
    "scratch": (
        "From scratch (no pretrained weights)",
        "Every layer trains from random initialisation at the full learning rate. Only "
        "sensible with a lot of data, or images nothing like photographs; otherwise "
        "pretrained weights almost always win."),
}
"""Strategy name → (title, when to use it)."""

MIN_LABELLED_IMAGES = 20
MIN_EXAMPLES_PER_CATEGORY = 5


@dataclass(frozen=True)
class LabelCounts:
    """What kinds of labels a project holds (numbers of images)."""

    tagged: int = 0
    boxed: int = 0
    polygons: int = 0
    masks: int = 0
    images: int = 0


def label_counts(store: Any) -> LabelCounts:
    """Count images with tags, boxes, polygon annotations and mask (RLE) annotations."""
    tagged = len(store.all_image_tags())
    boxed, polys, masks = set(), set(), set()
    for a in store.iter_annotations():
        boxed.add(a.image_id)
        if a.polygons:
            polys.add(a.image_id)
        if a.rle is not None:
            masks.add(a.image_id)
    return LabelCounts(tagged, len(boxed), len(polys), len(masks), store.image_count())


def allowed_tasks(counts: LabelCounts) -> list[str]:
    """Tasks the labels allow, the most likely intended one first.

    Masks from label images (RLE) suggest semantic segmentation, polygons instance
    segmentation, boxes detection, image tags classification.
    """
    scored = []
    if counts.masks:
        scored.append((counts.masks * 4, Task.SEMANTIC_SEGMENTATION))
    if counts.polygons or counts.masks:
        scored.append(((counts.polygons + counts.masks) * 3, Task.INSTANCE_SEGMENTATION))
    if counts.boxed:
        scored.append((counts.boxed * 2, Task.DETECTION))
    if counts.tagged:
        scored.append((counts.tagged * 2 + 1, Task.CLASSIFICATION))
    return [t for _, t in sorted(scored, key=lambda s: -s[0])]


def default_hyperparameters(task: str, num_images: int, input_size: int,
                            batch_size: int | None = None) -> dict[str, Any]:
    """Sensible starting settings for ``task`` with ``num_images`` labelled images.

    Small datasets get more epochs (each epoch is short) and a smaller batch; detection
    and segmentation use the architecture's input size capped for CPU-friendly runs. The
    learning rate, warm-up and gradient clipping are the stable defaults of the task at
    that batch size (:func:`vision_studio.core.training.defaults.recommended`: reference
    recipes scaled by the linear scaling rule, Goyal et al. 2017), with the short-run
    warm-up and lr cap of :func:`~vision_studio.core.training.defaults.short_run` for
    the images a default split trains on — the same the CLI uses.

    Args:
        task: A :class:`Task` value.
        num_images: Labelled images of the task.
        input_size: The architecture's suggested input side in pixels.
        batch_size: Keep this batch size (e.g. the user's) instead of the suggested one.

    Returns:
        ``TrainConfig`` fields: epochs, batch_size, lr, optimizer, scheduler,
        warmup_epochs, grad_clip, image_size, weight_decay.
    """
    small, large = num_images < 300, num_images > 3000
    if task == Task.CLASSIFICATION:
        out = dict(epochs=20 if small else 10 if not large else 6,
                   batch_size=16 if small else 32, image_size=min(input_size, 224))
    elif task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        out = dict(epochs=30 if small else 15 if not large else 10, batch_size=4,
                   image_size=min(input_size, 640))
    else:
        out = dict(epochs=40 if small else 20 if not large else 10, batch_size=8,
                   image_size=min(input_size, 384))
    if batch_size:
        out["batch_size"] = int(batch_size)
    from vision_studio.core.training.config import TrainConfig

    run = TrainConfig(task=task, epochs=out["epochs"], batch_size=out["batch_size"])
    train = int(num_images * (1 - run.val_split))  # the images a default split trains on
    rec = short_run(run, train) or recommended(task, out["batch_size"], "sgd")
    out.update(optimizer="sgd", scheduler="cosine", weight_decay=1e-4, **rec.as_config())
    return out


def default_strategy(num_images: int, pretrained: bool) -> str:
    """Feature extraction for small datasets, fine-tuning with more data, scratch without
    pretrained weights."""
    if not pretrained:
        return "scratch"
    return "feature_extraction" if num_images < 100 else "fine_tune"


def training_warnings(store: Any, snapshot: Snapshot | None, train: list | None = None) -> list[str]:
    """What to tell the user before a run starts (empty when all looks fine).

    Args:
        store: The open project.
        snapshot: The task's snapshot (``None`` when the project has no labels for it).
        train: The training samples (default: every sample of the snapshot).

    Returns:
        One readable sentence per problem: too few labelled images, categories with
        fewer than :data:`MIN_EXAMPLES_PER_CATEGORY` training examples, images without
        labels, no validation images.
    """
    out: list[str] = []
    total = store.image_count()
    if snapshot is None:
        return [f"no image of the project is labelled for this task ({total} images)"]
    samples = list(train if train is not None else snapshot.samples)
    labelled = sum(1 for s in snapshot.samples if s.label >= 0 or s.annotations)
    n = labelled
    if n < MIN_LABELLED_IMAGES:
        out.append(f"only {n} labelled images: results will be unreliable "
                   f"(label at least {MIN_LABELLED_IMAGES})")
    counts: Counter = Counter()
    for s in samples:
        if snapshot.task == Task.CLASSIFICATION:
            counts[snapshot.categories[s.label].id] += 1
        else:
            counts.update(a.category_id for a in s.annotations)
    rare = [f"{c.name} ({counts[c.id]})" for c in snapshot.categories
            if counts[c.id] < MIN_EXAMPLES_PER_CATEGORY]
    if rare:
        out.append(f"categories with fewer than {MIN_EXAMPLES_PER_CATEGORY} training "
                   f"examples: {', '.join(rare)}")
    unlabelled = total - labelled
    if unlabelled > 0:
        out.append(f"{unlabelled} of {total} images have no labels for this task "
                   f"({'left out' if snapshot.task != Task.DETECTION else 'used as negatives'})")
    return out


FROZEN_STRATEGIES = ("feature_extraction", "linear_probe", "partial", "gradual")
"""Strategies that keep some backbone layers frozen (for a while or for the whole run)."""


@dataclass(frozen=True)
class Check:
    """One pre-training finding.

    Attributes:
        severity: ``"error"`` (the run would be pointless: fix it first) or ``"warning"``.
        message: One readable sentence that says what to change.
    """

    severity: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


def config_checks(config: Any) -> list[Check]:
    """Findings about the settings alone (no project needed).

    Errors: a frozen or partially frozen strategy (:data:`FROZEN_STRATEGIES`) on random
    weights (``weights`` is ``None``): the frozen layers would keep random values.
    Warnings: an ``lr`` above :data:`~vision_studio.core.training.defaults.HIGH_LR_FACTOR`
    × the recommended lr of the task and batch size; gradient clipping turned off for
    detection or segmentation.

    Args:
        config: A :class:`~vision_studio.core.training.config.TrainConfig` (unset fields
            allowed: they take the stable defaults and are not flagged).
    """
    out: list[Check] = []
    strategy = config.strategy.get("name", "") if isinstance(config.strategy, dict) \
        else str(config.strategy)
    if config.weights is None and strategy in FROZEN_STRATEGIES:
        title = STRATEGY_TEXT.get(strategy, (strategy,))[0]
        out.append(Check("error", f"{title} freezes backbone layers, but the weights are "
                                  f"random (None): choose pretrained weights or a weights "
                                  f"file, or the strategy 'Fine-tuning' or 'From scratch'"))
    rec = recommended(config.task, config.batch_size, config.optimizer)
    if config.lr is not None and config.lr > HIGH_LR_FACTOR * rec.lr:
        model = config.arch or "this model"
        out.append(Check("warning", f"learning rate {config.lr:g} is high for {model} at "
                                    f"batch size {config.batch_size}: {rec.lr:g} is the "
                                    f"stable default ({rec.rule}); a too-high rate makes "
                                    f"the loss diverge to NaN"))
    if config.grad_clip == 0 and config.task != Task.CLASSIFICATION:
        out.append(Check("warning", "gradient clipping is off: detection and segmentation "
                                    "heads can diverge early without it (default 10)"))
    return out


LEAKAGE_MAX_NEW = 500
"""The leakage check hashes at most this many not-yet-hashed images itself (~10 ms
each); with more it says how to run the dataset-health check instead."""


def leakage_checks(store: Any, snapshot: Snapshot | None) -> list[Check]:
    """Warnings when val/test images of the snapshot have near-copies in another split
    (:func:`vision_studio.core.health.leakage_warnings`: cached perceptual hashes, and the
    cached backbone embeddings of a previous health run; the CNN never runs here)."""
    if snapshot is None:
        return []
    from vision_studio.core.health import leakage_warnings

    from vision_studio.core.errors import VisionStudioError

    ids = [s.image_id for s in snapshot.samples]
    try:
        lines = leakage_warnings(store, image_ids=ids, max_new=LEAKAGE_MAX_NEW)
    except (VisionStudioError, OSError) as exc:  # e.g. a read-only project folder
        lines = [f"train/val leakage not checked: {exc}"]
    return [Check("warning", w) for w in lines]


def run_checks(store: Any, snapshot: Snapshot | None, config: Any,
               train: list | None = None) -> list[Check]:
    """Every pre-training finding, errors first: :func:`config_checks` plus the data
    warnings of :func:`training_warnings` and :func:`leakage_checks`."""
    found = config_checks(config) + [Check("warning", w)
                                     for w in training_warnings(store, snapshot, train)]
    found += leakage_checks(store, snapshot)
    return sorted(found, key=lambda c: c.severity != "error")


def split_counts(snapshot: Snapshot | None) -> dict[str, int]:
    """Labelled images per store split (``""`` = unassigned)."""
    if snapshot is None:
        return {}
    return dict(Counter(s.split for s in snapshot.samples))
