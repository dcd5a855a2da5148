"""Large images in the Evaluation viewer (issue 17): raster layers at a reduced resolution
placed over the full-resolution scene.

The viewer's scene is always in full-resolution image pixels (COCO convention: origin
top-left, x right, y down), so boxes, polygons and labels are drawn where the evaluation
found them. The image itself may arrive reduced (a large image's reduced decode or a
pyramid overview, :func:`vision_studio.gui.image_cache.decode`); it and every raster
overlay (instance masks, semantic label maps, the class-activation heatmap) are pixmaps of
any size stretched by :func:`place_raster` to cover exactly ``[0, W] x [0, H]``. Overlays
of a large image are reduced by :func:`raster_step` before they become pixmaps, so their
memory stays that of a ~2k-pixel image whatever the image's size.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtGui import QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsPixmapItem

from vision_studio.gui.image_cache import LARGE_SIDE, OVERVIEW_SIDE
from vision_studio.gui.qimage import array_to_qimage

MAX_ZOOM = 16.0
"""Most screen pixels per full-resolution image pixel the viewer zooms to."""


def raster_step(size_hw: tuple[int, int]) -> int:
    """Subsampling step of raster overlays for an image of ``size_hw`` (height, width)
    full-resolution pixels: 1 up to :data:`~vision_studio.gui.image_cache.LARGE_SIDE`
    on the longer side, else the step that brings it to about
    :data:`~vision_studio.gui.image_cache.OVERVIEW_SIDE` (the reduced decode's size)."""
    side = max(int(size_hw[0]), int(size_hw[1]))
    return 1 if side <= LARGE_SIDE else int(math.ceil(side / OVERVIEW_SIDE))


def reduce_raster(arr: np.ndarray, step: int) -> np.ndarray:
    """Nearest-neighbour subsampling ``arr[::step, ::step]`` (label maps and masks keep
    their values; ``step`` 1 returns ``arr``)."""
    return arr if step <= 1 else np.ascontiguousarray(arr[::step, ::step])


def place_raster(item: QGraphicsPixmapItem, arr: np.ndarray | None, size_hw: tuple[int, int]) -> None:
    """Show ``arr`` (``h x w`` grey, ``h x w x 3`` RGB or ``h x w x 4`` RGBA uint8, any
    resolution) in ``item`` stretched over the full-resolution image rectangle
    ``[0, W] x [0, H]`` (``size_hw`` = ``(H, W)``): pixel ``(i, j)`` of ``arr`` covers
    scene ``[j * W / w, (j + 1) * W / w) x [i * H / h, (i + 1) * H / h)``. ``None``
    clears the item."""
    if arr is None or arr.size == 0:
        item.setPixmap(QPixmap())
        item.setTransform(QTransform())
        return
    item.setPixmap(QPixmap.fromImage(array_to_qimage(arr)))
    h, w = arr.shape[:2]
    item.setTransform(QTransform.fromScale(size_hw[1] / w, size_hw[0] / h))


def raster_scale(item: QGraphicsPixmapItem) -> float:
    """Full-resolution pixels per pixel of the item's pixmap (horizontally; 1 when the
    item is at full resolution)."""
    return float(item.transform().m11())
