"""Helpers that cut a network into backbone *stages* (shallow → deep) and *head* parts.

A stage is a ``(name, [modules])`` pair; the modules of one stage are trained, frozen and
given a learning rate together by :mod:`vision_studio.core.models.strategies`. The
grouping follows the network's own structure: ResNet's ``conv1/bn1`` stem and
``layer1..4``; timm's ``group_matcher(coarse=True)`` (the grouping timm itself uses for
layer-wise learning-rate decay); for plain ``nn.Sequential`` feature extractors
(MobileNet, EfficientNet, ConvNeXt, ShuffleNet...) a new stage starts at every block that
reduces the spatial resolution (a strided convolution or a pooling layer).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn

Stage = tuple[str, list[nn.Module]]

_POOLS = (nn.MaxPool2d, nn.AvgPool2d)


def is_downsampling(module: nn.Module) -> bool:
    """True when ``module`` contains a strided convolution or a pooling layer."""
    for sub in module.modules():
        if isinstance(sub, nn.Conv2d) and max(sub.stride) > 1:
            return True
        if isinstance(sub, _POOLS):
            return True
    return False


def has_params(modules: Iterable[nn.Module]) -> bool:
    """True when any of ``modules`` holds a parameter or buffer (BatchNorm statistics)."""
    return any(True for m in modules for _ in m.state_dict())


def resnet_stages(net: nn.Module) -> list[Stage]:
    """Stages of a torchvision ResNet/ResNeXt (or its ``IntermediateLayerGetter`` body):
    ``stem`` (conv1 + bn1), ``layer1`` … ``layer4``."""
    stages: list[Stage] = [("stem", [net.conv1, net.bn1])]
    for name in ("layer1", "layer2", "layer3", "layer4"):
        if hasattr(net, name):
            stages.append((name, [getattr(net, name)]))
    return stages


def downsample_stages(children: Sequence[nn.Module], prefix: str = "stage") -> list[Stage]:
    """Group a sequence of blocks into stages: the first block is the ``stem``; a new stage
    starts at each block that reduces the resolution (see :func:`is_downsampling`)."""
    if not children:
        return []
    stages: list[Stage] = [("stem", [children[0]])]
    current: list[nn.Module] = []
    for child in children[1:]:
        if current and is_downsampling(child):
            stages.append((f"{prefix}{len(stages)}", current))
            current = []
        current.append(child)
    if current:
        stages.append((f"{prefix}{len(stages)}", current))
    return [s for s in stages if has_params(s[1])]


def named_stages(net: nn.Module, layout: Sequence[tuple[str, Sequence[str]]]) -> list[Stage]:
    """Stages from explicit child names, e.g. ``[("stem", ["conv1", "conv2"]), ...]``;
    names whose attribute is missing or ``None`` are left out."""
    stages: list[Stage] = []
    for stage_name, child_names in layout:
        mods = [getattr(net, c) for c in child_names if getattr(net, c, None) is not None]
        if mods:
            stages.append((stage_name, mods))
    return stages


def owning_modules(model: nn.Module, param_names: Iterable[str]) -> list[nn.Module]:
    """The distinct modules that directly own the named parameters, in order."""
    seen: dict[int, nn.Module] = {}
    for name in param_names:
        if "." not in name:  # owned by the root (e.g. a ViT's cls_token): not a stage
            continue
        owner = model.get_submodule(name.rpartition(".")[0])
        seen.setdefault(id(owner), owner)
    return list(seen.values())


def timm_stages(model: nn.Module, matcher: object | None, exclude: Sequence[nn.Module] = ()
                ) -> list[Stage]:
    """Stages of a timm model (classifier or ``features_only``) from a timm
    ``group_matcher(coarse=True)``; parameters of ``exclude`` (the classifier) are left out.

    Without a matcher each top-level child with parameters becomes one stage.
    """
    excluded = {id(p) for m in exclude for p in m.parameters()}
    if matcher is None:
        kids = [m for m in model.children() if has_params([m]) and
                not any(id(p) in excluded for p in m.parameters())]
        return [(("stem" if i == 0 else f"stage{i}"), [m]) for i, m in enumerate(kids)]
    from timm.models._manipulate import group_parameters

    params = dict(model.named_parameters())
    groups = group_parameters(model, matcher)
    stages: list[Stage] = []
    for _, names in sorted(groups.items()):
        names = [n for n in names if n in params and id(params[n]) not in excluded]
        if not names:
            continue
        label = "stem" if not stages else f"stage{len(stages)}"
        stages.append((label, owning_modules(model, names)))
    return stages


def head_from_rest(model: nn.Module, skip: Sequence[str]) -> list[Stage]:
    """Head parts: each top-level child of ``model`` not named in ``skip`` that holds
    parameters, e.g. a detector's ``rpn`` and ``roi_heads``."""
    return [(name, [child]) for name, child in model.named_children()
            if name not in skip and has_params([child])]


def param_count(model: nn.Module) -> int:
    """Number of parameters (works on the ``meta`` device)."""
    return int(sum(p.numel() for p in model.parameters()))


def frozen_bn_class() -> type[nn.Module]:
    """torchvision's ``FrozenBatchNorm2d`` (BatchNorm with fixed statistics and affine)."""
    from torchvision.ops import FrozenBatchNorm2d

    return FrozenBatchNorm2d


def meta_device() -> torch.device:
    """The ``meta`` device: build a model there to count its parameters without memory."""
    return torch.device("meta")
