"""``torchvision.transforms.v2`` pipelines per task; boxes (``tv_tensors.BoundingBoxes``)
and masks (``tv_tensors.Mask``) follow every geometric transform.

Inputs are ``tv_tensors.Image`` (uint8, CHW, RGB) plus, for detection/segmentation, the
targets; outputs are float32 images in [0, 1], normalised with the model's ``mean``/``std``
when ``normalize`` is true (torchvision's detection models normalise internally).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from vision_studio.core.data.snapshot import IGNORE_INDEX
from vision_studio.core.data.transforms_options import parse_augmentation
from vision_studio.core.types import Task


def build_transforms(task: str, train: bool, image_size: int, mean: Sequence[float],
                     std: Sequence[float], options: Mapping[str, Any] | None = None,
                     normalize: bool = True) -> v2.Compose:
    """The transform of one task and phase.

    Geometry per task: classification — random resized crop to ``image_size`` squared
    (validation: resize to ``image_size / 0.875`` then centre crop, the ImageNet
    convention); detection and instance segmentation — resize so the longer side is
    ``image_size`` (aspect kept), scale jitter by a random affine zoom; semantic
    segmentation — random resized crop to ``image_size`` squared (validation: resize to
    ``image_size`` squared; masks use nearest-neighbour, uncovered areas 255).

    Args:
        task: One of :class:`~vision_studio.core.types.Task`.
        train: Training (augmented) or validation pipeline.
        image_size: Output size in pixels (see above).
        mean: Per-channel mean of the model's normalisation (RGB, [0, 1] units).
        std: Per-channel standard deviation of the model's normalisation.
        options: Augmentation options (:func:`parse_augmentation`).
        normalize: Apply ``Normalize(mean, std)`` at the end.

    Returns:
        A ``v2.Compose`` taking ``image`` (classification), ``(image, mask)`` (semantic)
        or ``{"image", "boxes", "labels"[, "masks"]}`` (detection / instance).
    """
    opts = parse_augmentation(task, options)
    augment = train and opts["enabled"]
    steps: list[v2.Transform] = []
    if task == Task.CLASSIFICATION:
        steps += ([v2.RandomResizedCrop(image_size, scale=tuple(opts["scale"]))] if augment
                  else [v2.Resize(round(image_size / 0.875)), v2.CenterCrop(image_size)])
    elif task == Task.SEMANTIC_SEGMENTATION:
        steps += ([v2.RandomResizedCrop(image_size, scale=tuple(opts["scale"]))] if augment
                  else [v2.Resize((image_size, image_size))])
    else:
        steps.append(v2.Resize(size=None, max_size=image_size))
    if augment:
        steps += _augmentations(task, opts)
    steps.append(v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True))
    if normalize:
        steps.append(v2.Normalize(mean=list(mean), std=list(std)))
    if task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        steps.append(v2.SanitizeBoundingBoxes(min_size=1.0))
    return v2.Compose(steps)


def _augmentations(task: str, opts: Mapping[str, Any]) -> list[v2.Transform]:
    fill = {tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX if task ==
            Task.SEMANTIC_SEGMENTATION else 0, "others": 0}
    out: list[v2.Transform] = []
    if opts["hflip"] > 0:
        out.append(v2.RandomHorizontalFlip(opts["hflip"]))
    if opts["vflip"] > 0:
        out.append(v2.RandomVerticalFlip(opts["vflip"]))
    lo, hi = opts["scale"]
    jitter = task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION) and (lo, hi) != (1.0, 1.0)
    if jitter or opts["rotation"] > 0:
        out.append(v2.RandomAffine(degrees=opts["rotation"], scale=(lo, hi) if jitter else None,
                                   fill=fill))
    s = opts["color_jitter"]
    if s > 0:
        out.append(v2.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(0.5, s / 10)))
    return out
