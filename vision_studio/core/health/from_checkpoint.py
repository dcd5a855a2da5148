"""Label errors from a trained checkpoint's predictions on images it did not train on.

Out-of-fold predictions need K detectors trained; when there is no time for that, the
latest run's checkpoint is used on the images outside its training split (the
checkpoint records the ids it trained on; older checkpoints: the project's ``val`` /
``test`` images). Predictions on training images would agree with their own labels and
hide the errors, so those images are never used. Every result says where its
predictions came from (:attr:`CheckpointFindings.source`).

Detection / instance segmentation: ObjectLab (:mod:`.boxes`). Semantic segmentation:
:mod:`.segmentation`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from vision_studio.core.errors import ConfigError
from vision_studio.core.health.issues import Issue
from vision_studio.core.types import Task

Progress = Callable[[int, int], None]


@dataclass
class CheckpointFindings:
    """What :func:`checkpoint_issues` found.

    Attributes:
        issues: Unsorted issues (kinds ``overlooked_box`` / ``bad_box`` /
            ``swapped_class``, or ``label`` per image for semantic segmentation).
        task: The checkpoint's task.
        source: One line: which checkpoint, on how many held-out images, and that the
            predictions are not out-of-fold.
        image_ids: The images examined.
        notes: Further lines for the user.
    """

    issues: list[Issue]
    task: str
    source: str
    image_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def held_out_images(store: Any, checkpoint: str | os.PathLike) -> tuple[list[Any], str]:
    """The project's images the checkpoint did not train on, and how they were chosen.

    Raises:
        CheckpointError: unreadable checkpoint. ConfigError: no such image.
    """
    from vision_studio.core.checkpoint import checkpoint_file, read_checkpoint

    state = read_checkpoint(checkpoint_file(checkpoint))
    trained = (state.get("split") or {}).get("train")
    if trained is not None:
        seen = {int(i) for i in trained}
        images = [im for im in store.images() if im.id not in seen]
        how = f"the {len(images)} images outside its training split"
    else:
        images = [im for im in store.images() if im.split in ("val", "test")]
        how = f"the {len(images)} val/test images (the checkpoint does not record its split)"
    if not images:
        raise ConfigError(f"{checkpoint}: every image of the project was used to train this "
                          "checkpoint: label errors need predictions on images it did not "
                          "see (give a run trained with a validation split)")
    return images, how


def checkpoint_issues(store: Any, checkpoint: str | os.PathLike, *, device: str = "auto",
                      score_threshold: float = 0.05, flagged_only: bool = True,
                      progress: Progress | None = None) -> CheckpointFindings:
    """Label errors of a detection, instance- or semantic-segmentation project from a
    checkpoint's predictions on the images it did not train on.

    Args:
        store: The open project.
        checkpoint: ``best.pt`` / ``last.pt`` or a run folder.
        device: Where the model runs (``"auto"``, ``"cpu"``, ``"cuda"``...).
        score_threshold: Detections kept for ObjectLab (after class-wise NMS at IoU 0.5).
        flagged_only: Only what cleanlab flags (``False``: every scored box, ranked).
        progress: ``progress(done, total)`` images predicted.

    Raises:
        CheckpointError: unreadable checkpoint. ConfigError: a classification
        checkpoint (use the out-of-fold probes), or no held-out image.
        ImageDecodeError: an image cannot be read.
    """
    from vision_studio.core.checkpoint import checkpoint_file, read_checkpoint
    from vision_studio.core.evaluation.checkpoint_predict import predict_checkpoint

    images, how = held_out_images(store, checkpoint)
    p = checkpoint_file(checkpoint)
    task = read_checkpoint(p)["config"].get("task")
    if task == Task.CLASSIFICATION:
        raise ConfigError(f"{checkpoint}: a classification checkpoint; label errors of "
                          "image labels come from the out-of-fold probes (run without "
                          "--checkpoint)")
    source = (f"predictions of {p.parent.name}/{p.name} on {how}; not out-of-fold "
              f"(no K detectors were trained)")
    paths = [str(store.resolve(im)) for im in images]
    ids = [im.id for im in images]
    splits = {im.id: im.split for im in images}
    if task == Task.SEMANTIC_SEGMENTATION:
        from vision_studio.core.health.segmentation import segmentation_issues

        issues = segmentation_issues(store, checkpoint, images, device=device,
                                     progress=progress, source=f" ({source})")
        return CheckpointFindings(issues, task, source, ids)
    from vision_studio.core.health.boxes import box_issues, images_from_detections

    raw, _config, categories = predict_checkpoint(checkpoint, paths, image_ids=ids,
                                                  device=device, progress=progress)
    pairs = images_from_detections(store, raw, score_threshold=score_threshold)
    issues = box_issues(pairs, [c["name"] for c in categories], flagged_only=flagged_only,
                        splits=splits, source=f" ({source})")
    return CheckpointFindings(issues, task, source, ids)

