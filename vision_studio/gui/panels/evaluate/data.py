"""What the Evaluation view evaluates: the images of a split, their ground truth, and the
checkpoint's predictions cached on disk — plain Python and numpy, no Qt.

Ground truth comes straight from the project store (image ids, annotation ids and
category ids are the store's own, so an error found here can be opened in the Annotate
panel and an accepted prediction becomes an ordinary annotation):

* detection / instance segmentation: the COCO dict of the evaluation core's
  ``ground_truth_from_store`` (as ``vision-studio evaluate`` builds it);
* classification: the image's tag among the checkpoint's categories (model label index);
* semantic segmentation: a uint8 label map per image painted from the mask annotations
  in id order (model labels; 255 = unlabelled, or 0 when the run trained with
  ``unlabelled_as="background"``), as the training data set paints it.

Predictions are cached per checkpoint and split in ``<run folder>/eval_cache/`` with a
JSON side file holding the checkpoint's size and modification time and the image ids:
reopening the same checkpoint and split loads them instead of running the model.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.types import ImageRecord, Task

log = logging.getLogger(__name__)

ALL_SPLITS = "all"
CACHE_DIR = "eval_cache"


class EvaluationCancelled(VisionStudioError):
    """The user stopped the prediction."""


@dataclass
class EvalInputs:
    """Everything the view needs about one checkpoint on one split.

    Attributes:
        checkpoint: The checkpoint file.
        split: The split name (``"all"`` = every image).
        task: One of :class:`~vision_studio.core.types.Task`.
        categories: ``[{"id", "name"}]`` in model label order (store category ids).
        class_names: Names of the model labels (``"background"`` first for semantic runs
            trained with a background class).
        label_offset: Model label of ``categories[0]`` (semantic with background: 1).
        unlabelled_as: The run's ``unlabelled_as`` (semantic segmentation).
        images: The evaluated images, in prediction order.
        predictions: ``RawDetections``, ``ClassificationPredictions`` or
            ``SemanticPredictions`` of the evaluation core.
        gt: Detection: ``{"coco": COCO ground-truth dict}`` (the evaluation core's
            ``ground_truth_from_store``, with masks for instance segmentation); classification: ``{"labels": [I] int64}``
            (-1 = image without a tag among the categories); semantic: ``{"maps": [...]}``.
        from_cache: Whether the predictions were read from the cache.
    """

    checkpoint: Path
    split: str
    task: str
    categories: list[dict[str, Any]]
    class_names: list[str]
    label_offset: int
    unlabelled_as: str
    images: list[ImageRecord]
    predictions: Any
    gt: dict[str, Any] = field(default_factory=dict)
    from_cache: bool = False


# --------------------------------------------------------------------------- choices
def checkpoints_of(store: Any) -> list[tuple[str, Path]]:
    """``(label, checkpoint file)`` of every run of the project that has one
    (``best.pt`` first, then ``last.pt``), newest run first."""
    out = []
    for run in reversed(store.runs()):
        folder = Path(run.out_dir)
        if not folder.is_absolute():
            folder = store.root / folder
        for name in ("best.pt", "last.pt"):
            if (folder / name).is_file():
                out.append((f"{run.name or folder.name} — {name} ({run.task})", folder / name))
    return out


def split_choices(store: Any) -> list[str]:
    """The project's split names (``val`` first when present) and ``"all"``."""
    names = [s for s in store.splits() if s]
    names.sort(key=lambda s: (s not in ("val", "valid"), s != "test", s))
    return names + [ALL_SPLITS]


def split_images(store: Any, split: str) -> list[ImageRecord]:
    """The images of ``split`` (every image for ``"all"``), in store order."""
    return store.images(None if split == ALL_SPLITS else split)


# --------------------------------------------------------------------------- ground truth
def classification_gt(store: Any, images: list[ImageRecord],
                      categories: list[dict[str, Any]]) -> np.ndarray:
    """[I] int64 model label of each image's tag (-1 = no tag among ``categories``)."""
    index = {int(c["id"]): k for k, c in enumerate(categories)}
    tags = store.all_image_tags()
    out = np.full(len(images), -1, dtype=np.int64)
    for i, im in enumerate(images):
        labels = [index[t] for t in tags.get(im.id, ()) if t in index]
        if labels:
            out[i] = labels[0]
    return out


def semantic_gt_map(store: Any, image: ImageRecord, categories: list[dict[str, Any]],
                    label_offset: int, height: int, width: int) -> np.ndarray:
    """uint8 [height, width] label map of one image (model labels; 255 = unlabelled, or
    0 with a background class), painted in annotation id order."""
    from vision_studio.core.data.datasets import decode_mask

    index = {int(c["id"]): k + label_offset for k, c in enumerate(categories)}
    lab = np.full((height, width), 0 if label_offset else 255, np.uint8)
    for a in sorted(store.annotations(image.id), key=lambda a: a.id):
        if a.category_id in index:
            try:
                lab[decode_mask(a, height, width) > 0] = index[a.category_id]
            except ValueError as exc:
                log.warning("image %s: %s", image.path, exc)
    return lab


# --------------------------------------------------------------------------- cache
def cache_files(checkpoint: Path, split: str) -> tuple[Path, Path]:
    """``(predictions .npz, side .json)`` of a checkpoint and split."""
    folder = Path(checkpoint).parent / CACHE_DIR
    stem = f"{Path(checkpoint).stem}_{split or 'none'}"
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def _stamp(checkpoint: Path, images: list[ImageRecord]) -> dict[str, Any]:
    st = Path(checkpoint).stat()
    return {"checkpoint_size": st.st_size, "checkpoint_mtime_ns": st.st_mtime_ns,
            "image_ids": [int(im.id) for im in images]}


def save_cache(inputs: EvalInputs) -> Path:
    """Write the predictions of ``inputs`` to the cache (returns the .npz path)."""
    from vision_studio.core.evaluation.predict import RawDetections

    npz, side = cache_files(inputs.checkpoint, inputs.split)
    npz.parent.mkdir(parents=True, exist_ok=True)
    p = inputs.predictions
    tmp = npz.with_name(npz.stem + ".tmp.npz")
    if isinstance(p, RawDetections):
        p.save(tmp)
    elif inputs.task == Task.CLASSIFICATION:
        np.savez_compressed(tmp, probs=p.probs, image_ids=p.image_ids)
    else:
        shapes = np.array([m.shape for m in p.label_maps], dtype=np.int64).reshape(-1, 2)
        flat = np.concatenate([m.ravel() for m in p.label_maps]) if p.label_maps else np.zeros(0, np.uint8)
        np.savez_compressed(tmp, flat=flat, shapes=shapes, image_ids=p.image_ids)
    os.replace(tmp, npz)
    side.write_text(json.dumps({**_stamp(inputs.checkpoint, inputs.images), "task": inputs.task}))
    return npz


def load_cache(checkpoint: Path, split: str, images: list[ImageRecord], task: str,
               class_names: list[str]) -> Any | None:
    """The cached predictions, or ``None`` when absent or stale (checkpoint rewritten,
    other images in the split)."""
    from vision_studio.core.evaluation import predict as P

    npz, side = cache_files(checkpoint, split)
    try:
        meta = json.loads(side.read_text())
        if {k: meta.get(k) for k in ("checkpoint_size", "checkpoint_mtime_ns", "image_ids")} != \
                _stamp(checkpoint, images) or not npz.is_file():
            return None
        paths = tuple(str(im.path) for im in images)
        if task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
            return P.RawDetections.load(npz)
        z = np.load(npz, allow_pickle=False)
        if task == Task.CLASSIFICATION:
            return P.ClassificationPredictions(z["image_ids"], paths, list(class_names), z["probs"])
        sizes = z["shapes"]
        ends = np.cumsum(sizes[:, 0] * sizes[:, 1])
        flat = z["flat"]
        maps = [flat[e - h * w:e].reshape(h, w) for e, (h, w) in zip(ends, sizes)]
        return P.SemanticPredictions(z["image_ids"], paths, list(class_names), maps)
    except (OSError, ValueError, KeyError) as exc:
        log.info("no usable prediction cache for %s (%s)", checkpoint, exc)
        return None


# --------------------------------------------------------------------------- loading
def _checkpoint_info(checkpoint: Path) -> tuple[str, list[dict[str, Any]], str, int]:
    from vision_studio.core.training.checkpoints import read_checkpoint

    state = read_checkpoint(checkpoint)
    cfg = state["config"]
    unl = cfg.get("unlabelled_as", "ignore")
    offset = 1 if cfg["task"] == Task.SEMANTIC_SEGMENTATION and unl == "background" else 0
    return cfg["task"], list(state["categories"]), unl, offset


def prepare_inputs(store: Any, checkpoint: str | os.PathLike, split: str,
                   use_cache: bool = True) -> EvalInputs:
    """The checkpoint's task and categories, the split's images and, when the cache holds
    them, the predictions (else ``predictions`` is ``None``: run :func:`predict_inputs`).

    Raises:
        CheckpointError: unreadable checkpoint; VisionStudioError: a split without images.
    """
    checkpoint = Path(checkpoint)
    task, cats, unl, offset = _checkpoint_info(checkpoint)
    names = (["background"] if offset else []) + [c["name"] for c in cats]
    images = split_images(store, split)
    if not images:
        raise VisionStudioError(f"split {split!r} has no images")
    pred = load_cache(checkpoint, split, images, task, names) if use_cache else None
    return EvalInputs(checkpoint, split, task, cats, names, offset, unl, images, pred,
                      from_cache=pred is not None)


def predict_inputs(inputs: EvalInputs, paths: list[Path], *,
                   progress: Callable[[int, int], None] | None = None,
                   cancelled: Callable[[], bool] = lambda: False, device: str = "auto") -> Any:
    """Run the checkpoint on ``paths`` (the files of ``inputs.images``); touches no store,
    so it may run in a worker thread.

    Raises:
        EvaluationCancelled: ``cancelled()`` became true (polled after every batch).
        CheckpointError, ImageDecodeError: from the evaluation core.
    """
    from vision_studio.core.evaluation.predict import predict_checkpoint

    def _progress(done: int, total: int) -> None:
        if cancelled():
            raise EvaluationCancelled("prediction stopped")
        if progress:
            progress(done, total)

    pred, _cfg, _cats = predict_checkpoint(inputs.checkpoint, paths,
                                           image_ids=[im.id for im in inputs.images],
                                           device=device, progress=_progress)
    return pred


def finish_inputs(store: Any, inputs: EvalInputs, predictions: Any = None,
                  use_cache: bool = True) -> EvalInputs:
    """Attach fresh ``predictions`` (cached on disk) and the ground truth."""
    if predictions is not None:
        inputs.predictions = predictions
        if use_cache:
            save_cache(inputs)
    inputs.gt = build_gt(store, inputs)
    return inputs


def load_inputs(store: Any, checkpoint: str | os.PathLike, split: str, *,
                progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] = lambda: False,
                use_cache: bool = True, device: str = "auto") -> EvalInputs:
    """:func:`prepare_inputs`, :func:`predict_inputs` when the cache has nothing, and
    :func:`finish_inputs`, in the calling thread (scripts, tests, benchmarks).

    Raises:
        EvaluationCancelled, CheckpointError, ImageDecodeError, VisionStudioError.
    """
    inputs = prepare_inputs(store, checkpoint, split, use_cache)
    pred = None
    if inputs.predictions is None:
        pred = predict_inputs(inputs, [store.resolve(im) for im in inputs.images],
                              progress=progress, cancelled=cancelled, device=device)
    return finish_inputs(store, inputs, pred, use_cache)


def build_gt(store: Any, inputs: EvalInputs) -> dict[str, Any]:
    """The ground truth of ``inputs`` (see :class:`EvalInputs`)."""
    if inputs.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        from vision_studio.core.evaluation.coco_eval import ground_truth_from_store

        masks = inputs.task == Task.INSTANCE_SEGMENTATION
        return {"coco": ground_truth_from_store(store, inputs.images, inputs.categories, with_masks=masks)}
    if inputs.task == Task.CLASSIFICATION:
        return {"labels": classification_gt(store, inputs.images, inputs.categories)}
    maps = [semantic_gt_map(store, im, inputs.categories, inputs.label_offset, *m.shape[:2])
            for im, m in zip(inputs.images, inputs.predictions.label_maps)]
    return {"maps": maps}
