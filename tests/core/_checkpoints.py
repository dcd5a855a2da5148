"""Checkpoints for export / explain tests without a training run: a registry model built
with ``weights=None`` (or a shared weights file), its BatchNorm statistics set from a
few real images so that activations (and detector scores) are alive and not tied, saved
in the checkpoint format ``load_checkpoint`` reads."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from vision_studio.core.types import Task


def calibrate_bn(model: torch.nn.Module, batches: Sequence[Any]) -> None:
    """Set every BatchNorm's running statistics from ``batches`` (cumulative average)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for b in batches:
            if isinstance(b, list):  # a detector: its backbone on the normalised batch
                x = torch.stack([(t - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) /
                                 torch.tensor([0.229, 0.224, 0.225])[:, None, None] for t in b])
                model.backbone(x)
            else:
                model(b)
    model.eval()


def make_checkpoint(folder: Path, task: str, arch: str, names: Sequence[Any], *, image_size: int,
                    images: Sequence[Path] = (), weights: str | None = None, seed: int = 0) -> Path:
    """Write ``folder/best.pt`` for ``arch`` with categories ``names``: strings (store ids
    1..C) or ``{"id", "name"}`` dicts (a project's categories).

    ``images`` (real image files) calibrate the BatchNorm statistics at ``image_size``.
    """
    from vision_studio.core.evaluation.predict import _load, _prepare
    from vision_studio.core.models.registry import build_model
    from vision_studio.core.training.checkpoints import save_checkpoint
    from vision_studio.core.training.config import TrainConfig
    from vision_studio.core.training.setup import build_options

    torch.manual_seed(seed)
    config = TrainConfig(task=task, arch=arch, weights=weights, image_size=image_size, device="cpu")
    options = build_options(config)
    detector = task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION)
    built = build_model(arch, task, len(names), weights=weights, **options)
    if images:
        t = Task.DETECTION if detector else task
        xs = [_prepare(_load(p), t, image_size, built.mean, built.std) for p in images]
        calibrate_bn(built.model, [xs] if detector else [torch.stack(xs)])
    folder.mkdir(parents=True, exist_ok=True)
    cats = [dict(n) if isinstance(n, dict) else {"id": k + 1, "name": n} for k, n in enumerate(names)]
    names = [c["name"] for c in cats]
    state = {"model": built.model.state_dict(), "config": config.to_dict(), "categories": cats,
             "class_names": list(names), "num_classes": len(names), "build_options": dict(built.options),
             "epoch": 1, "step": 0}
    return save_checkpoint(folder / "best.pt", state)
