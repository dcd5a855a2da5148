"""Semantic-segmentation builders: torchvision DeepLabV3 / FCN / LR-ASPP, and
segmentation-models-pytorch U-Net / FPN on a torchvision-style or timm encoder.

Every model returns logits ``[B, C, H, W]`` at the input resolution (torchvision's models
return a dict; they are given a subclass whose ``forward`` returns ``["out"]`` only — the
parameter names stay torchvision's, so its weights load unchanged). smp models need
``H`` and ``W`` divisible by 32. Encoders are built with ``encoder_weights=None``
(smp would download otherwise); pretrained encoders come through the weights loader.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vision_studio.core.models import _stages as S
from vision_studio.core.models.base import ArchSpec, BuiltModel
from vision_studio.core.models.detection import backbone_arch as detection_backbone_arch
from vision_studio.core.models.detection import body_stages

_LOGIT_CLASSES: dict[type, type] = {}


def _logits_only(model: nn.Module) -> nn.Module:
    """Give ``model`` (a torchvision segmentation net) a subclass whose forward returns
    the ``"out"`` tensor instead of a dict (no new state, same parameter names)."""
    base = type(model)
    if base not in _LOGIT_CLASSES:
        def forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
            return base.forward(self, x)["out"]

        _LOGIT_CLASSES[base] = type(f"{base.__name__}Logits", (base,), {"forward": forward})
    model.__class__ = _LOGIT_CLASSES[base]
    return model


def _torchvision_seg(spec: ArchSpec, num_classes: int) -> tuple[nn.Module, list, list]:
    from torchvision.models import get_model

    kwargs: dict[str, Any] = {} if spec.name.startswith("lraspp") else {"aux_loss": False}
    net = get_model(spec.name, weights=None, weights_backbone=None,
                    num_classes=num_classes, **kwargs)
    net = _logits_only(net)
    body = net.backbone
    stages = S.resnet_stages(body) if hasattr(body, "layer1") else \
        S.downsample_stages(list(body.children()))
    return net, stages, [("classifier", [net.classifier])]


def _smp(spec: ArchSpec, num_classes: int) -> tuple[nn.Module, list, list]:
    import segmentation_models_pytorch as smp

    encoder = spec.name.split(":", 1)[1]
    if spec.family.endswith("_timm"):
        encoder = "tu-" + encoder.removeprefix("timm:")
    cls = smp.FPN if spec.family.startswith("fpn") else smp.Unet
    net = cls(encoder_name=encoder, encoder_weights=None, classes=num_classes)
    enc = net.encoder.model if hasattr(net.encoder, "model") else net.encoder
    stages = body_stages(enc)
    head = [("decoder", [net.decoder]), ("segmentation_head", [net.segmentation_head])]
    return net, stages, head


def build_segmenter(spec: ArchSpec, num_classes: int, **options: Any) -> BuiltModel:
    """Build the semantic segmentation network of ``spec`` with ``num_classes`` output
    channels (one per project category; void pixels use the ignore index 255)."""
    if spec.family == "torchvision_seg":
        net, stages, head = _torchvision_seg(spec, num_classes)
    else:
        net, stages, head = _smp(spec, num_classes)
    return BuiltModel(model=net, spec=spec, num_classes=num_classes, stages=stages,
                      head=head, mean=spec.mean, std=spec.std,
                      backbone_maps=_backbone_maps(spec), backbone_arch=backbone_arch(spec),
                      options=dict(options))


def backbone_arch(spec: ArchSpec) -> str | None:
    """Classification architecture whose ImageNet weights fit the encoder of ``spec``
    (the detection rule, with resnet101 among the fixed encoders)."""
    return detection_backbone_arch(spec, ("resnet101", "resnet50", "mobilenet_v3_large"))


def _backbone_maps(spec: ArchSpec) -> tuple[tuple[str, str], ...]:
    if spec.family.endswith("_timm"):
        return (("", "encoder.model."),)
    if spec.family == "unet":
        return (("", "encoder."),)
    if "mobilenet" in spec.name:
        return (("features.", "backbone."),)
    return (("", "backbone."),)
