"""Live preview of the training augmentation on a real image of the project.

The preview runs the core's own pipeline — :class:`~vision_studio.core.data.VisionDataset`
with :func:`~vision_studio.core.data.build_transforms` (``torchvision.transforms.v2``) —
so the boxes and masks drawn are exactly those the model will be trained on. Images are
shown un-normalised (``normalize=False``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from vision_studio.core.data.snapshot import IGNORE_INDEX, Sample, Snapshot
from vision_studio.core.types import Task

log = logging.getLogger(__name__)

PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212))


@dataclass(frozen=True)
class PreviewItem:
    """One augmented draw: ``image`` uint8 [H, W, 3] RGB; ``boxes`` float [N, 4] xyxy
    pixels; ``labels`` int [N]; ``masks`` uint8 [N, H, W] (instance) or a label map
    [H, W] (semantic, 255 = unlabelled); ``caption`` the label (classification)."""

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    masks: np.ndarray | None = None
    caption: str = ""


def augmented_samples(snapshot: Snapshot, sample: Sample, image_size: int,
                      options: Mapping[str, Any], mean: Any, std: Any, n: int = 4,
                      seed: int = 0, train: bool = True) -> list[PreviewItem]:
    """``n`` augmented versions of ``sample`` through the core's training pipeline.

    Raises:
        VisionStudioError / OSError: the image cannot be read (the caller shows it).
    """
    import torch

    from vision_studio.core.data.datasets import Skipped, VisionDataset
    from vision_studio.core.data.transforms import build_transforms

    tf = build_transforms(snapshot.task, train, image_size, mean, std, dict(options),
                          normalize=False)
    ds = VisionDataset(snapshot, [sample], tf)
    out = []
    state = torch.get_rng_state()
    try:
        torch.manual_seed(seed)
        for _ in range(n):
            item = ds[0]
            if isinstance(item, Skipped):
                raise OSError(f"{item.source}: {item.reason}")
            out.append(_to_preview(snapshot, *item))
    finally:
        torch.set_rng_state(state)  # never disturb a run's random stream
    return out


def _to_preview(snapshot: Snapshot, image: Any, target: Any) -> PreviewItem:
    img = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy().copy()
    empty = np.zeros((0, 4), np.float32)
    if snapshot.task == Task.CLASSIFICATION:
        return PreviewItem(img, empty, np.zeros(0, np.int64), caption=snapshot.class_names[int(target)])
    if snapshot.task == Task.SEMANTIC_SEGMENTATION:
        return PreviewItem(img, empty, np.zeros(0, np.int64), masks=target.numpy().astype(np.uint8))
    masks = target["masks"].numpy().astype(np.uint8) if "masks" in target else None
    return PreviewItem(img, target["boxes"].numpy(), target["labels"].numpy(), masks=masks)


def render(item: PreviewItem, class_names: list[str], semantic: bool = False) -> QImage:
    """The item as a QImage with boxes outlined and masks tinted in category colours."""
    img = item.image.astype(np.float32)
    if item.masks is not None and item.masks.size:
        if semantic:
            for k in np.unique(item.masks):
                if k == IGNORE_INDEX:
                    continue
                sel = item.masks == k
                img[sel] = 0.55 * img[sel] + 0.45 * np.array(PALETTE[int(k) % len(PALETTE)])
        else:
            for m, lab in zip(item.masks, item.labels):
                sel = m > 0
                img[sel] = 0.55 * img[sel] + 0.45 * np.array(PALETTE[int(lab) % len(PALETTE)])
    arr = np.ascontiguousarray(img.clip(0, 255).astype(np.uint8))
    h, w = arr.shape[:2]
    qimg = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    painter = QPainter(qimg)
    for box, lab in zip(item.boxes, item.labels):
        pen = QPen(QColor(*PALETTE[int(lab) % len(PALETTE)]))
        pen.setWidthF(max(1.0, w / 200))
        painter.setPen(pen)
        x1, y1, x2, y2 = (float(v) for v in box)
        painter.drawRect(QRectF(QPointF(x1, y1), QPointF(x2, y2)))
    if item.caption:
        painter.setPen(QColor("white"))
        painter.fillRect(QRectF(0, 0, w, 16), QColor(0, 0, 0, 160))
        painter.drawText(QRectF(2, 0, w - 4, 16), Qt.AlignmentFlag.AlignLeft, item.caption)
    painter.end()
    return qimg


class AugmentationPreview(QWidget):
    """A 2×2 grid of augmented draws of one project image.

    Attributes:
        items: The :class:`PreviewItem` s shown (for tests and screenshots).
        tiles: The four labels.
    """

    def __init__(self, parent: QWidget | None = None, tile: int = 150) -> None:
        super().__init__(parent)
        self.tile = tile
        self.items: list[PreviewItem] = []
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.tiles = []
        for i in range(4):
            lab = QLabel(self)
            lab.setFixedSize(tile, tile)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lab.setStyleSheet("background:#222; color:#ccc;")
            lab.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            grid.addWidget(lab, i // 2, i % 2)
            self.tiles.append(lab)
        self.message("no image yet")

    def message(self, text: str) -> None:
        """Show ``text`` instead of images (no labelled image, unreadable file...)."""
        self.items = []
        for i, lab in enumerate(self.tiles):
            lab.clear()
            lab.setText(text if i == 0 else "")
            lab.setWordWrap(True)

    def show_items(self, items: list[PreviewItem], class_names: list[str], semantic: bool) -> None:
        """Draw ``items`` (up to four)."""
        self.items = list(items)
        for lab, item in zip(self.tiles, items):
            pix = QPixmap.fromImage(render(item, class_names, semantic))
            lab.setPixmap(pix.scaled(self.tile, self.tile, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation))
