"""Label errors of a semantic-segmentation project, one score per image, with
``cleanlab.segmentation``.

Method (Lad & Mueller, "Estimating label quality and errors in semantic segmentation
data via any model", 2023; ``cleanlab.segmentation.rank.get_label_quality_scores``,
``method="softmin"``): each pixel's score is the predicted probability of its given
class; an image's quality is the softmin (temperature 0.1) of its pixel scores, so a
region of wrong labels pulls it down. An issue's ``score`` is ``1 - quality``.

Probabilities come from a checkpoint on images it did not train on
(:mod:`.from_checkpoint`): softmax of the logits, resized (bilinear) to the image
shrunk so that its longer side is at most :data:`MAX_SIDE` pixels; the given label map
is resized to the same size (nearest). Unlabelled pixels (255) get the predicted class
as their label, so they count as agreeing: they carry no given label to be wrong.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

from vision_studio.core.health.issues import Issue

MAX_SIDE = 256
"""Longer side (pixels) of the maps scored: memory is K x H x W floats per image."""
UNLABELLED = 255


def image_label_quality(label_map: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """cleanlab's softmin label quality of one image, and the share of its labelled
    pixels whose given class is not the predicted one.

    Args:
        label_map: [H, W] uint8 given classes ``0..K-1``, ``255`` = unlabelled.
        probs: [K, H, W] float predicted probabilities (sum 1 over K).

    Returns:
        ``(quality in [0, 1], disagreeing fraction in [0, 1])``.
    """
    from cleanlab.segmentation.rank import get_label_quality_scores

    pred = np.argmax(probs, axis=0)
    lab = np.where(label_map == UNLABELLED, pred, label_map).astype(np.int64)
    quality, _ = get_label_quality_scores(lab[None], probs[None].astype(np.float32),
                                          method="softmin", verbose=False)
    known = label_map != UNLABELLED
    wrong = float(np.mean(pred[known] != lab[known])) if known.any() else 0.0
    return float(quality[0]), wrong


def _shrunk(h: int, w: int) -> tuple[int, int]:
    s = min(1.0, MAX_SIDE / max(h, w))
    return max(1, round(h * s)), max(1, round(w * s))


def _nearest(label_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = label_map.shape
    rows = (np.arange(size[0]) * h // size[0]).clip(0, h - 1)
    cols = (np.arange(size[1]) * w // size[1]).clip(0, w - 1)
    return label_map[rows[:, None], cols[None, :]]


def semantic_probabilities(built: Any, image_size: int | None, image: np.ndarray,
                           device: str) -> np.ndarray:
    """[K, h, w] float32 softmax probabilities of one RGB uint8 image (the validation
    transform of training), at the image size shrunk to :data:`MAX_SIDE`."""
    import torch
    import torch.nn.functional as F

    from vision_studio.core.evaluation.predict import _prepare  # the model's eval transform
    from vision_studio.core.types import Task

    x = _prepare(image, Task.SEMANTIC_SEGMENTATION, image_size, built.mean, built.std)
    with torch.inference_mode():
        logits = built.model(x[None].to(device))
        logits = logits["out"] if isinstance(logits, dict) else logits
        size = _shrunk(*image.shape[:2])
        logits = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
        return torch.softmax(logits, dim=1)[0].cpu().numpy()


def segmentation_issues(store: Any, checkpoint: str | os.PathLike, images: Sequence[Any], *,
                        device: str = "auto", progress: Callable[[int, int], None] | None = None,
                        source: str = "") -> list[Issue]:
    """One ``label`` issue per image, its score ``1 - softmin label quality``, from the
    checkpoint's probabilities (see the module docstring).

    Raises:
        CheckpointError: unreadable checkpoint. ImageDecodeError: unreadable image.
    """
    from vision_studio.core.evaluation.ground_truth import semantic_gt_maps
    from vision_studio.core.evaluation.predict import resolve_device
    from vision_studio.core.images import read_image
    from vision_studio.core.checkpoint import load_model

    dev = resolve_device(device)
    built, info = load_model(checkpoint, device=dev)
    categories = list(info.categories)
    offset = 1 if info.unlabelled_as == "background" else 0
    out = []
    for n, im in enumerate(images):
        arr = read_image(store.resolve(im))
        probs = semantic_probabilities(built, info.image_size, arr, dev)
        (gt,) = semantic_gt_maps(store, [im], categories, offset, [arr.shape[:2]])
        lab = _nearest(np.asarray(gt), probs.shape[1:])
        quality, wrong = image_label_quality(lab, probs)
        out.append(Issue(kind="label", file_name=im.path, image_id=im.id,
                         score=1.0 - quality, split=im.split,
                         detail=f"cleanlab.segmentation softmin quality {quality:.3f}; "
                                f"{wrong:.0%} of the labelled pixels disagree with the "
                                f"prediction" + source))
        if progress:
            progress(n + 1, len(images))
    return out
