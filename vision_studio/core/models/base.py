"""The value types of the model registry: :class:`ArchSpec` (what a user can pick),
:class:`BuiltModel` (a constructed network plus what the transfer strategies and the
weights loader need to know about it) and :class:`WeightsReport` (what a weights load
did; re-exported by :mod:`vision_studio.core.models.weights`). Re-exported by
:mod:`vision_studio.core.models.registry`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ArchSpec:
    """One architecture a user can pick.

    Attributes:
        name: Registry name, e.g. ``"resnet18"``, ``"timm:tf_efficientnet_lite0"``,
            ``"fasterrcnn_timm:tf_efficientnet_lite0"``, ``"unet:resnet34"``.
        task: One of :class:`vision_studio.core.types.Task` values.
        family: Builder family, e.g. ``"torchvision_cls"``, ``"timm_cls"``,
            ``"torchvision_det"``, ``"fasterrcnn_timm"``, ``"unet"``.
        description: One short human sentence.
        param_count: Parameters in millions for the library's default number of classes
            (1000 for classification, 91 for COCO detection, 21 for VOC segmentation).
        weights: Pretrained weights this architecture can start from: torchvision weight
            enum names (``"IMAGENET1K_V1"``, ``"DEFAULT"``, ``"COCO_V1"``), timm pretrained
            tags (``"in1k"``), and ``"backbone:<name>"`` for ImageNet weights of the
            backbone only. A local file path is always accepted as well.
        default_weights: The suggested entry of ``weights`` (``None`` when there is none).
        mean: Per-channel RGB mean of the input normalisation (inputs in [0, 1]).
        std: Per-channel RGB standard deviation of the input normalisation.
        input_size: Suggested input side in pixels (classification crop; detection
            shorter side; segmentation crop).
        source: ``"torchvision"``, ``"timm"`` or ``"smp"``.
        speed: ``"fast"``, ``"medium"`` or ``"slow"`` (rough CPU training cost).
        model_normalizes: True for torchvision-style detectors, which take float RGB
            images in [0, 1] and apply ``mean``/``std`` themselves; the data pipeline
            must then not normalise.
    """

    name: str
    task: str
    family: str
    description: str
    param_count: float
    weights: tuple[str, ...]
    default_weights: str | None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_size: int = 224
    source: str = "torchvision"
    speed: str = "medium"
    model_normalizes: bool = False


@dataclass
class BuiltModel:
    """A constructed network with its new head and its stage layout.

    Attributes:
        model: The ``nn.Module``. Classification: ``model(x [B,3,H,W] float)`` → logits
            ``[B, C]``. Semantic: logits ``[B, C, H, W]`` at the input resolution.
            Detection / instance segmentation: torchvision style — ``model(images,
            targets)`` with ``images`` a list of ``[3,H,W]`` float tensors in [0, 1]
            returns a loss dict in train mode, and in eval mode a list of dicts
            ``{"boxes": [N,4] float32 xyxy pixels, "labels": [N] int64 (1..C; 0 is
            background), "scores": [N]}`` plus ``"masks": [N,1,H,W]`` float in [0, 1]
            for instance segmentation.
        spec: The :class:`ArchSpec` it was built from.
        num_classes: Project categories (detection models have ``num_classes + 1``
            outputs, index 0 = background, torchvision convention).
        stages: Backbone stages ``(name, [modules])`` ordered shallow → deep.
        head: Parts that are always new / trained ``(name, [modules])``: classifier,
            FPN, RPN and ROI heads, segmentation decoder.
        mean: Input normalisation mean (RGB, inputs in [0, 1]).
        std: Input normalisation std.
        backbone_maps: ``(source_prefix, target_prefix)`` pairs that map the keys of a
            *classification* state_dict of the backbone architecture onto this model
            (e.g. ``("", "backbone.body.")``); used by the weights loader.
        backbone_arch: Registry name of the classification architecture whose weights
            fit the backbone (``"resnet50"``, ``"timm:tf_efficientnet_lite0"``), if any.
        options: The build options used (kept for checkpoints).
        weights_report: Filled when :func:`build_model` loaded weights.
    """

    model: "nn.Module"
    spec: ArchSpec
    num_classes: int
    stages: list[tuple[str, list["nn.Module"]]]
    head: list[tuple[str, list["nn.Module"]]]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    backbone_maps: tuple[tuple[str, str], ...] = (("", ""),)
    backbone_arch: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    weights_report: WeightsReport | None = None

    @property
    def task(self) -> str:
        """The task of the architecture."""
        return self.spec.task

    @property
    def arch(self) -> str:
        """The registry name of the architecture."""
        return self.spec.name


@dataclass
class WeightsReport:
    """What a weights load did.

    Attributes:
        source: The weights name or file path.
        loaded: Model keys that received a tensor.
        skipped: ``(source key, reason)`` for tensors not loaded; reasons are
            ``"not in model"``, ``"head replaced (<shape> → <shape>)"`` or
            ``"shape mismatch (<shape> vs <shape>)"``.
        reshaped: Model keys loaded after a reshape (same number of elements).
        missing: Model keys that kept their initial values (e.g. the new head).
        mapping: ``""`` for a direct match, else ``"<src prefix> → <dst prefix>"``.
        checkpoint_config: The ``"config"`` of a project checkpoint, if it was one.
    """

    source: str
    loaded: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    reshaped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mapping: str = ""
    checkpoint_config: dict[str, Any] | None = None

    def summary(self) -> str:
        """One line for the user, e.g. ``loaded 288 tensors from X into backbone.body.
        (8 skipped: 8 not in model; 0 reshaped; 132 kept at initialisation)``."""
        reasons: dict[str, int] = {}
        for _, why in self.skipped:
            key = why.split(" (")[0]
            reasons[key] = reasons.get(key, 0) + 1
        why = ", ".join(f"{n} {r}" for r, n in reasons.items())
        where = f" into {self.mapping.split(' → ')[-1] or 'the model'}" if self.mapping else ""
        return (f"loaded {len(self.loaded)} tensors from {self.source}{where} "
                f"({len(self.skipped)} skipped{': ' + why if why else ''}; "
                f"{len(self.reshaped)} reshaped; {len(self.missing)} kept at initialisation)")
