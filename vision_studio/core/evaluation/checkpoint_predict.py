"""Predict with a checkpoint file: load it (:func:`vision_studio.core.checkpoint.load_model`)
and run the task's prediction of :mod:`.predict` — or, for detectors on large images,
the sliced inference of :mod:`.sliced` (which itself uses :mod:`.predict`; this module
sits above both so that they do not import each other)."""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from vision_studio.core.cancel import Cancel, Progress, checked_progress
from vision_studio.core.evaluation.predict import (predict_classification, predict_detections, predict_semantic,
                                                   resolve_device)
from vision_studio.core.types import Task


def _sizes(images: Sequence[str | os.PathLike | np.ndarray]) -> list[tuple[int, int]]:
    """``(height, width)`` of each image, from the file headers."""
    from vision_studio.core.images import image_size

    out = []
    for im in images:
        if isinstance(im, np.ndarray):
            out.append((int(im.shape[0]), int(im.shape[1])))
        else:
            w, h = image_size(im)
            out.append((h, w))
    return out


def predict_checkpoint(checkpoint: str | os.PathLike, images: Sequence[str | os.PathLike | np.ndarray], *,
                       image_ids: Sequence[int] | None = None, device: str = "auto",
                       batch_size: int | None = None, progress: Progress | None = None,
                       slicing: Any = "auto", cancel: Cancel = None, **options: Any) -> tuple[Any, Any, list[dict[str, Any]]]:
    """Load a checkpoint (:func:`vision_studio.core.checkpoint.load_model`) and predict.

    ``slicing``: a :class:`~vision_studio.core.evaluation.sliced.SliceSettings` makes a
    detector predict by sliced inference (tiles of large images, merged; boxes only);
    ``None`` feeds whole images resized to the model's ``image_size``; ``"auto"``
    (default) slices when an image is large
    (:func:`~vision_studio.core.evaluation.sliced.auto_slicing`: longer side above
    2000 px and twice ``image_size``), so ordinary images predict as before.

    ``progress(done, total)`` images: fractional within a sliced image (after every tile
    batch). ``cancel`` (:data:`~vision_studio.core.cancel.Cancel`) is checked after every
    batch of whole images and before every tile batch of a sliced one.

    Returns:
        ``(predictions, info, categories)``: :class:`RawDetections`,
        :class:`ClassificationPredictions` or :class:`SemanticPredictions` by task, the
        checkpoint's :class:`~vision_studio.core.checkpoint.CheckpointModel` (``task``,
        ``image_size``, ``config``...) and ``[{"id", "name"}]`` in model label order.

    Raises:
        CheckpointError: unreadable checkpoint; ImageDecodeError: unreadable image.
        Cancelled: ``cancel`` was set.
    """
    from vision_studio.core.checkpoint import load_model

    dev = resolve_device(device)
    built, config = load_model(checkpoint, device=dev)
    categories = [dict(c) for c in config.categories]
    task = config.task
    names = [c["name"] for c in categories]
    whole_progress = checked_progress(progress, cancel) if cancel is not None else progress
    kw: dict[str, Any] = {"image_ids": image_ids, "device": dev, "progress": whole_progress}
    if batch_size:
        kw["batch_size"] = batch_size
    if task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION) and isinstance(slicing, str):
        from vision_studio.core.evaluation.sliced import auto_slicing

        slicing = auto_slicing(_sizes(images), config.image_size) if slicing == "auto" else None
    if task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION) and slicing is not None:
        from vision_studio.core.evaluation.sliced import predict_sliced

        kw.update(progress=progress, cancel=cancel)  # it checks cancel itself, between tile batches
        pred = predict_sliced(built.model, images, categories, settings=slicing, image_size=config.image_size,
                              **kw, **options)
    elif task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        pred = predict_detections(built.model, images, categories, image_size=config.image_size, **kw, **options)
    elif task == Task.CLASSIFICATION:
        pred = predict_classification(built.model, images, names, built.mean, built.std, config.image_size, **kw)
    else:
        offset = 1 if config.unlabelled_as == "background" else 0
        pred = predict_semantic(built.model, images, (["background"] if offset else []) + names,
                                built.mean, built.std, config.image_size, **kw)
    return pred, config, categories
