"""Class-activation heatmaps with the ``grad-cam`` package (pytorch-grad-cam).

* Classification: Grad-CAM (Selvaraju et al., ICCV 2017) — the target layer's
  activations weighted by the spatially averaged gradients of the class logit, ReLU —
  for the predicted class or a chosen one; also Grad-CAM++ and EigenCAM.
* Detection (torchvision Faster R-CNN / RetinaNet / FCOS, FPN backbones): EigenCAM
  (Muhammad & Yeasin, IJCNN 2020) — the first principal component of the FPN
  activations, no gradients — as in the library's Faster R-CNN tutorial: the FPN maps
  are resized to the coarsest level and concatenated (``fasterrcnn_reshape_transform``).
  Gradient-based CAMs are not offered for detectors: their outputs pass through NMS
  and the library's box target is only used by EigenCAM for bookkeeping.

Heatmaps are float32 ``[H, W]`` in [0, 1] at the *original* image size (the model's
input is the validation transform of training; the heatmap is resized back: for a
centre-cropped classifier input, it is pasted into the cropped region and 0 outside).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Task

METHODS = ("gradcam", "gradcam++", "eigencam")


@dataclass(frozen=True)
class Heatmap:
    """One image's heatmap.

    Attributes:
        cam: float32 [H, W] in [0, 1], original image size.
        label: Explained class name (classification) or ``"objects"`` (detection).
        score: Its softmax probability (classification) or the best detection score.
        method: ``"gradcam"``, ``"gradcam++"`` or ``"eigencam"``.
        boxes: Detection: [K, 4] float32 xyxy pixels (original image) of the detections
            with score >= the threshold; empty for classification.
        input_cam: float32 [h, w] in [0, 1]: the map at the model input (before it is
            put back on the image; what comparisons of maps should use).
    """

    cam: np.ndarray
    label: str
    score: float
    method: str
    boxes: np.ndarray
    input_cam: np.ndarray


def target_layer(built: Any) -> Any:
    """The layer a classifier's CAM is taken at: the last module of the deepest backbone
    stage that holds a convolution (ResNet ``layer4``, a timm model's last block group,
    VGG's last conv block...).

    Raises:
        ConfigError: no stage holds a ``Conv2d`` (not a CNN).
    """
    from torch import nn

    for _name, mods in reversed(built.stages):
        if any(isinstance(m, nn.Conv2d) for mod in mods for m in mod.modules()):
            return mods[-1]
    raise ConfigError(f"{built.arch}: no convolutional stage to take a class-activation map at")


def _cam_class(method: str) -> Any:
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus

    try:
        return {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "eigencam": EigenCAM}[method]
    except KeyError:
        raise ConfigError(f"unknown CAM method {method!r}; choose one of {', '.join(METHODS)}") from None


def _to_image(cam: np.ndarray, shape: tuple[int, int], task: str, image_size: int | None) -> np.ndarray:
    """A CAM at the model input → the original image (undoing resize / centre crop)."""
    import cv2

    h, w = shape
    if task != Task.CLASSIFICATION or not image_size:
        return cv2.resize(cam, (w, h), interpolation=cv2.INTER_LINEAR)
    side = round(image_size / 0.875)  # torchvision Resize(side): the shorter side becomes `side`
    s = side / min(h, w)
    rh, rw = round(h * s), round(w * s)
    top, left = int(round((rh - image_size) / 2.0)), int(round((rw - image_size) / 2.0))
    full = np.zeros((rh, rw), np.float32)
    full[top:top + image_size, left:left + image_size] = cam
    return cv2.resize(full, (w, h), interpolation=cv2.INTER_LINEAR)


def input_box(shape: tuple[int, int], task: str, image_size: int | None) -> tuple[float, float, float, float]:
    """The part of an image the model's input shows, ``(x0, y0, x1, y1)`` in original
    image pixels: a classifier's validation transform resizes the shorter side to
    ``image_size / 0.875`` and crops the centre ``image_size`` square (the heatmap is 0
    outside it, :func:`_to_image`); other tasks see the whole image."""
    h, w = shape
    if task != Task.CLASSIFICATION or not image_size:
        return (0, 0, w, h)
    side = round(image_size / 0.875)
    s = side / min(h, w)
    rh, rw = round(h * s), round(w * s)
    top, left = int(round((rh - image_size) / 2.0)), int(round((rw - image_size) / 2.0))
    sx, sy = w / rw, h / rh
    return (left * sx, top * sy, (left + image_size) * sx, (top + image_size) * sy)


def explain_classification(built: Any, images: Sequence[Any], class_names: Sequence[str], image_size: int, *,
                           target: int | None = None, method: str = "gradcam") -> list[Heatmap]:
    """Heatmaps of a classifier for the predicted class (``target=None``) or class
    ``target`` (model label).

    Args:
        built: The :class:`~vision_studio.core.models.base.BuiltModel` (eval mode, CPU).
        images: Image files or HxWx3 uint8 RGB arrays.
        class_names: Model label → name.
        image_size: The run's ``image_size`` (validation transform of training).
        target: Model label to explain, or ``None`` for each image's top class.
        method: One of :data:`METHODS`.

    Raises:
        ConfigError: bad method / target; ImageDecodeError: unreadable image.
    """
    import torch
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from vision_studio.core.evaluation.predict import _load, _prepare

    if target is not None and not 0 <= target < len(class_names):
        raise ConfigError(f"class {target} is not a model label (0..{len(class_names) - 1})")
    model = built.model.eval()
    out = []
    with _cam_class(method)(model=model, target_layers=[target_layer(built)]) as cam:
        for image in images:
            arr = _load(image)
            x = _prepare(arr, Task.CLASSIFICATION, image_size, built.mean, built.std)[None]
            with torch.no_grad():
                probs = torch.softmax(model(x).float(), 1)[0]
            k = int(probs.argmax()) if target is None else int(target)
            grey = np.nan_to_num(cam(input_tensor=x, targets=[ClassifierOutputTarget(k)])[0]).astype(np.float32)
            heat = _to_image(grey, arr.shape[:2], Task.CLASSIFICATION, image_size)
            out.append(Heatmap(np.clip(heat, 0, 1), class_names[k], float(probs[k]), method,
                               np.zeros((0, 4), np.float32), grey))
    return out


def explain_detection(built: Any, images: Sequence[Any], image_size: int | None, *,
                      score_threshold: float = 0.5) -> list[Heatmap]:
    """EigenCAM heatmaps of a torchvision detector's FPN (see the module docstring),
    with the detections scoring >= ``score_threshold``.

    Raises:
        ConfigError: the detector has no FPN backbone (SSD / SSDlite: no multi-scale
            ``OrderedDict`` to take the principal component of).
    """
    import torch
    from pytorch_grad_cam import EigenCAM
    from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget
    from pytorch_grad_cam.utils.reshape_transforms import fasterrcnn_reshape_transform

    from vision_studio.core.evaluation.predict import _load, _prepare

    model = built.model.eval()
    if not hasattr(model.backbone, "fpn"):
        raise ConfigError(f"{built.arch}: EigenCAM needs an FPN backbone (Faster R-CNN, RetinaNet, FCOS, Mask R-CNN)")
    out = []
    with EigenCAM(model, target_layers=[model.backbone], reshape_transform=fasterrcnn_reshape_transform) as cam:
        for image in images:
            arr = _load(image)
            x = _prepare(arr, Task.DETECTION, image_size, (0, 0, 0), (1, 1, 1))
            with torch.no_grad():
                det = model([x])[0]
            keep = det["scores"] >= score_threshold
            boxes, labels = det["boxes"][keep], det["labels"][keep]
            grey = cam(x[None], targets=[FasterRCNNBoxScoreTarget(labels=labels, bounding_boxes=boxes)])[0]
            grey = np.nan_to_num(grey).astype(np.float32)
            heat = _to_image(grey, arr.shape[:2], Task.DETECTION, None)
            scale = np.array([arr.shape[1] / x.shape[-1], arr.shape[0] / x.shape[-2]] * 2, np.float32)
            best = float(det["scores"].max()) if len(det["scores"]) else 0.0
            out.append(Heatmap(np.clip(heat, 0, 1), "objects", best, "eigencam", boxes.numpy() * scale, grey))
    return out


def explain_checkpoint(checkpoint: str | os.PathLike, images: Sequence[Any], *, target: str | None = None,
                       method: str | None = None, score_threshold: float = 0.5) -> list[Heatmap]:
    """Load a checkpoint and explain ``images`` (classification or detection).

    Args:
        target: A class name to explain (classification; default: the predicted class).
        method: Classification: one of :data:`METHODS` (default ``"gradcam"``);
            detection always uses ``"eigencam"``.

    Raises:
        ConfigError: a task without heatmaps here (semantic segmentation), an unknown
            class name; CheckpointError: unreadable checkpoint.
    """
    from vision_studio.core.training.checkpoints import load_checkpoint

    built, config, categories = load_checkpoint(checkpoint, device="cpu")
    names = [c["name"] for c in categories]
    if config.task == Task.CLASSIFICATION:
        k = None
        if target is not None:
            if target not in names:
                raise ConfigError(f"class {target!r} is not one of the model's: {', '.join(names)}")
            k = names.index(target)
        return explain_classification(built, images, names, config.image_size, target=k, method=method or "gradcam")
    if config.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        if method not in (None, "eigencam"):
            raise ConfigError("detectors are explained with EigenCAM only (--method eigencam)")
        return explain_detection(built, images, config.image_size, score_threshold=score_threshold)
    raise ConfigError(f"heatmaps are for classification and detection models, not {config.task}")


def overlay(image: np.ndarray, cam: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """The heatmap in the JET colour map blended over the image.

    Args:
        image: HxWx3 uint8 RGB.
        cam: float [H, W] in [0, 1].
        opacity: Weight of the heatmap, 0 (image only) to 1 (heatmap only).

    Returns:
        HxWx3 uint8 RGB: ``(1 - opacity) * image + opacity * jet(cam)``.
    """
    import cv2

    if not 0.0 <= opacity <= 1.0:
        raise ConfigError(f"opacity must be between 0 and 1, got {opacity}")
    jet = cv2.applyColorMap(np.uint8(255 * np.clip(cam, 0, 1)), cv2.COLORMAP_JET)[..., ::-1].astype(np.float32)
    out = (1.0 - opacity) * image.astype(np.float32) + opacity * jet
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
