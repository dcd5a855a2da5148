"""LeNet-5 (LeCun et al., "Gradient-based learning applied to document recognition",
Proc. IEEE 1998) for small inputs such as MNIST (28 px) and CIFAR-10 (32 px), always
trained from scratch (there are no standard pretrained weights).

Layers as in the paper — C1 6@5x5, S2, C3 16@5x5, S4, C5 120, F6 84, output — with the
usual modern substitutions: ReLU instead of the scaled tanh, max pooling instead of the
trainable sub-sampling, a full C3 connection table, a linear output layer instead of the
RBF units. C1 pads by 2 so that 28 px inputs get the paper's 32 px geometry, and an
adaptive average pool before C5 makes any input of at least 16 px give S4 5x5 (32 px
inputs: 6x6 → 5x5). RGB input (3 channels); grey images are read as RGB.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vision_studio.core.models.base import ArchSpec, BuiltModel


class LeNet5(nn.Module):
    """LeNet-5: ``forward(x [B, 3, H, W])`` → logits ``[B, num_classes]``."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(3, 6, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.c3 = nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                nn.AdaptiveAvgPool2d(5))
        self.f56 = nn.Sequential(nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True),
                                 nn.Linear(120, 84), nn.ReLU(inplace=True))
        self.fc = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.f56(self.c3(self.c1(x))))


def build_lenet(spec: ArchSpec, num_classes: int, **options: Any) -> BuiltModel:
    """Build :class:`LeNet5` with ``num_classes`` outputs; stages C1-S2, C3-S4, C5-F6,
    head = the output layer."""
    net = LeNet5(num_classes)
    stages = [("c1_s2", [net.c1]), ("c3_s4", [net.c3]), ("c5_f6", [net.f56])]
    return BuiltModel(model=net, spec=spec, num_classes=num_classes, stages=stages, head=[("fc", [net.fc])],
                      mean=spec.mean, std=spec.std, backbone_maps=(("", ""),), backbone_arch=None,
                      options=dict(options))
