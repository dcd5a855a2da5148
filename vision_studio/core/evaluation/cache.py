"""The prediction cache of the evaluation session: per checkpoint and split in
``<run folder>/eval_cache/``, a compressed ``.npz`` (no pickles) with a JSON side file
holding the checkpoint's size and modification time and the image ids. Reopening the
same checkpoint and split loads the predictions instead of running the model; a
rewritten checkpoint or other images in the split make the cache stale."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vision_studio.core.evaluation.predictions import (ClassificationPredictions, RawDetections,
                                                      SemanticPredictions)
from vision_studio.core.types import ImageRecord, Task

log = logging.getLogger(__name__)

CACHE_DIR = "eval_cache"


def cache_files(checkpoint: Path, split: str) -> tuple[Path, Path]:
    """``(predictions .npz, side .json)`` of a checkpoint and split."""
    folder = Path(checkpoint).parent / CACHE_DIR
    stem = f"{Path(checkpoint).stem}_{split or 'none'}"
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def _stamp(checkpoint: Path, images: Sequence[ImageRecord]) -> dict[str, Any]:
    st = Path(checkpoint).stat()
    return {"checkpoint_size": st.st_size, "checkpoint_mtime_ns": st.st_mtime_ns,
            "image_ids": [int(im.id) for im in images]}


def save_cache(checkpoint: Path, split: str, images: Sequence[ImageRecord], task: str, predictions: Any) -> Path:
    """Write ``predictions`` of ``checkpoint`` on ``split`` (returns the .npz path); the
    file is written under a temporary name and renamed into place."""
    npz, side = cache_files(checkpoint, split)
    npz.parent.mkdir(parents=True, exist_ok=True)
    p = predictions
    tmp = npz.with_name(npz.stem + ".tmp.npz")
    if isinstance(p, RawDetections):
        p.save(tmp)
    elif task == Task.CLASSIFICATION:
        np.savez_compressed(tmp, probs=p.probs, image_ids=p.image_ids)
    else:
        shapes = np.array([m.shape for m in p.label_maps], dtype=np.int64).reshape(-1, 2)
        flat = np.concatenate([m.ravel() for m in p.label_maps]) if p.label_maps else np.zeros(0, np.uint8)
        np.savez_compressed(tmp, flat=flat, shapes=shapes, image_ids=p.image_ids)
    os.replace(tmp, npz)
    side.write_text(json.dumps({**_stamp(checkpoint, images), "task": task}))
    return npz


def load_cache(checkpoint: Path, split: str, images: Sequence[ImageRecord], task: str,
               class_names: Sequence[str]) -> Any | None:
    """The cached predictions, or ``None`` when absent or stale (checkpoint rewritten,
    other images in the split)."""
    npz, side = cache_files(checkpoint, split)
    try:
        meta = json.loads(side.read_text())
        if {k: meta.get(k) for k in ("checkpoint_size", "checkpoint_mtime_ns", "image_ids")} != \
                _stamp(checkpoint, images) or not npz.is_file():
            return None
        paths = tuple(str(im.path) for im in images)
        if task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
            return RawDetections.load(npz)
        z = np.load(npz, allow_pickle=False)
        if task == Task.CLASSIFICATION:
            return ClassificationPredictions(z["image_ids"], paths, tuple(class_names), z["probs"])
        sizes = z["shapes"]
        ends = np.cumsum(sizes[:, 0] * sizes[:, 1])
        flat = z["flat"]
        maps = tuple(flat[e - h * w:e].reshape(h, w) for e, (h, w) in zip(ends, sizes))
        return SemanticPredictions(z["image_ids"], paths, tuple(class_names), maps)
    except (OSError, ValueError, KeyError) as exc:
        log.info("no usable prediction cache for %s (%s)", checkpoint, exc)
        return None
