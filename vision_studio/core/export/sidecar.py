"""The JSON sidecar written beside an exported model (``<model file>.json``): what a
consumer needs to run it without Vision Studio.

Fields: ``format`` (``"onnx"`` | ``"torchscript"``), ``model_file`` (its name), ``task``,
``arch``, ``opset`` (ONNX), ``input`` (name, layout, dtype, value range, ``image_size``
and the resize rule, ``mean`` / ``std`` of the normalisation or ``null`` when the model
normalises inside), ``outputs`` (names, shapes, meaning), ``categories`` (``label`` = the
model's output index, ``id`` = the COCO category id of ``vision-studio export --format
coco`` of the project, ``store_id``, ``name``), ``class_names``, ``label_offset``,
``postprocess`` (detectors: ``score_threshold``, ``nms_iou`` (class-wise,
``torchvision.ops.batched_nms``), ``max_per_image``, ``score_floor``, ``mask_threshold``),
``check`` (the comparison with PyTorch made at export: images, max |difference| per
output, tolerance, passed), ``checkpoint`` and ``vision_studio`` (version).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Task

SCORE_THRESHOLD = 0.05
NMS_IOU = 0.5
MAX_PER_IMAGE = 100
MASK_THRESHOLD = 0.5

_RESIZE = {
    Task.CLASSIFICATION: "resize the shorter side to round(image_size / 0.875) (bilinear, antialiased), "
                         "centre crop image_size x image_size",
    Task.SEMANTIC_SEGMENTATION: "resize to image_size x image_size (bilinear, antialiased); resize the "
                                "logits back to the image (bilinear) before the argmax",
    Task.DETECTION: "resize so that the longer side is image_size (aspect kept; the model resizes again "
                    "to its own min/max size inside); boxes come back in pixels of that input",
}
_RESIZE[Task.INSTANCE_SEGMENTATION] = _RESIZE[Task.DETECTION]


def sidecar_path(model_file: str | os.PathLike) -> Path:
    """``model.onnx`` → ``model.onnx.json``."""
    p = Path(model_file)
    return p.with_name(p.name + ".json")


def categories_entry(categories: Sequence[Mapping[str, Any]], label_offset: int,
                     exported: Mapping[int, int] | None) -> list[dict[str, Any]]:
    """``[{"label", "id", "store_id", "name"}]``: model output index, exported COCO id
    (the store id when no project was given), store id, name."""
    exported = exported or {}
    return [{"label": k + label_offset, "id": int(exported.get(int(c["id"]), int(c["id"]))),
             "store_id": int(c["id"]), "name": str(c["name"])} for k, c in enumerate(categories)]


def input_entry(task: str, image_size: int | None, mean: Sequence[float], std: Sequence[float]) -> dict[str, Any]:
    """The ``input`` field of the sidecar."""
    det = task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION)
    return {"name": "image", "dtype": "float32", "layout": "CHW (one image)" if det else "NCHW",
            "channels": "RGB", "value_range": [0.0, 1.0] if det else "normalised: (x / 255 - mean) / std",
            "mean": None if det else list(map(float, mean)), "std": None if det else list(map(float, std)),
            "image_size": image_size, "resize": _RESIZE[task], "dynamic": ["height", "width"] + ([] if det else ["batch"])}


def postprocess_entry(task: str, score_floor: float, per_image: int) -> dict[str, Any] | None:
    """The ``postprocess`` field (detectors only, else ``None``)."""
    if task not in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        return {"softmax": True} if task == Task.CLASSIFICATION else {"argmax": "over channels"}
    return {"score_threshold": SCORE_THRESHOLD, "nms_iou": NMS_IOU, "nms": "class-wise (torchvision.ops.batched_nms)",
            "max_per_image": MAX_PER_IMAGE, "score_floor": score_floor, "candidates_per_image": per_image,
            "mask_threshold": MASK_THRESHOLD if task == Task.INSTANCE_SEGMENTATION else None,
            "note": "the exported outputs are candidates before NMS: keep score > score_threshold, then "
                    "class-wise NMS at nms_iou, then the best max_per_image"}


def write_sidecar(path: str | os.PathLike, data: Mapping[str, Any], protected: Any = ()) -> Path:
    """Write the sidecar atomically; returns its path."""
    from vision_studio.core.outputs import atomic_write_text

    p = Path(path)
    atomic_write_text(p, json.dumps(data, indent=1), protected=protected)
    return p


def read_sidecar(model_file: str | os.PathLike) -> dict[str, Any]:
    """The sidecar of an exported model.

    Raises:
        ConfigError: no sidecar, not JSON, or not one written by Vision Studio.
    """
    p = sidecar_path(model_file)
    try:
        data = json.loads(p.read_text())
    except OSError:
        raise ConfigError(f"{p}: no sidecar beside the exported model (write it with vision-studio export-model)") \
            from None
    except ValueError as exc:
        raise ConfigError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("task") not in Task.ALL or "categories" not in data:
        raise ConfigError(f"{p}: not a Vision Studio export sidecar (no task / categories)")
    return data
