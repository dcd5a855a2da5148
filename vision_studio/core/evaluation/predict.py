"""Run a trained model on images and keep predictions that can be re-filtered cheaply.

Detection / instance segmentation: the model runs once with its own final filtering
relaxed (score floor ``score_floor``, NMS IoU 1.0 = no suppression, many detections per
image), and every candidate is kept in flat arrays (:class:`RawDetections`). The score
threshold and the class-wise NMS IoU threshold (``torchvision.ops.batched_nms``, the
operation torchvision's detectors end with) are applied afterwards by
:meth:`RawDetections.filter`, vectorised over the whole split, so they can change
without running the model again. With torchvision's R-CNN detectors the result equals a
run with those thresholds set on the model (``roi_heads.score_thresh``/``nms_thresh``),
as long as ``raw_max_per_image`` did not cut candidates off.

Masks: per-detection probabilities are resized to the original image, binarised at
``mask_threshold`` and kept as COCO RLE (``pycocotools.mask.encode``).
Classification keeps per-image probabilities; semantic segmentation per-image label maps
(uint8, at the original image size).

Coordinates: boxes are ``xyxy`` pixels of the original image (after EXIF orientation);
COCO results use ``bbox`` ``[x, y, w, h]``.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from vision_studio.core.errors import ConfigError
from vision_studio.core.evaluation.predictions import (ClassificationPredictions, RawDetections,
                                                      SemanticPredictions)
from vision_studio.core.types import Task

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- model set-up
def resolve_device(device: str = "auto") -> str:
    """``"auto"`` → ``"cuda"`` if available, else ``"mps"``, else ``"cpu"``."""
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


_RAW_ATTRS = ("score_thresh", "nms_thresh", "detections_per_img")


@contextlib.contextmanager
def raw_mode(model: Any, score_floor: float, max_per_image: int) -> Iterator[None]:
    """Relax a torchvision detector's final filtering for the duration of the block.

    Sets ``score_thresh = score_floor``, ``nms_thresh = 1.0`` (no suppression) and
    ``detections_per_img = max_per_image`` on ``model.roi_heads`` (Faster/Mask R-CNN)
    or on the model itself (RetinaNet, FCOS, SSD), restoring them afterwards.

    Raises:
        ConfigError: if the model has none of these settings.
    """
    target = getattr(model, "roi_heads", model)
    if not all(hasattr(target, a) for a in _RAW_ATTRS):
        raise ConfigError(f"{type(model).__name__} is not a torchvision detector "
                          "(no score_thresh / nms_thresh / detections_per_img)")
    saved = {a: getattr(target, a) for a in _RAW_ATTRS}
    target.score_thresh, target.nms_thresh, target.detections_per_img = score_floor, 1.0, max_per_image
    try:
        yield
    finally:
        for a, v in saved.items():
            setattr(target, a, v)


def _load(image: str | os.PathLike | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    from vision_studio.core.images import read_image

    return read_image(image)


def _batches(images: Sequence[Any], batch_size: int) -> Iterator[tuple[int, list[Any]]]:
    for start in range(0, len(images), batch_size):
        yield start, list(images[start:start + batch_size])


def _ids_and_paths(images: Sequence[Any], image_ids: Sequence[int] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    ids = np.arange(1, len(images) + 1, dtype=np.int64) if image_ids is None else np.asarray(image_ids, np.int64)
    if ids.shape[0] != len(images):
        raise ConfigError(f"{len(images)} images but {ids.shape[0]} image ids")
    paths = tuple("" if isinstance(i, np.ndarray) else str(i) for i in images)
    return ids, paths


def _encode_masks(probs: Any, height: int, width: int, threshold: float, chunk: int = 32) -> list[dict[str, Any]]:
    """[N, 1, h, w] float probabilities → N RLEs at (height, width)."""
    import torch
    import torch.nn.functional as F
    from pycocotools import mask as mask_utils

    out: list[dict[str, Any]] = []
    for s in range(0, probs.shape[0], chunk):
        p = probs[s:s + chunk].float()
        if tuple(p.shape[-2:]) != (height, width):
            p = F.interpolate(p, size=(height, width), mode="bilinear", align_corners=False)
        binary = (p[:, 0] > threshold).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        for rle in mask_utils.encode(np.asfortranarray(binary)):
            out.append({"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")})
    return out


def _prepare(arr: np.ndarray, task: str, image_size: int | None, mean: Sequence[float],
             std: Sequence[float]) -> Any:
    """HxWx3 uint8 → the float CHW tensor the model was validated on."""
    import torch
    from torchvision import tv_tensors

    arr = np.ascontiguousarray(arr) if arr.flags.writeable else arr.copy()
    img = tv_tensors.Image(torch.from_numpy(arr).permute(2, 0, 1))
    if image_size is None:
        return img.float() / 255.0 if task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION) else \
            ((img.float() / 255.0) - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    from vision_studio.core.data.transforms import build_transforms

    normalize = task not in (Task.DETECTION, Task.INSTANCE_SEGMENTATION)
    tf = build_transforms(task, train=False, image_size=image_size, mean=mean, std=std, normalize=normalize)
    if task == Task.SEMANTIC_SEGMENTATION:
        out, _ = tf(img, tv_tensors.Mask(torch.zeros(arr.shape[:2], dtype=torch.uint8)))
        return out.as_subclass(torch.Tensor)
    if task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        empty = tv_tensors.BoundingBoxes(torch.zeros((0, 4)), format="XYXY", canvas_size=arr.shape[:2])
        out = tf({"image": img, "boxes": empty, "labels": torch.zeros(0, dtype=torch.int64)})["image"]
        return out.as_subclass(torch.Tensor)
    return tf(img).as_subclass(torch.Tensor)


# --------------------------------------------------------------------------- prediction
def predict_detections(model: Any, images: Sequence[str | os.PathLike | np.ndarray],
                       categories: Sequence[Mapping[str, Any]], *, image_ids: Sequence[int] | None = None,
                       image_size: int | None = None, batch_size: int = 2, device: str = "cpu",
                       score_floor: float = 0.001, raw_max_per_image: int | None = None,
                       mask_threshold: float = 0.5, label_offset: int = 1,
                       progress: Progress | None = None) -> RawDetections:
    """Run a torchvision-style detector once and keep every candidate detection.

    Args:
        model: Detector (``roi_heads`` or RetinaNet/FCOS/SSD-style thresholds); put in
            eval mode here. Masks are kept when its output has ``"masks"``.
        images: Image files (decoded with EXIF orientation) or HxWx3 uint8 RGB arrays.
        categories: ``[{"id", "name"}]`` in model label order.
        image_ids: COCO image ids (default 1..I).
        image_size: Longer side the images are resized to before the model (the
            validation transform of training); ``None`` feeds them as they are.
        batch_size: Images per forward pass.
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"``.
        score_floor: Lowest score kept (0.001 to 0.01 is usual for mAP).
        raw_max_per_image: Candidates kept per image; default 1000 (300 with masks, whose
            probabilities take memory at full image size).
        mask_threshold: Probability above which a mask pixel is set.
        label_offset: Model label of ``categories[0]``.
        progress: Called as ``progress(done_images, total_images)``.

    Returns:
        :class:`RawDetections` with boxes in original-image pixels.

    Raises:
        ImageDecodeError: an image cannot be read (the message names the file).
        ConfigError: the model is not a torchvision detector.
    """
    import torch

    dev = resolve_device(device)
    ids, paths = _ids_and_paths(images, image_ids)
    has_masks = hasattr(getattr(model, "roi_heads", None), "mask_predictor") and \
        getattr(model.roi_heads, "mask_predictor", None) is not None
    max_per = raw_max_per_image or (300 if has_masks else 1000)
    model.eval().to(dev)
    parts: dict[str, list[Any]] = {"img": [], "boxes": [], "scores": [], "labels": []}
    masks: list[dict[str, Any]] | None = [] if has_masks else None
    sizes = np.zeros((len(images), 2), dtype=np.int64)
    with raw_mode(model, score_floor, max_per), torch.inference_mode():
        for start, batch in _batches(images, batch_size):
            arrays = [_load(b) for b in batch]
            tensors = [_prepare(a, Task.DETECTION, image_size, (0, 0, 0), (1, 1, 1)).to(dev) for a in arrays]
            outputs = model(tensors)
            for j, (arr, t, out) in enumerate(zip(arrays, tensors, outputs)):
                h, w = arr.shape[:2]
                sizes[start + j] = (h, w)
                scale = torch.tensor([w / t.shape[-1], h / t.shape[-2]] * 2, device=out["boxes"].device)
                boxes = (out["boxes"] * scale).float().cpu().numpy()
                n = boxes.shape[0]
                parts["img"].append(np.full(n, start + j, dtype=np.int64))
                parts["boxes"].append(boxes.reshape(n, 4))
                parts["scores"].append(out["scores"].float().cpu().numpy())
                parts["labels"].append(out["labels"].cpu().numpy().astype(np.int64))
                if masks is not None and "masks" in out:
                    masks.extend(_encode_masks(out["masks"], h, w, mask_threshold))
            if progress:
                progress(min(start + len(batch), len(images)), len(images))
    cat = {k: (np.concatenate(v) if v else np.zeros((0, 4) if k == "boxes" else 0)) for k, v in parts.items()}
    return RawDetections(
        image_ids=ids, image_sizes=sizes, paths=paths, categories=[dict(c) for c in categories],
        label_offset=label_offset, img_index=cat["img"].astype(np.int64),
        boxes=cat["boxes"].astype(np.float32).reshape(-1, 4), scores=cat["scores"].astype(np.float32),
        labels=cat["labels"].astype(np.int64), masks=masks, score_floor=score_floor)


def predict_classification(model: Any, images: Sequence[str | os.PathLike | np.ndarray],
                           class_names: Sequence[str], mean: Sequence[float], std: Sequence[float],
                           image_size: int, *, image_ids: Sequence[int] | None = None,
                           batch_size: int = 16, device: str = "cpu",
                           progress: Progress | None = None) -> ClassificationPredictions:
    """Softmax probabilities [I, C] of a classifier (validation transform of training:
    resize to ``image_size / 0.875``, centre crop ``image_size``, normalise)."""
    import torch

    dev = resolve_device(device)
    ids, paths = _ids_and_paths(images, image_ids)
    model.eval().to(dev)
    probs = []
    with torch.inference_mode():
        for start, batch in _batches(images, batch_size):
            x = torch.stack([_prepare(_load(b), Task.CLASSIFICATION, image_size, mean, std) for b in batch])
            probs.append(torch.softmax(model(x.to(dev)).float(), dim=1).cpu().numpy())
            if progress:
                progress(min(start + len(batch), len(images)), len(images))
    p = np.concatenate(probs) if probs else np.zeros((0, len(class_names)), np.float32)
    return ClassificationPredictions(ids, paths, list(class_names), p.astype(np.float32))


def predict_semantic(model: Any, images: Sequence[str | os.PathLike | np.ndarray],
                     class_names: Sequence[str], mean: Sequence[float], std: Sequence[float],
                     image_size: int | None, *, image_ids: Sequence[int] | None = None,
                     batch_size: int = 4, device: str = "cpu",
                     progress: Progress | None = None) -> SemanticPredictions:
    """Label maps of a semantic-segmentation model: logits [1, C, h, w] resized
    (bilinear) to the original image, then argmax → uint8 [H, W]."""
    import torch
    import torch.nn.functional as F

    dev = resolve_device(device)
    ids, paths = _ids_and_paths(images, image_ids)
    model.eval().to(dev)
    maps: list[np.ndarray] = []
    with torch.inference_mode():
        for start, batch in _batches(images, batch_size):
            for b in batch:  # one at a time: images may differ in size
                arr = _load(b)
                x = _prepare(arr, Task.SEMANTIC_SEGMENTATION, image_size, mean, std)[None].to(dev)
                logits = model(x)
                logits = logits["out"] if isinstance(logits, Mapping) else logits
                logits = F.interpolate(logits.float(), size=arr.shape[:2], mode="bilinear", align_corners=False)
                maps.append(logits.argmax(1)[0].to(torch.uint8).cpu().numpy())
            if progress:
                progress(min(start + len(batch), len(images)), len(images))
    return SemanticPredictions(ids, paths, list(class_names), maps)
