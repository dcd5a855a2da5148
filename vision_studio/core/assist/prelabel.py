"""Pre-label images with a checkpoint of the project: its predictions become proposals.

What becomes a proposal (each with its score, category and run):

* detection — every box kept by the score threshold and class-wise NMS (IoU 0.5, at most
  100 per image): kind ``"bbox"``, COCO ``[x, y, w, h]`` clipped to the image;
* instance segmentation — each kept detection's mask (binarised at 0.5 by the
  prediction) traced to polygons (:func:`~vision_studio.core.assist.polygons.mask_to_polygons`:
  ``cv2.findContours`` outer boundaries + ``cv2.approxPolyDP`` at ``tolerance`` px;
  **holes are dropped**, always): kind ``"polygon"`` with the polygons' bbox; a
  detection whose mask traces to nothing becomes a ``"bbox"`` proposal;
* classification — the most probable class of each image when its softmax probability
  is at least the threshold: kind ``"tag"``, score = that probability (single-label:
  one tag per image at most);
* semantic segmentation — each class of the argmax label map (not the background
  class of a model trained with one) traced to polygons as above: one ``"mask"``
  proposal per class and image holding all its pieces, score = the mean probability of
  that class over its pixels, kept when at least the threshold.

Large images (detection and instance segmentation): with ``slicing="auto"`` (default,
the rule of ``vision-studio predict`` and the evaluation) an image whose longer side is
above both 2000 px and twice the model's input size is predicted by sliced inference
(:func:`~vision_studio.core.evaluation.sliced.predict_sliced`: tiles of the input size,
overlap 0.2, plus the whole image resized, merged per category by NMS at IoU 0.5), so
small objects keep their pixels; ``"off"`` resizes every image whole; a tile size
slices every image larger than the tile. Sliced images give ``"bbox"`` proposals only
(sliced inference keeps no masks) and at most :data:`MAX_PER_SLICED_IMAGE` each. The
settings used are :attr:`PrelabelResult.slicing` (``vision-studio prelabel`` prints
them).

Running again with the same run replaces that run's proposals on the chosen images
(other runs' proposals are kept).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vision_studio.core.assist.common import UNLABELLED, Cancel, Progress, select_images
from vision_studio.core.assist.inference import (LoadedModel, load_model, run_classification,
                                                 run_detection_parts, run_semantic)
from vision_studio.core.assist.polygons import mask_to_polygons, rle_to_mask
from vision_studio.core.geometry import box_convert, clip_box, clip_polygons, polygons_bbox
from vision_studio.core.types import ImageRecord, Proposal, Task

DEFAULT_SCORE = 0.5
NMS_IOU = 0.5
MAX_PER_IMAGE = 100
MAX_PER_SLICED_IMAGE = 1000
"""Proposals kept per image predicted by sliced inference (a large image holds more
objects: 4 x 4 mosaics of rbc_coco hold ~370 cells)."""


@dataclass
class PrelabelResult:
    """What :func:`prelabel` did.

    Attributes:
        run: The run the proposals came from.
        task: The checkpoint's task.
        images: Images the model ran on.
        proposals: The stored proposals (with ids), or those accepted with ``accept``.
        accepted: Annotations / tags created (``accept=True``), else 0.
        replaced: Earlier proposals of the same run on these images that were deleted.
        slicing: The :class:`~vision_studio.core.evaluation.sliced.SliceSettings` (as a
            dict) of the images predicted by sliced inference; ``None`` when every image
            was predicted whole.
        sliced: How many images were predicted by sliced inference.
    """

    run: str
    task: str
    images: int
    proposals: list[Proposal] = field(default_factory=list)
    accepted: int = 0
    replaced: int = 0
    slicing: dict[str, Any] | None = None
    sliced: int = 0


def prelabel(store: Any, checkpoint: str | Path | None = None, *, images: str = UNLABELLED,
             score: float = DEFAULT_SCORE, tolerance: float = 1.0, accept: bool = False,
             device: str = "auto", progress: Progress | None = None, cancel: Cancel = None,
             model: LoadedModel | None = None, image_records: Sequence[ImageRecord] | None = None,
             slicing: Any = "auto") -> PrelabelResult:
    """Run a checkpoint on images of the project and store its predictions as proposals.

    Args:
        store: The open project.
        checkpoint: A checkpoint of the project (``best.pt`` / ``last.pt`` / run folder);
            not needed when ``model`` is given.
        images: ``"unlabelled"``, ``"all"`` or a split name (see
            :func:`~vision_studio.core.assist.common.select_images`).
        score: Lowest score (probability) kept, in [0, 1].
        tolerance: Polygon simplification (``cv2.approxPolyDP`` epsilon, pixels).
        accept: Accept every proposal at once (annotations with ``source =
            model:<run>``) instead of storing them for review.
        device: ``"auto"`` (GPU when present), ``"cpu"``, ``"cuda"``...
        progress: ``progress(done, total)`` images (fractional within a large image
            predicted by sliced inference: after every tile batch).
        cancel: Checked after every batch (before every tile batch of a sliced image);
            when set, :class:`Cancelled` is raised and nothing of the run is stored —
            no proposal of any image, and the earlier proposals it would have replaced
            stay.
        model: An already loaded checkpoint (e.g. shared with queue scoring).
        image_records: These images instead of ``images``.
        slicing: Detectors: ``"auto"`` (default: sliced inference for images above
            2000 px and twice the model input), ``"off"`` / ``None`` (whole images
            resized), a tile size in pixels, or
            :class:`~vision_studio.core.evaluation.sliced.SliceSettings` (see the module).

    Raises:
        ConfigError: a score outside [0, 1], an unknown split, no checkpoint, a bad
            ``slicing``.
        CheckpointError: an unreadable checkpoint. Cancelled: see ``cancel``.
        ImageDecodeError: an image cannot be read (the message names it).
    """
    from vision_studio.core.assist.inference import slice_settings
    from vision_studio.core.errors import ConfigError

    if not 0.0 <= score <= 1.0:
        raise ConfigError(f"--score: a score is in [0, 1], got {score}")
    slice_settings(slicing)  # a bad value fails before the checkpoint is loaded
    if model is None:
        if checkpoint is None:
            raise ConfigError("pre-labelling needs a checkpoint")
        model = load_model(store, checkpoint, device)
    chosen = list(image_records) if image_records is not None else select_images(store, images)
    result = PrelabelResult(model.run, model.task, len(chosen))
    if not chosen:
        return result
    proposals = predictions_to_proposals(model, store, chosen, score, tolerance, progress, cancel,
                                         slicing=slicing, result=result)
    with store.transaction():
        ids = {im.id for im in chosen}
        old = [p.id for p in store.proposals() if p.run == model.run and p.image_id in ids]
        result.replaced = len(store.delete_proposals(old))
        result.proposals = store.add_proposals(proposals)
        if accept:
            for p in result.proposals:
                store.accept_proposal(p.id)
            result.accepted = len(result.proposals)
    return result


def predictions_to_proposals(model: LoadedModel, store: Any, images: Sequence[ImageRecord],
                             score: float, tolerance: float = 1.0, progress: Progress | None = None,
                             cancel: Cancel = None, *, slicing: Any = "auto",
                             result: PrelabelResult | None = None) -> list[Proposal]:
    """Run ``model`` on ``images`` and turn what it predicts into proposals (id 0, not
    stored); see the module docstring for what each task gives. ``slicing``: see
    :func:`prelabel`; the settings used and the number of sliced images are written to
    ``result`` when given."""
    if model.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        got = run_detection_parts(model, store, images, slicing=slicing, progress=progress, cancel=cancel)
        if result is not None:
            result.sliced = got.sliced
            result.slicing = got.settings.as_dict() if got.settings is not None else None
        out: list[Proposal] = []
        for _, raw in got.parts:
            cap = MAX_PER_IMAGE if raw.slicing is None else MAX_PER_SLICED_IMAGE
            out += detection_proposals(raw, score, model.run, tolerance, max_per_image=cap)
        return out
    if model.task == Task.CLASSIFICATION:
        pred = run_classification(model, store, images, progress=progress, cancel=cancel)
        return tag_proposals(pred.image_ids, pred.probs, model.categories, score, model.run)
    out: list[Proposal] = []
    for sem in run_semantic(model, store, images, progress=progress, cancel=cancel):
        out += semantic_proposals(sem.image_id, sem.label_map, sem.class_scores, model.categories,
                                  model.label_offset, score, model.run, tolerance)
    return out


def _unit(value: float) -> float:
    """A probability as a float in [0, 1] (float32 rounding can pass 1 by an ulp)."""
    return min(1.0, max(0.0, float(value)))


def detection_proposals(raw: Any, score: float, run: str, tolerance: float = 1.0,
                        max_per_image: int = MAX_PER_IMAGE) -> list[Proposal]:
    """Proposals of :class:`~vision_studio.core.evaluation.predictions.RawDetections`
    kept by ``score`` (strictly above, as torchvision), class-wise NMS at 0.5 and the
    best ``max_per_image`` of each image."""
    keep = raw.filter(score_threshold=score, nms_iou=NMS_IOU, max_per_image=max_per_image)
    cats = raw.category_ids()
    xywh = box_convert(raw.boxes[keep].astype(np.float64), "xyxy", "xywh").reshape(-1, 4)
    out: list[Proposal] = []
    for row, i in enumerate(keep.tolist()):
        if cats[i] < 0:
            continue
        k = int(raw.img_index[i])
        h, w = (int(v) for v in raw.image_sizes[k])
        image_id, cat, s = int(raw.image_ids[k]), int(cats[i]), _unit(raw.scores[i])
        polys = []
        if raw.masks is not None:
            polys = clip_polygons(mask_to_polygons(rle_to_mask(raw.masks[i]), tolerance), w, h)
        if polys:
            out.append(Proposal(0, image_id, cat, "polygon", polygons_bbox(polys), polys, s, run))
            continue
        box = clip_box(xywh[row], w, h)
        if box is not None:
            out.append(Proposal(0, image_id, cat, "bbox", box, None, s, run))
    return out


def tag_proposals(image_ids: Sequence[int], probs: np.ndarray, categories: Sequence[dict],
                  score: float, run: str) -> list[Proposal]:
    """One ``"tag"`` proposal per image: its most probable class, when the softmax
    probability is at least ``score``."""
    p = np.asarray(probs, dtype=np.float64)
    best = p.argmax(1) if p.size else np.zeros(0, np.int64)
    return [Proposal(0, int(i), int(categories[int(b)]["id"]), "tag", None, None, _unit(p[r, b]), run)
            for r, (i, b) in enumerate(zip(image_ids, best)) if p[r, b] >= score]


def semantic_proposals(image_id: int, label_map: np.ndarray, class_scores: dict[int, float],
                       categories: Sequence[dict], label_offset: int, score: float, run: str,
                       tolerance: float = 1.0) -> list[Proposal]:
    """One ``"mask"`` proposal per class present in a label map (all its pieces as
    polygons; holes dropped), when its mean probability is at least ``score``. The
    background label (0 when ``label_offset`` is 1) gives none."""
    h, w = label_map.shape
    out: list[Proposal] = []
    for label, s in sorted(class_scores.items()):
        k = label - label_offset
        if k < 0 or k >= len(categories) or s < score:
            continue
        polys = clip_polygons(mask_to_polygons(label_map == label, tolerance), w, h)
        if polys:
            out.append(Proposal(0, int(image_id), int(categories[k]["id"]), "mask",
                                polygons_bbox(polys), polys, _unit(s), run))
    return out
