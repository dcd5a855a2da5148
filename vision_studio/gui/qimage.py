"""numpy → ``QImage``: the one place the GUI wraps an array as an image.

Every caller (the browser's thumbnails, the canvas's image and mask overlays, the
Model panel's previews, the evaluation viewer) goes through :func:`array_to_qimage`, so
the format choice, the stride and the copy that detaches the image from the array are
written once.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

_FORMATS = {1: QImage.Format.Format_Grayscale8, 3: QImage.Format.Format_RGB888,
            4: QImage.Format.Format_RGBA8888}


def array_to_qimage(arr: np.ndarray, *, premultiplied: bool = False) -> QImage:
    """A ``QImage`` owning a copy of a uint8 image array.

    Args:
        arr: ``H x W`` (grey), ``H x W x 1`` (grey), ``H x W x 3`` (RGB) or ``H x W x 4``
            (RGBA) array of dtype uint8, channels in that order; any strides (it is made
            C-contiguous first).
        premultiplied: For 4 channels, whether RGB are already multiplied by alpha
            (``Format_RGBA8888_Premultiplied``, the fastest to paint) or not
            (``Format_RGBA8888``).

    Returns:
        A deep copy: the array may be freed or changed afterwards. Safe on worker
        threads (a ``QImage``, not a ``QPixmap``).

    Raises:
        ValueError: for another dtype or shape.
    """
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (
            arr.ndim == 3 and arr.shape[2] not in _FORMATS):
        raise ValueError(f"need a uint8 H x W, H x W x 1, 3 or 4 array, got {arr.dtype} "
                         f"{arr.shape}")
    arr = np.ascontiguousarray(arr)
    h, w = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    fmt = _FORMATS[channels]
    if channels == 4 and premultiplied:
        fmt = QImage.Format.Format_RGBA8888_Premultiplied
    return QImage(arr.data, w, h, int(arr.strides[0]), fmt).copy()
