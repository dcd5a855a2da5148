"""The evaluation session: a checkpoint opened on a split of a project — its task and
categories, the split's images, the predictions (cached on disk) and the ground truth.
Plain Python and numpy, no Qt; the Evaluation panel, ``vision-studio evaluate`` and
background jobs all go through it.

Steps (each a function, so a GUI can run the slow ones in worker threads):
:func:`prepare_inputs` (checkpoint and images, predictions from the cache when there),
:func:`predict_inputs` (run the model; touches no store), :func:`finish_inputs` (cache
fresh predictions, read the ground truth); :func:`load_inputs` does all three in the
calling thread. Every value returned is frozen (:class:`EvalInputs`,
:class:`GroundTruth`, the prediction types of :mod:`.predictions`), so it may be handed
to another thread. What the tasks compute from them lives in :mod:`.detection_session`
(detection / instance segmentation) and :mod:`.dense` (classification, semantic
segmentation).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from vision_studio.core.cancel import Cancelled
from vision_studio.core.checkpoint import checkpoint_file, model_info, read_checkpoint
from vision_studio.core.errors import VisionStudioError
from vision_studio.core.evaluation import cache as C
from vision_studio.core.types import ImageRecord, Task

log = logging.getLogger(__name__)

ALL_SPLITS = "all"
DETECTION_TASKS = (Task.DETECTION, Task.INSTANCE_SEGMENTATION)


class EvaluationCancelled(Cancelled):
    """The user stopped the prediction."""


@dataclass(frozen=True)
class GroundTruth:
    """The ground truth of an evaluation (one field set, by task).

    Attributes:
        coco: Detection: the COCO ground-truth dict (store ids; with ``segmentation``
            for instance segmentation), see
            :func:`~vision_studio.core.evaluation.ground_truth.ground_truth_from_store`.
        labels: Classification: [I] int64 model label per image (-1 = no tag among the
            categories), read-only.
        maps: Semantic segmentation: one read-only uint8 [H, W] label map per image.
    """

    coco: Mapping[str, Any] | None = None
    labels: np.ndarray | None = None
    maps: tuple[np.ndarray, ...] | None = None


@dataclass(frozen=True)
class EvalInputs:
    """Everything known about one checkpoint on one split.

    Attributes:
        checkpoint: The checkpoint file.
        split: The split name (``"all"`` = every image).
        task: One of :class:`~vision_studio.core.types.Task`.
        categories: ``({"id", "name"}, ...)`` in model label order (store category ids).
        class_names: Names of the model labels (``"background"`` first for semantic runs
            trained with a background class).
        label_offset: Model label of ``categories[0]`` (semantic with background: 1).
        unlabelled_as: The run's ``unlabelled_as`` (semantic segmentation).
        images: The evaluated images, in prediction order.
        predictions: ``RawDetections``, ``ClassificationPredictions`` or
            ``SemanticPredictions`` (:mod:`.predictions`), or ``None`` before the
            prediction.
        gt: The :class:`GroundTruth` (empty until :func:`finish_inputs`).
        from_cache: Whether the predictions were read from the cache.
    """

    checkpoint: Path
    split: str
    task: str
    categories: tuple[Mapping[str, Any], ...]
    class_names: tuple[str, ...]
    label_offset: int
    unlabelled_as: str
    images: tuple[ImageRecord, ...]
    predictions: Any = None
    gt: GroundTruth = field(default_factory=GroundTruth)
    from_cache: bool = False

    @property
    def is_detection(self) -> bool:
        """Detection or instance segmentation."""
        return self.task in DETECTION_TASKS


@dataclass(frozen=True)
class CheckpointChoice:
    """A checkpoint the user can evaluate.

    Attributes:
        label: ``"<run name> — best.pt (<task>, <status>)"``.
        path: The checkpoint file.
        status: The run's status (``"finished"``, ``"failed"`` ...).
    """

    label: str
    path: Path
    status: str


# --------------------------------------------------------------------------- choices
def checkpoint_choices(store: Any) -> list[CheckpointChoice]:
    """Every checkpoint of the project's runs (``best.pt`` then ``last.pt``), newest run
    first."""
    out = []
    for run in reversed(store.runs()):
        folder = Path(run.out_dir)
        if not folder.is_absolute():
            folder = store.root / folder
        for name in ("best.pt", "last.pt"):
            if (folder / name).is_file():
                note = "" if run.status == "finished" else f", {run.status}"
                out.append(CheckpointChoice(f"{run.name or folder.name} — {name} ({run.task}{note})",
                                            folder / name, run.status))
    return out


def default_choice(choices: list[CheckpointChoice]) -> int:
    """Index of the checkpoint to evaluate by default: the newest finished run's
    ``best.pt`` (else its ``last.pt``), else the newest checkpoint; -1 when none."""
    for k, c in enumerate(choices):
        if c.status == "finished":
            return k
    return 0 if choices else -1


def split_choices(store: Any) -> list[str]:
    """The project's split names (``val`` first when present) and ``"all"``."""
    names = [s for s in store.splits() if s]
    names.sort(key=lambda s: (s not in ("val", "valid"), s != "test", s))
    return names + [ALL_SPLITS]


def split_images(store: Any, split: str) -> tuple[ImageRecord, ...]:
    """The images of ``split`` (every image for ``"all"``), in store order."""
    return tuple(store.images(None if split == ALL_SPLITS else split))


# --------------------------------------------------------------------------- steps
def _checkpoint_info(checkpoint: Path) -> tuple[str, tuple[dict[str, Any], ...], str, int]:
    info = model_info(read_checkpoint(checkpoint))
    unl = info.unlabelled_as
    offset = 1 if info.task == Task.SEMANTIC_SEGMENTATION and unl == "background" else 0
    return info.task, info.categories, unl, offset


def prepare_inputs(store: Any, checkpoint: str | os.PathLike, split: str,
                   use_cache: bool = True) -> EvalInputs:
    """The checkpoint's task and categories, the split's images and, when the cache holds
    them, the predictions (else ``predictions`` is ``None``: run :func:`predict_inputs`).

    Raises:
        CheckpointError: unreadable checkpoint; VisionStudioError: a split without images.
    """
    checkpoint = checkpoint_file(checkpoint)
    task, cats, unl, offset = _checkpoint_info(checkpoint)
    names = tuple((["background"] if offset else []) + [c["name"] for c in cats])
    images = split_images(store, split)
    if not images:
        raise VisionStudioError(f"split {split!r} has no images")
    pred = C.load_cache(checkpoint, split, images, task, names) if use_cache else None
    return EvalInputs(checkpoint, split, task, cats, names, offset, unl, images, pred,
                      from_cache=pred is not None)


def predict_inputs(inputs: EvalInputs, paths: list[Path], *,
                   progress: Callable[[float, int], None] | None = None,
                   cancelled: Callable[[], bool] = lambda: False, device: str = "auto",
                   batch_size: int | None = None) -> Any:
    """Run the checkpoint on ``paths`` (the files of ``inputs.images``); touches no store,
    so it may run in a worker thread.

    ``progress(done, total)`` images after every batch: fractional within a large image
    predicted by sliced inference (after every tile batch).

    Raises:
        EvaluationCancelled: ``cancelled()`` became true (polled after every batch of
            whole images, before every tile batch of a sliced image).
        CheckpointError, ImageDecodeError: from the evaluation core.
    """
    from vision_studio.core.evaluation.checkpoint_predict import predict_checkpoint

    def _progress(done: float, total: int) -> None:
        if cancelled():
            raise EvaluationCancelled("prediction stopped")
        if progress:
            progress(done, total)

    try:
        pred, _cfg, _cats = predict_checkpoint(inputs.checkpoint, paths, image_ids=[im.id for im in inputs.images],
                                               device=device, batch_size=batch_size, progress=_progress,
                                               cancel=cancelled)
    except EvaluationCancelled:
        raise
    except Cancelled:
        raise EvaluationCancelled("prediction stopped") from None
    return pred


def finish_inputs(store: Any, inputs: EvalInputs, predictions: Any = None,
                  use_cache: bool = True) -> EvalInputs:
    """A copy of ``inputs`` with fresh ``predictions`` (cached on disk when
    ``use_cache``) and the ground truth."""
    if predictions is not None:
        inputs = replace(inputs, predictions=predictions, from_cache=False)
        if use_cache:
            C.save_cache(inputs.checkpoint, inputs.split, inputs.images, inputs.task, predictions)
    return replace(inputs, gt=build_gt(store, inputs))


def load_inputs(store: Any, checkpoint: str | os.PathLike, split: str, *,
                progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] = lambda: False,
                use_cache: bool = True, device: str = "auto", batch_size: int | None = None) -> EvalInputs:
    """:func:`prepare_inputs`, :func:`predict_inputs` when the cache has nothing, and
    :func:`finish_inputs`, in the calling thread (the CLI, scripts, tests, benchmarks).

    Raises:
        EvaluationCancelled, CheckpointError, ImageDecodeError, VisionStudioError.
    """
    inputs = prepare_inputs(store, checkpoint, split, use_cache)
    pred = None
    if inputs.predictions is None:
        pred = predict_inputs(inputs, [store.resolve(im) for im in inputs.images], progress=progress,
                              cancelled=cancelled, device=device, batch_size=batch_size)
    return finish_inputs(store, inputs, pred, use_cache)


def build_gt(store: Any, inputs: EvalInputs) -> GroundTruth:
    """The ground truth of ``inputs`` (see :class:`GroundTruth`)."""
    from vision_studio.core.evaluation import ground_truth as G

    if inputs.is_detection:
        masks = inputs.task == Task.INSTANCE_SEGMENTATION
        return GroundTruth(coco=G.ground_truth_from_store(store, inputs.images, inputs.categories,
                                                          with_masks=masks))
    if inputs.task == Task.CLASSIFICATION:
        labels = G.classification_gt(store, inputs.images, inputs.categories)
        labels.setflags(write=False)
        return GroundTruth(labels=labels)
    sizes = [m.shape[:2] for m in inputs.predictions.label_maps]
    return GroundTruth(maps=G.semantic_gt_maps(store, inputs.images, inputs.categories, inputs.label_offset, sizes))
