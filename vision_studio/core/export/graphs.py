"""What is exported: the module per task, its inputs and outputs, and the ``torch.onnx`` /
``torch.jit`` calls.

Inputs and outputs (all float32 unless said; ``H, W`` are dynamic in every export):

* classification: ``image`` [B, 3, H, W] normalised RGB (``(x / 255 - mean) / std``)
  → ``logits`` [B, C];
* semantic segmentation: ``image`` [B, 3, H, W] normalised RGB → ``logits`` [B, C, H, W];
* detection / instance segmentation (torchvision detectors, which resize and normalise
  inside): ``image`` [3, H, W] RGB in [0, 1], one image per call → ``boxes`` [N, 4]
  ``xyxy`` pixels of that input, ``labels`` [N] int64 (0 = background, category k at
  ``k + 1``), ``scores`` [N] and, for instance segmentation, ``masks`` [N, 1, H, W]
  probabilities. These are the model's *candidates*: exported with its final filtering
  relaxed (score floor :data:`SCORE_FLOOR`, no class-wise NMS, up to
  :data:`MAX_CANDIDATES` per image — the same relaxation as the checkpoint path,
  :func:`vision_studio.core.evaluation.predict.raw_mode`); the consumer applies the
  score threshold and class-wise NMS of the sidecar (``postprocess``), which is what
  ``RawDetections.filter`` does.

ONNX: the TorchScript-based exporter (``dynamo=False``) at opset :data:`ONNX_OPSET`;
torchvision's detection models carry ONNX-specific code paths for it (dynamic resize,
NMS, RoIAlign, mask pasting). TorchScript: ``torch.jit.script`` for detectors (the
export torchvision supports for them), ``torch.jit.trace`` for classification and
semantic networks (timm / smp models trace but do not all script).
"""
from __future__ import annotations

import os
import warnings
from typing import Any

import torch
from torch import nn

from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Task

ONNX_OPSET = 17
SCORE_FLOOR = 0.001
"""Lowest candidate score an exported detector returns."""
MAX_CANDIDATES = 1000
"""Candidates per image an exported detector returns (300 with masks)."""
DETECTION_TASKS = (Task.DETECTION, Task.INSTANCE_SEGMENTATION)

NOT_EXPORTABLE: dict[str, str] = {}
"""Registry names (or prefixes) that cannot be exported to ONNX, with the reason (see
``docs/export.md``); filled from what was tried in ``tests/core/test_export*.py``."""


def output_names(task: str, with_masks: bool) -> list[str]:
    """Names of the exported outputs, in order."""
    if task in DETECTION_TASKS:
        return ["boxes", "labels", "scores"] + (["masks"] if with_masks else [])
    return ["logits"]


class DetectorGraph(nn.Module):
    """A torchvision detector as one image → candidate tensors (see the module
    docstring); for ONNX (traced)."""

    def __init__(self, model: nn.Module, with_masks: bool) -> None:
        super().__init__()
        self.model = model
        self.with_masks = with_masks

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model([image])[0]
        parts = (out["boxes"], out["labels"], out["scores"])
        return parts + (out["masks"],) if self.with_masks else parts


class ScriptedDetector(nn.Module):
    """A torchvision detector as one image → ``{"boxes", "labels", "scores"[, "masks"]}``,
    written for ``torch.jit.script`` (a scripted detector returns ``(losses,
    detections)``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        losses, detections = self.model([image])
        return detections[0]


def has_masks(model: nn.Module) -> bool:
    """Whether a torchvision detector predicts masks (Mask R-CNN)."""
    heads = getattr(model, "roi_heads", None)
    return heads is not None and getattr(heads, "mask_predictor", None) is not None


def relax(model: nn.Module) -> int:
    """Set a detector's final filtering to the exported candidates' (in place, for the
    export; the model is a copy loaded for it). Returns the candidates per image."""
    target = getattr(model, "roi_heads", model)
    if not all(hasattr(target, a) for a in ("score_thresh", "nms_thresh", "detections_per_img")):
        raise ConfigError(f"{type(model).__name__} is not a torchvision detector: cannot export its candidates")
    per_image = 300 if has_masks(model) else MAX_CANDIDATES
    target.score_thresh, target.nms_thresh, target.detections_per_img = SCORE_FLOOR, 1.0, per_image
    return per_image


def to_onnx(model: nn.Module, task: str, example: torch.Tensor, path: str | os.PathLike) -> list[str]:
    """Write ``model`` (eval mode; detectors already :func:`relax`-ed) to an ONNX file.

    Args:
        example: A prepared input: [1, 3, H, W] (classification / semantic) or [3, H, W]
            (detectors).

    Returns:
        The output names.

    Raises:
        ConfigError: the exporter fails (the message names the operator it could not
            convert).
    """
    masks = task in DETECTION_TASKS and has_masks(model)
    names = output_names(task, masks)
    if task in DETECTION_TASKS:
        graph: nn.Module = DetectorGraph(model, masks)
        axes = {"image": {1: "height", 2: "width"}, **{n: {0: "detections"} for n in names}}
    else:
        graph = model
        axes = {"image": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}}
        if task == Task.SEMANTIC_SEGMENTATION:
            axes["logits"] = {0: "batch", 2: "height", 3: "width"}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about Python values, expected
            torch.onnx.export(graph.eval(), (example,), os.fspath(path), opset_version=ONNX_OPSET,
                              dynamo=False, input_names=["image"], output_names=names,
                              dynamic_axes=axes, do_constant_folding=True)
    except Exception as exc:  # the exporter raises many types; the user needs one line
        raise ConfigError(f"{path}: ONNX export failed: {type(exc).__name__}: {exc}") from exc
    return names


def to_torchscript(model: nn.Module, task: str, example: torch.Tensor, path: str | os.PathLike) -> list[str]:
    """Write ``model`` as a TorchScript file (see the module docstring for how).

    Returns:
        The output names (detectors return a dict with these keys, others a tensor).

    Raises:
        ConfigError: scripting / tracing fails.
    """
    masks = task in DETECTION_TASKS and has_masks(model)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            if task in DETECTION_TASKS:
                module = torch.jit.script(ScriptedDetector(model).eval())
            else:
                module = torch.jit.trace(model.eval(), example, check_trace=False)
            module.save(os.fspath(path))
    except Exception as exc:  # noqa: BLE001 - scripting raises many types
        raise ConfigError(f"{path}: TorchScript export failed: {type(exc).__name__}: {exc}") from exc
    return output_names(task, masks)


def backend_run(session: Any, kind: str, task: str, names: list[str], x: Any) -> list[Any]:
    """Run an exported model on one prepared input; returns numpy arrays in ``names``
    order.

    Args:
        session: ``onnxruntime.InferenceSession`` (``kind="onnx"``) or a loaded
            TorchScript module (``kind="torchscript"``).
        x: float32 numpy array, shaped as the export's ``image`` input.
    """
    import numpy as np

    if kind == "onnx":
        return list(session.run(names, {"image": np.ascontiguousarray(x, dtype=np.float32)}))
    with torch.inference_mode():
        out = session(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    if isinstance(out, dict):
        return [out[n].numpy() for n in names]
    return [out.numpy()]
