"""Classification builders: torchvision models and any timm model, each with its stage
layout (shallow → deep) and a new classifier for the project's categories."""
from __future__ import annotations

from typing import Any

from torch import nn

from vision_studio.core.models import _stages as S
from vision_studio.core.models.base import ArchSpec, BuiltModel

_GOOGLENET = [("stem", ["conv1", "conv2", "conv3"]), ("inception3", ["inception3a", "inception3b"]),
              ("inception4", ["inception4a", "inception4b", "inception4c", "inception4d",
                              "inception4e"]),
              ("inception5", ["inception5a", "inception5b"])]
_INCEPTION3 = [("stem", ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1",
                         "Conv2d_4a_3x3"]),
               ("mixed5", ["Mixed_5b", "Mixed_5c", "Mixed_5d"]),
               ("mixed6", ["Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"]),
               ("mixed7", ["Mixed_7a", "Mixed_7b", "Mixed_7c"])]


def torchvision_classifier(name: str, num_classes: int) -> nn.Module:
    """A torchvision classification network with random weights and ``num_classes``
    outputs (GoogLeNet / Inception-v3 without auxiliary heads, so that the forward pass
    always returns plain logits; ``transform_input=False`` — normalise with 0.5/0.5)."""
    from torchvision import models

    kwargs: dict[str, Any] = {}
    if name in ("googlenet", "inception_v3"):
        kwargs = {"aux_logits": False, "transform_input": False, "init_weights": True}
    return models.get_model(name, weights=None, num_classes=num_classes, **kwargs)


def _vgg_layout(net: nn.Module) -> tuple[list[S.Stage], list[S.Stage]]:
    stages: list[S.Stage] = []
    block: list[nn.Module] = []
    for layer in net.features:
        block.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            stages.append((f"block{len(stages) + 1}", block))
            block = []
    stages.append(("fc67", [net.classifier[i] for i in range(len(net.classifier) - 1)]))
    return stages, [("classifier", [net.classifier[-1]])]


def _densenet_layout(net: nn.Module) -> tuple[list[S.Stage], list[S.Stage]]:
    f = net.features
    stages: list[S.Stage] = [("stem", [f.conv0, f.norm0])]
    for i in range(1, 5):
        mods = [getattr(f, f"denseblock{i}")]
        mods.append(getattr(f, f"transition{i}", None) or f.norm5)
        stages.append((f"denseblock{i}", mods))
    return stages, [("classifier", [net.classifier])]


def torchvision_cls_layout(name: str, net: nn.Module) -> tuple[list[S.Stage], list[S.Stage]]:
    """``(stages, head)`` of a torchvision classifier built by :func:`torchvision_classifier`."""
    if name.startswith(("resnet", "resnext", "wide_resnet")):
        return S.resnet_stages(net), [("fc", [net.fc])]
    if name.startswith("vgg"):
        return _vgg_layout(net)
    if name.startswith("densenet"):
        return _densenet_layout(net)
    if name == "googlenet":
        return S.named_stages(net, _GOOGLENET), [("fc", [net.fc])]
    if name == "inception_v3":
        return S.named_stages(net, _INCEPTION3), [("fc", [net.fc])]
    if name.startswith("shufflenet"):
        layout = [("stem", ["conv1"]), ("stage2", ["stage2"]), ("stage3", ["stage3"]),
                  ("stage4", ["stage4", "conv5"])]
        return S.named_stages(net, layout), [("fc", [net.fc])]
    # MobileNet-V2/V3, EfficientNet, ConvNeXt: `features` + `classifier`
    stages = S.downsample_stages(list(net.features))
    cls = net.classifier
    if len(cls) > 1 and S.has_params([cls[i] for i in range(len(cls) - 1)]):
        stages.append(("pre_logits", [cls[i] for i in range(len(cls) - 1)]))
    return stages, [("classifier", [cls[-1]])]


def init_new_head(modules: list[nn.Module], std: float = 0.01) -> None:
    """Re-initialise the last ``nn.Linear`` of a freshly built classification head with
    ``N(0, std²)`` weights and zero bias, so a new head starts near uniform predictions
    (loss ≈ ln K) instead of the libraries' wide default init (timm's uniform
    ±1/sqrt(fan_out) gave a starting loss of ~3.9 on 2 classes over pooled ImageNet
    features). Small last-layer init for transfer heads follows common practice, e.g.
    MAE's fine-tuning recipe (He et al., 2022, trunc-normal std 2e-5)."""
    linears = [m for mod in modules for m in mod.modules() if isinstance(m, nn.Linear)]
    if linears:
        nn.init.normal_(linears[-1].weight, std=std)
        if linears[-1].bias is not None:
            nn.init.zeros_(linears[-1].bias)


def build_torchvision_cls(spec: ArchSpec, num_classes: int, **options: Any) -> BuiltModel:
    """Build a torchvision classifier named ``spec.name`` with ``num_classes`` outputs
    (the new head initialised by :func:`init_new_head`)."""
    net = torchvision_classifier(spec.name, num_classes)
    stages, head = torchvision_cls_layout(spec.name, net)
    init_new_head([m for _, mods in head for m in mods])
    return BuiltModel(model=net, spec=spec, num_classes=num_classes, stages=stages,
                      head=head, mean=spec.mean, std=spec.std, backbone_maps=(("", ""),),
                      backbone_arch=spec.name, options=dict(options))


def timm_matcher(model: nn.Module) -> object | None:
    """timm's coarse ``group_matcher`` of ``model`` or ``None`` when it has none."""
    try:
        return model.group_matcher(coarse=True)  # type: ignore[operator]
    except (AttributeError, NotImplementedError, TypeError):
        return None


def build_timm_cls(spec: ArchSpec, num_classes: int, **options: Any) -> BuiltModel:
    """Build ``timm.create_model(<name>, num_classes=...)`` for ``spec.name = "timm:<name>"``
    with stages from timm's own ``group_matcher`` and the classifier as head (initialised
    by :func:`init_new_head`)."""
    import timm

    name = spec.name.split(":", 1)[1]
    net = timm.create_model(name, pretrained=False, num_classes=num_classes)
    classifier = net.get_classifier()
    head_mods = [classifier] if isinstance(classifier, nn.Module) else []
    init_new_head(head_mods)
    stages = S.timm_stages(net, timm_matcher(net), exclude=head_mods)
    return BuiltModel(model=net, spec=spec, num_classes=num_classes, stages=stages,
                      head=[("classifier", head_mods)], mean=spec.mean, std=spec.std,
                      backbone_maps=(("", ""),), backbone_arch=spec.name,
                      options=dict(options))
