"""One loaded checkpoint run over project images, for pre-labelling and queue scoring.

Detection / instance segmentation and classification reuse the evaluation's prediction
(:mod:`vision_studio.core.evaluation.predict`: the validation transform of training,
boxes in original-image pixels, masks as RLE, softmax probabilities). Semantic
segmentation needs the per-pixel probabilities, which the evaluation does not keep, so
:func:`run_semantic` runs the model itself with the same preprocessing and keeps, per
image, only the label map, the mean probability of each predicted class over its pixels
and the mean pixel uncertainties.

Large images: detectors predict images much larger than their input by the evaluation's
sliced inference (:mod:`vision_studio.core.evaluation.sliced`), chosen per image by
:func:`slice_plan` (``slicing="auto"``: the automatic rule of ``vision-studio predict``);
the other images are predicted whole, as before.

GPU: ``device="auto"`` picks CUDA (or MPS) when present
(:func:`~vision_studio.core.evaluation.predict.resolve_device`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vision_studio.core.assist.common import Cancel, Progress, checked_progress, run_name
from vision_studio.core.assist.uncertainty import UNCERTAINTY, softmax_uncertainty
from vision_studio.core.types import ImageRecord, Task


@dataclass
class LoadedModel:
    """A checkpoint ready to predict.

    Attributes:
        built: The :class:`~vision_studio.core.models.base.BuiltModel` in eval mode.
        config: The run's ``TrainConfig``.
        categories: ``[{"id", "name"}]`` (store category ids) in model label order.
        run: Name of the run (for proposals' ``run`` and annotations' ``source``).
        device: Where the model is (``"cpu"``, ``"cuda"``...).
    """

    built: Any
    config: Any
    categories: list[dict[str, Any]]
    run: str
    device: str

    @property
    def task(self) -> str:
        """One of :class:`~vision_studio.core.types.Task`."""
        return self.config.task

    @property
    def label_offset(self) -> int:
        """Model label of ``categories[0]``: 1 for detectors and semantic models trained
        with a background class, else 0."""
        if self.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
            return 1
        if self.task == Task.SEMANTIC_SEGMENTATION and \
                getattr(self.config, "unlabelled_as", "ignore") == "background":
            return 1
        return 0


def load_model(store: Any, checkpoint: str | Path, device: str = "auto") -> LoadedModel:
    """Load a checkpoint of the project (a ``best.pt`` / ``last.pt`` or a run folder).

    Raises:
        CheckpointError: missing or unreadable checkpoint.
        ConfigError: the checkpoint's categories are not categories of this project.
    """
    from vision_studio.core.errors import ConfigError
    from vision_studio.core.evaluation.predict import resolve_device
    from vision_studio.core.training.checkpoints import load_checkpoint

    dev = resolve_device(device)
    built, config, categories = load_checkpoint(checkpoint, device=dev)
    known = {c.id for c in store.categories()}
    missing = [c["name"] for c in categories if int(c["id"]) not in known]
    if missing:
        raise ConfigError(f"{checkpoint}: categories {', '.join(missing[:5])} are not in this project "
                          "(a checkpoint of another project?)")
    return LoadedModel(built, config, list(categories), run_name(store, checkpoint), dev)


def _paths(store: Any, images: Sequence[ImageRecord]) -> list[str]:
    return [str(store.resolve(im)) for im in images]


SLICE_CHOICES = ("auto", "off")
"""The named ``slicing`` values; a tile size in pixels (>= :data:`MIN_TILE`) or a
:class:`~vision_studio.core.evaluation.sliced.SliceSettings` is the third choice."""
MIN_TILE = 32


def slice_settings(slicing: Any) -> Any:
    """Check a ``slicing`` choice: ``"auto"`` stays ``"auto"``; ``"off"`` / ``None``
    become ``None``; a tile size (int, or digits) becomes
    :class:`~vision_studio.core.evaluation.sliced.SliceSettings` of that tile (its other
    defaults: overlap 0.2, the whole-image pass, NMS by IoU 0.5); settings pass through.

    Raises:
        ConfigError: anything else, or a tile below :data:`MIN_TILE` pixels.
    """
    from vision_studio.core.errors import ConfigError
    from vision_studio.core.evaluation.sliced import SliceSettings

    if slicing is None or isinstance(slicing, SliceSettings):
        return slicing
    if slicing in SLICE_CHOICES:
        return None if slicing == "off" else "auto"
    try:
        if isinstance(slicing, (bool, float)):
            raise ValueError
        tile = int(slicing)
        if tile < MIN_TILE:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"slicing: {slicing!r} is not auto, off or a tile size of at least "
                          f"{MIN_TILE} pixels") from None
    return SliceSettings(tile=tile)


def _sizes(store: Any, images: Sequence[ImageRecord]) -> list[tuple[int, int]]:
    """``(height, width)`` of each image: the store's, else the file header's."""
    from vision_studio.core.images import image_size

    out = []
    for im in images:
        if im.width > 0 and im.height > 0:
            out.append((int(im.height), int(im.width)))
        else:
            w, h = image_size(store.resolve(im))
            out.append((int(h), int(w)))
    return out


def slice_plan(model: LoadedModel, store: Any, images: Sequence[ImageRecord],
               slicing: Any = "auto") -> tuple[Any, list[bool]]:
    """Which images sliced inference predicts, and with what settings.

    ``"auto"`` is the rule of ``vision-studio predict`` and the evaluation
    (:func:`~vision_studio.core.evaluation.sliced.auto_slicing`): tiles of the model's
    input size when an image's longer side is above both 2000 px and twice that size.
    An image is sliced when its longer side exceeds both the settings' ``tile`` and
    ``min_side`` (what :func:`~vision_studio.core.evaluation.sliced.predict_sliced`
    itself would cut); the others are predicted whole, which keeps instance masks.

    Returns:
        ``(settings or None, [len(images)] bool: sliced)``.

    Raises:
        ConfigError: a bad ``slicing`` (see :func:`slice_settings`).
    """
    from vision_studio.core.evaluation.sliced import auto_slicing

    settings = slice_settings(slicing)
    if settings is None or model.task not in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        return None, [False] * len(images)
    sizes = _sizes(store, images)
    if settings == "auto":
        settings = auto_slicing(sizes, int(model.config.image_size))
        if settings is None:
            return None, [False] * len(images)
    limit = max(settings.tile, settings.min_side)
    return settings, [max(h, w) > limit for h, w in sizes]


@dataclass
class DetectionParts:
    """The detections of a set of images, predicted whole or by sliced inference.

    Attributes:
        parts: ``(positions, raw)`` pairs: positions (indices into the images given) and
            their :class:`~vision_studio.core.evaluation.predictions.RawDetections`
            (``raw.slicing`` set for the sliced part, which has no masks).
        settings: The :class:`~vision_studio.core.evaluation.sliced.SliceSettings` of
            the sliced images, or ``None`` when none was sliced.
        sliced: How many images were sliced.
    """

    parts: list[tuple[list[int], Any]]
    settings: Any = None
    sliced: int = 0


def run_detection_parts(model: LoadedModel, store: Any, images: Sequence[ImageRecord], *,
                        slicing: Any = "auto", progress: Progress | None = None,
                        cancel: Cancel = None) -> DetectionParts:
    """Predict ``images`` whole or sliced (:func:`slice_plan`), score floor 0.001.

    ``progress(done, len(images))``: after every batch; within a sliced image ``done``
    is fractional (after every tile batch, see
    :func:`~vision_studio.core.evaluation.sliced.predict_sliced`).

    Raises:
        ConfigError: a bad ``slicing``. Cancelled: ``cancel`` was set (checked after every
        batch of whole images and before every tile batch of a sliced image).
        ImageDecodeError: an image cannot be read.
    """
    from vision_studio.core.evaluation.predict import predict_detections
    from vision_studio.core.evaluation.sliced import predict_sliced

    settings, sliced = slice_plan(model, store, images, slicing)
    report = checked_progress(progress, cancel)
    groups = [[k for k, s in enumerate(sliced) if not s], [k for k, s in enumerate(sliced) if s]]
    out = DetectionParts([], settings if groups[1] else None, len(groups[1]))
    done = 0
    for use_slices, pos in zip((False, True), groups):
        if not pos:
            continue
        chosen = [images[k] for k in pos]
        kw = dict(image_ids=[im.id for im in chosen], image_size=model.config.image_size,
                  device=model.device, batch_size=2,
                  progress=lambda d, _t, base=done: report(base + d, len(images)))
        raw = predict_sliced(model.built.model, _paths(store, chosen), model.categories,
                             settings=settings, cancel=cancel, **kw) if use_slices else \
            predict_detections(model.built.model, _paths(store, chosen), model.categories, **kw)
        out.parts.append((pos, raw))
        done += len(pos)
    return out


def run_detections(model: LoadedModel, store: Any, images: Sequence[ImageRecord], *,
                   slicing: Any = "auto", progress: Progress | None = None, cancel: Cancel = None) -> Any:
    """:class:`~vision_studio.core.evaluation.predictions.RawDetections` of ``images``
    in their order (image ids = store ids; score floor 0.001; masks as RLE for instance
    segmentation when no image was sliced), large images by sliced inference
    (``slicing``: see :func:`slice_plan`; ``raw.slicing`` records the settings).

    Raises:
        ConfigError: a bad ``slicing``. Cancelled: ``cancel`` was set (checked after
        every batch). ImageDecodeError: an image cannot be read.
    """
    got = run_detection_parts(model, store, images, slicing=slicing, progress=progress, cancel=cancel)
    if len(got.parts) == 1:
        return got.parts[0][1]
    return _combine(got, len(images))


def _combine(got: DetectionParts, n: int) -> Any:
    """One RawDetections of the parts, images in their original order (masks only when
    every part has them)."""
    from vision_studio.core.evaluation.predictions import RawDetections

    first = got.parts[0][1]
    ids = np.zeros(n, np.int64)
    sizes = np.zeros((n, 2), np.int64)
    paths = [""] * n
    img, cols = [], {"boxes": [], "scores": [], "labels": []}
    for pos, raw in got.parts:
        where = np.asarray(pos, np.int64)
        ids[where], sizes[where] = raw.image_ids, raw.image_sizes
        for k, p in zip(pos, raw.paths):
            paths[k] = p
        img.append(where[raw.img_index])
        for name in cols:
            cols[name].append(getattr(raw, name))
    masks = None
    if all(raw.masks is not None for _, raw in got.parts):
        masks = [m for _, raw in got.parts for m in raw.masks]
    return RawDetections(image_ids=ids, image_sizes=sizes, paths=tuple(paths), categories=first.categories,
                         label_offset=first.label_offset, img_index=np.concatenate(img).astype(np.int64),
                         boxes=np.concatenate(cols["boxes"]).reshape(-1, 4).astype(np.float32),
                         scores=np.concatenate(cols["scores"]).astype(np.float32),
                         labels=np.concatenate(cols["labels"]).astype(np.int64), masks=masks,
                         score_floor=first.score_floor,
                         slicing=got.settings.as_dict() if got.settings is not None else None)


def run_classification(model: LoadedModel, store: Any, images: Sequence[ImageRecord], *,
                       progress: Progress | None = None, cancel: Cancel = None) -> Any:
    """:class:`~vision_studio.core.evaluation.predictions.ClassificationPredictions`
    ([I, C] softmax probabilities in model label order) of ``images``."""
    from vision_studio.core.evaluation.predict import predict_classification

    names = [c["name"] for c in model.categories]
    return predict_classification(model.built.model, _paths(store, images), names, model.built.mean,
                                  model.built.std, model.config.image_size,
                                  image_ids=[im.id for im in images], device=model.device,
                                  progress=checked_progress(progress, cancel))


@dataclass
class SemanticImage:
    """What :func:`run_semantic` keeps of one image.

    Attributes:
        image_id: Store id.
        label_map: [H, W] uint8 model labels (argmax), at the original image size.
        class_scores: ``{model label: mean probability of that label over the pixels
            where it is the argmax}``.
        uncertainty: ``{"entropy" | "margin" | "least_confident": mean over pixels}``.
    """

    image_id: int
    label_map: np.ndarray
    class_scores: Mapping[int, float] = field(default_factory=dict)
    uncertainty: Mapping[str, float] = field(default_factory=dict)


def run_semantic(model: LoadedModel, store: Any, images: Sequence[ImageRecord], *,
                 progress: Progress | None = None, cancel: Cancel = None) -> list[SemanticImage]:
    """Per-pixel softmax of a semantic-segmentation model (logits resized bilinearly to
    the original image, as the evaluation does), summarised per image."""
    import torch
    import torch.nn.functional as F

    from vision_studio.core.evaluation.predict import _load, _prepare

    report = checked_progress(progress, cancel)
    net = model.built.model.eval().to(model.device)
    out: list[SemanticImage] = []
    with torch.inference_mode():
        for k, (im, path) in enumerate(zip(images, _paths(store, images))):
            arr = _load(path)
            x = _prepare(arr, Task.SEMANTIC_SEGMENTATION, model.config.image_size,
                         model.built.mean, model.built.std)[None].to(model.device)
            logits = net(x)
            logits = logits["out"] if isinstance(logits, Mapping) else logits
            logits = F.interpolate(logits.float(), size=arr.shape[:2], mode="bilinear", align_corners=False)
            probs = torch.softmax(logits[0], dim=0).cpu().numpy()
            out.append(_summarise(im.id, probs))
            report(k + 1, len(images))
    return out


def _summarise(image_id: int, probs: np.ndarray) -> SemanticImage:
    """[C, H, W] probabilities → label map, per-label mean probability, uncertainties."""
    labels = probs.argmax(0)
    top = probs.max(0)
    counts = np.bincount(labels.ravel(), minlength=probs.shape[0])
    sums = np.bincount(labels.ravel(), weights=top.ravel(), minlength=probs.shape[0])
    scores = {int(c): float(sums[c] / counts[c]) for c in np.flatnonzero(counts)}
    unc = {s: float(softmax_uncertainty(probs, s).mean()) for s in UNCERTAINTY}
    return SemanticImage(image_id, labels.astype(np.uint8), scores, unc)
