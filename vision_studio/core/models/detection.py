"""Detection and instance-segmentation builders (torchvision detectors).

Families:

* ``torchvision_det`` — the stock torchvision builders (Faster R-CNN, RetinaNet, FCOS,
  SSDlite, Mask R-CNN) built with ``weights=None, weights_backbone=None``;
* ``fasterrcnn_fpn`` / ``maskrcnn_fpn`` — Faster / Mask R-CNN on a chosen torchvision
  ResNet / ResNeXt / MobileNet backbone (``resnet_fpn_backbone`` / ``mobilenet_backbone``);
* ``fasterrcnn_timm`` / ``maskrcnn_timm`` — Faster / Mask R-CNN on a timm
  ``features_only`` backbone with torchvision's ``FeaturePyramidNetwork``
  (:class:`TimmFPNBackbone`).

The box predictor always has ``num_classes + 1`` outputs (index 0 = background).
Backbone BatchNorm layers become ``FrozenBatchNorm2d`` when ``frozen_bn`` is true (the
default when starting from pretrained weights — torchvision's own convention: batch
statistics of 1–4 detection images are too noisy to update).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from vision_studio.core.models import _stages as S
from vision_studio.core.models.base import ArchSpec, BuiltModel
from vision_studio.core.models.classification import timm_matcher

RESNET_BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
                    "wide_resnet50_2", "wide_resnet101_2")
MOBILENET_BACKBONES = ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")


class TimmFPNBackbone(nn.Module):
    """A timm ``features_only`` network + torchvision ``FeaturePyramidNetwork``, usable as
    the ``backbone`` of torchvision's ``FasterRCNN`` / ``MaskRCNN`` (like torchvision's
    ``BackboneWithFPN``).

    ``body`` keeps the parameter names of the timm classifier minus its head, so ImageNet
    weights of ``timm.create_model(name)`` load into it with the prefix ``body.``.
    ``forward(x [B,3,H,W])`` → ``OrderedDict`` ``{"0".."3": [B,out_channels,h,w],
    "pool": ...}`` built from the last four feature levels (strides 4–32 for most models).

    Attributes:
        out_channels: Channels of every FPN output (torchvision reads it).
    """

    def __init__(self, name: str, out_channels: int = 256) -> None:
        super().__init__()
        import timm
        from torchvision.ops.feature_pyramid_network import (FeaturePyramidNetwork,
                                                             LastLevelMaxPool)

        self.body = timm.create_model(name, pretrained=False, features_only=True)
        channels = self.body.feature_info.channels()[-4:]
        self.fpn = FeaturePyramidNetwork(channels, out_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        feats = self.body(x)[-4:]
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(feats)))


def _freeze_bn(module: nn.Module) -> nn.Module:
    from timm.layers import freeze_batch_norm_2d

    return freeze_batch_norm_2d(module)


def body_stages(body: nn.Module) -> list[S.Stage]:
    """Stages of a detector's backbone body (ResNet, timm ``features_only`` or a
    MobileNet ``features`` getter)."""
    if hasattr(body, "layer1"):
        return S.resnet_stages(body)
    if hasattr(body, "feature_info"):
        import timm

        # the classifier's matcher applies: features_only keeps its parameter names
        name = body.pretrained_cfg.get("architecture") if hasattr(body, "pretrained_cfg") \
            else None
        matcher = None
        if name:
            with torch.device("meta"):
                matcher = timm_matcher(timm.create_model(name, pretrained=False))
        return S.timm_stages(body, matcher)
    if isinstance(getattr(body, "features", None), nn.Sequential):  # e.g. smp MobileNetV2
        return S.downsample_stages(list(body.features))
    return S.downsample_stages(list(body.children()))


def _layout(model: nn.Module) -> tuple[list[S.Stage], list[S.Stage]]:
    if not hasattr(model.backbone, "body"):  # SSD / SSDlite
        feats = model.backbone.features  # SSDlite: blocks of layers; SSD300-VGG16: the VGG layers
        stages = S.downsample_stages([m for part in feats for m in (part if isinstance(part, nn.Sequential)
                                                                    else [part])])
        return stages, [("extra", [model.backbone.extra]), ("head", [model.head])]
    head = [("fpn", [model.backbone.fpn])] + S.head_from_rest(model, skip=("backbone",))
    return body_stages(model.backbone.body), head


def _rcnn_kwargs(options: dict[str, Any], spec: ArchSpec) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if options.get("image_size"):
        kw["min_size"] = kw["max_size"] = int(options["image_size"])
    for key in ("min_size", "max_size"):
        if options.get(key):
            kw[key] = int(options[key])
    if spec.name.startswith("ssd"):
        kw = {}  # SSDlite has a fixed 320×320 input
    return kw


def _backbone_for(spec: ArchSpec, frozen_bn: bool) -> tuple[nn.Module, dict[str, Any]]:
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import (mobilenet_backbone,
                                                             resnet_fpn_backbone)

    bb = spec.name.split(":", 1)[1]
    norm = S.frozen_bn_class() if frozen_bn else nn.BatchNorm2d
    extra: dict[str, Any] = {}
    if spec.family.endswith("_timm"):
        backbone: nn.Module = TimmFPNBackbone(bb.removeprefix("timm:"))
        extra = {"image_mean": list(spec.mean), "image_std": list(spec.std)}
    elif bb in MOBILENET_BACKBONES:
        backbone = mobilenet_backbone(backbone_name=bb, weights=None, fpn=True,
                                      norm_layer=norm, trainable_layers=6)
        sizes = ((32, 64, 128, 256, 512),) * 3
        extra = {"rpn_anchor_generator": AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 3)}
    else:
        backbone = resnet_fpn_backbone(backbone_name=bb, weights=None, norm_layer=norm,
                                       trainable_layers=5)
    return backbone, extra


def build_detector(spec: ArchSpec, num_classes: int, **options: Any) -> BuiltModel:
    """Build the detector / instance segmenter of ``spec`` for ``num_classes`` categories.

    Options: ``image_size`` (sets ``min_size`` = ``max_size``: the longer image side after
    the model's internal resize, pixels), ``min_size``, ``max_size``, ``frozen_bn``.
    """
    from torchvision.models import detection as D
    from torchvision.models import get_model

    frozen_bn = bool(options.get("frozen_bn", False))
    kw = _rcnn_kwargs(options, spec)
    if spec.family == "torchvision_det":
        model = get_model(spec.name, weights=None, weights_backbone=None,
                          num_classes=num_classes + 1, **kw)
        if frozen_bn:
            body = model.backbone.body if hasattr(model.backbone, "body") \
                else model.backbone.features
            _freeze_bn(body)
    else:
        backbone, extra = _backbone_for(spec, frozen_bn)
        if spec.family.endswith("_timm") and frozen_bn:
            _freeze_bn(backbone.body)
        cls = D.MaskRCNN if spec.family.startswith("maskrcnn") else D.FasterRCNN
        model = cls(backbone, num_classes=num_classes + 1, **extra, **kw)
    stages, head = _layout(model)
    return BuiltModel(model=model, spec=spec, num_classes=num_classes, stages=stages,
                      head=head, mean=spec.mean, std=spec.std,
                      backbone_maps=_backbone_maps(spec), backbone_arch=backbone_arch(spec),
                      options=dict(options))


def backbone_arch(spec: ArchSpec,
                  known: tuple[str, ...] = ("resnet50", "mobilenet_v3_large")) -> str | None:
    """The classification architecture whose ImageNet weights fit ``spec``'s backbone:
    the part after ``:`` of a ``family:backbone`` name (``timm:``-prefixed for timm
    families), else the first of ``known`` that the fixed architecture's name contains."""
    if ":" in spec.name:
        bb = spec.name.split(":", 1)[1]
        return f"timm:{bb.removeprefix('timm:')}" if spec.family.endswith("_timm") else bb
    return next((name for name in known if name in spec.name), None)


def _backbone_maps(spec: ArchSpec) -> tuple[tuple[str, str], ...]:
    arch = backbone_arch(spec) or ""
    if spec.name.startswith("ssd"):
        return ()
    if arch.startswith("mobilenet"):
        return (("features.", "backbone.body."),)
    return (("", "backbone.body."),)
