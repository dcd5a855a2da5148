"""Per-task pieces of the training loop: moving a batch to the device, the training loss,
and validation (loss plus the task metric).

The split follows torchvision's ``references/detection`` (``train_one_epoch`` /
``evaluate``); the loop itself, with events, cancel and checkpoints, is in
:mod:`vision_studio.core.training.trainer`.

Task metrics (the one that picks ``best.pt`` is :data:`TASK_METRIC`):
classification ``accuracy`` (top-1, fraction); detection ``mAP`` (COCO AP@[.50:.95]) and
``AP50``; instance segmentation ``mask_mAP`` / ``mask_AP50`` (and the box ones); semantic
segmentation ``mIoU`` (mean over classes present in prediction or target, 255 ignored) and
``pixel_accuracy``. All from :mod:`vision_studio.core.evaluation`.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from vision_studio.core.data.datasets import Batch
from vision_studio.core.data.snapshot import IGNORE_INDEX
from vision_studio.core.evaluation.metrics import semantic_confusion, semantic_metrics
from vision_studio.core.types import Task

log = logging.getLogger(__name__)

TASK_METRIC = {Task.CLASSIFICATION: "accuracy", Task.DETECTION: "mAP",
               Task.INSTANCE_SEGMENTATION: "mask_mAP", Task.SEMANTIC_SEGMENTATION: "mIoU"}
DETECTION_TASKS = (Task.DETECTION, Task.INSTANCE_SEGMENTATION)


def to_device(batch: Batch, device: torch.device, channels_last: bool = False) -> tuple[Any, Any]:
    """``(images, targets)`` of a batch on ``device`` (non-blocking copies)."""
    def move(t: torch.Tensor) -> torch.Tensor:
        return t.to(device, non_blocking=True)

    if isinstance(batch.images, torch.Tensor):
        images = move(batch.images)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, move(batch.targets)
    images = [move(i) for i in batch.images]
    targets = [{k: (move(v) if isinstance(v, torch.Tensor) else v) for k, v in t.items()}
               for t in batch.targets]
    return images, targets


def _logits(out: Any) -> torch.Tensor:
    """Main logits of a model output (torchvision segmentation models return a dict)."""
    return out["out"] if isinstance(out, dict) else out


def semantic_loss(out: Any, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over pixels, 255 ignored; logits upsampled (bilinear) to the target's
    size; torchvision's auxiliary head, when present, weighted 0.5 (as in torchvision's
    ``references/segmentation``)."""
    def ce(logits: torch.Tensor) -> torch.Tensor:
        if logits.shape[-2:] != target.shape[-2:]:
            logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear",
                                   align_corners=False)
        return F.cross_entropy(logits.float(), target, ignore_index=IGNORE_INDEX)

    loss = ce(_logits(out))
    if isinstance(out, dict) and out.get("aux") is not None:
        loss = loss + 0.5 * ce(out["aux"])
    return loss


def compute_loss(model: torch.nn.Module, task: str, images: Any,
                 targets: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Forward pass and training loss of one batch.

    Returns:
        ``(loss, parts)``: the scalar loss to back-propagate and its named parts
        (detection: torchvision's loss dict; other tasks ``{"loss": loss}``).
    """
    if task in DETECTION_TASKS:
        parts = model(images, targets)
        return sum(parts.values()), parts
    out = model(images)
    if task == Task.CLASSIFICATION:
        loss = F.cross_entropy(_logits(out).float(), targets)
    else:
        loss = semantic_loss(out, targets)
    return loss, {"loss": loss}


def _eval_norm_layers(model: torch.nn.Module) -> None:
    """Train mode (so detection models return losses) but BatchNorm and Dropout frozen."""
    model.train()
    for m in model.modules():
        if isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.Dropout)):
            m.eval()


@torch.no_grad()
def evaluate(model: torch.nn.Module, task: str, batches: Iterable[Batch], device: torch.device,
             num_classes: int, autocast: Any, channels_last: bool = False) -> dict[str, float]:
    """Validation loss and task metrics over ``batches``.

    Args:
        model: The model (left in eval mode on return).
        task: The task.
        batches: Validation batches (already limited to ``max_val_batches``).
        device: Where the model is.
        num_classes: Model outputs (background included where the task has one).
        autocast: A function returning the autocast context (AMP) or a null context.
        channels_last: Use the channels-last memory format (CUDA).

    Returns:
        ``{"val_loss": ..., <metric>: ...}``; empty when there was no validation batch.
    """
    acc = _Accumulator(task, num_classes)
    for batch in batches:
        if not len(batch):
            continue
        images, targets = to_device(batch, device, channels_last)
        with autocast():
            if task in DETECTION_TASKS:
                _eval_norm_layers(model)
                loss, _ = compute_loss(model, task, images, targets)
                model.eval()
                acc.add_detections(model(images), batch.targets)
            else:
                model.eval()
                out = model(images)
                loss, _ = ((F.cross_entropy(_logits(out).float(), targets), None)
                           if task == Task.CLASSIFICATION else (semantic_loss(out, targets), None))
                acc.add_dense(_logits(out), targets)
        acc.loss_sum += float(loss) * len(batch)
        acc.n += len(batch)
    model.eval()
    return acc.result()


class _Accumulator:
    """Running sums of one validation pass."""

    def __init__(self, task: str, num_classes: int) -> None:
        self.task, self.num_classes = task, num_classes
        self.loss_sum, self.n, self.correct = 0.0, 0, 0
        self.confusion = np.zeros((num_classes, num_classes), np.int64)
        self.gt: dict[str, list] = {"images": [], "annotations": [],
                                    "categories": [{"id": k} for k in range(1, num_classes)]}
        self.dets: list[dict] = []

    def add_dense(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        if self.task == Task.CLASSIFICATION:
            self.correct += int((logits.argmax(1) == targets).sum())
            return
        if logits.shape[-2:] != targets.shape[-2:]:
            logits = F.interpolate(logits.float(), size=targets.shape[-2:], mode="bilinear",
                                   align_corners=False)
        pred = logits.argmax(1).cpu().numpy()
        self.confusion += _semantic_confusion(pred, targets.cpu().numpy(), self.num_classes)

    def add_detections(self, outputs: list[dict], targets: list[dict]) -> None:
        from vision_studio.core.training.coco_gt import add_ground_truth, detections_to_results

        for out, tgt in zip(outputs, targets):
            add_ground_truth(self.gt, tgt, self.task)
            self.dets += detections_to_results(out, tgt["image_id"], self.task)

    def result(self) -> dict[str, float]:
        if not self.n:
            return {}
        out = {"val_loss": self.loss_sum / self.n}
        if self.task == Task.CLASSIFICATION:
            out["accuracy"] = self.correct / self.n
        elif self.task == Task.SEMANTIC_SEGMENTATION:
            out.update(_semantic_metrics(self.confusion))
        else:
            from vision_studio.core.training.coco_gt import coco_metrics

            out.update(coco_metrics(self.gt, self.dets, self.task))
        return out


def _semantic_confusion(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix ``[num_classes, num_classes]`` (rows = target), 255 ignored."""
    return np.asarray(semantic_confusion(pred, target, num_classes, ignore_index=IGNORE_INDEX))


def _semantic_metrics(confusion: np.ndarray) -> dict[str, float]:
    """``mIoU`` (mean over classes present in target or prediction; NaN when no class is
    present) and ``pixel_accuracy`` (NaN without pixels), from
    :func:`vision_studio.core.evaluation.metrics.semantic_metrics`."""
    m = semantic_metrics(confusion)
    return {"mIoU": float(m["mIoU"]), "pixel_accuracy": float(m["pixel_accuracy"])}
