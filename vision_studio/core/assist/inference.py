"""One loaded checkpoint run over project images, for pre-labelling and queue scoring.

Detection / instance segmentation and classification reuse the evaluation's prediction
(:mod:`vision_studio.core.evaluation.predict`: the validation transform of training,
boxes in original-image pixels, masks as RLE, softmax probabilities). Semantic
segmentation needs the per-pixel probabilities, which the evaluation does not keep, so
:func:`run_semantic` runs the model itself with the same preprocessing and keeps, per
image, only the label map, the mean probability of each predicted class over its pixels
and the mean pixel uncertainties.

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


def run_detections(model: LoadedModel, store: Any, images: Sequence[ImageRecord], *,
                   progress: Progress | None = None, cancel: Cancel = None) -> Any:
    """:class:`~vision_studio.core.evaluation.predictions.RawDetections` of ``images``
    (image ids = store ids; score floor 0.001; masks as RLE for instance segmentation).

    Raises:
        Cancelled: ``cancel`` was set (checked after every batch).
    """
    from vision_studio.core.evaluation.predict import predict_detections

    return predict_detections(model.built.model, _paths(store, images), model.categories,
                              image_ids=[im.id for im in images], image_size=model.config.image_size,
                              device=model.device, batch_size=2,
                              progress=checked_progress(progress, cancel))


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
