"""Export a checkpoint (:func:`export_model`): the model file, an immediate check of the
exported model against PyTorch on sample images, and the sidecar with what the check
found.

The check runs both on the same prepared inputs (the validation transform of training):

* classification / semantic segmentation: max |logit difference| over the samples;
  tolerance :data:`LOGIT_TOLERANCE`;
* detectors: both sets of candidates through the same final filtering
  (``RawDetections.filter`` at the sidecar's score threshold and NMS IoU): the number
  of detections kept per image must agree, and the max |difference| of box coordinates
  (pixels of the original image) and scores is recorded. Boxes pass when
  ``|Δ| <= BOX_ATOL + BOX_RTOL * |box|`` for every coordinate — the tolerance of
  torchvision's own ONNX tests of its detectors (``test/test_onnx.py``: ``rtol=1e-3,
  atol=1e-5``); ``boxes_relative`` records the largest ``|Δ| / |box|``. Masks: torchvision
  pastes them into the image with another implementation under ONNX
  (``_onnx_paste_masks_in_image_loop``), which differs from the eager one along the mask
  borders, so probabilities are compared as the masks they give (binarised at 0.5): the
  pooled IoU of the PyTorch masks with their exported pairs (total intersection / total
  union, ``mask_iou_pooled``) must be at least :data:`MASK_IOU_MIN`; the smallest single
  IoU is recorded as ``mask_iou_min`` (a random-weight Mask R-CNN at 256 px on
  brain_tumor: pooled 0.999, min 0.926 for 1 mask in 100, 1st percentile 0.9993).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from vision_studio import __version__
from vision_studio.core.errors import ConfigError
from vision_studio.core.paths import sha256_file
from vision_studio.core.export import graphs as G
from vision_studio.core.export import sidecar as S
from vision_studio.core.types import Task

LOGIT_TOLERANCE = 1e-4
BOX_RTOL, BOX_ATOL = 1e-3, 1e-5
MASK_THRESHOLD, MASK_IOU_MIN = 0.5, 0.99
FORMATS = ("onnx", "torchscript")


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_model` wrote and found.

    Attributes:
        model_file: The exported model.
        sidecar_file: Its JSON sidecar.
        check: The ``check`` entry of the sidecar (``max_abs_diff`` per output,
            ``tolerance``, ``passed``, ``images``...).
        seconds: Time the export took (wall clock, s), check included.
    """

    model_file: Path
    sidecar_file: Path
    check: Mapping[str, Any]
    seconds: float



def export_model(checkpoint: str | os.PathLike, fmt: str, out: str | os.PathLike, samples: Sequence[Any], *,
                 exported_category_ids: Mapping[int, int] | None = None, protected: Any = (),
                 progress: Callable[[str], None] | None = None) -> ExportReport:
    """Export ``checkpoint`` to ``out`` as ``fmt``, check it, write ``<out>.json``.

    Args:
        checkpoint: ``best.pt`` / ``last.pt`` or a run folder.
        fmt: ``"onnx"`` or ``"torchscript"``.
        out: The model file to write (its folder is created). Check it with
            :func:`vision_studio.core.outputs.check_output` first: it is replaced.
        samples: Image files (or HxWx3 uint8 arrays) for the check; the first one also
            traces the model. At least one.
        exported_category_ids: ``{store id: COCO id}`` of ``export --format coco`` of
            the project (``core.io.coco_ids.export_id_maps(store).category``); without
            it the sidecar's ids are the store ids.
        protected: Paths never written (``core.outputs.protected_paths``).
        progress: Called with a short message before each step.

    Returns:
        :class:`ExportReport`. The files are written even when the check fails
        (``check["passed"]`` is then false), so that they can be inspected.

    Raises:
        ConfigError: unknown format, no samples, or the exporter fails.
        CheckpointError: unreadable checkpoint. ImageDecodeError: unreadable sample.
    """
    from vision_studio.core.outputs import atomic_output
    from vision_studio.core.training.checkpoints import load_checkpoint

    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose {' or '.join(FORMATS)}")
    if not samples:
        raise ConfigError("no sample images to check the export on")
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    built, config, categories = load_checkpoint(checkpoint, device="cpu")
    task, model = config.task, built.model.eval()
    per_image = G.relax(model) if task in G.DETECTION_TASKS else 0
    meta = _meta(built, config, categories, fmt, per_image, exported_category_ids)
    from vision_studio.core.export.runtime import ExportedModel

    example = _prepare_for(meta, samples[0])
    out = Path(out)
    say(f"exporting {config.arch} to {fmt}")
    with atomic_output(out, protected=protected) as tmp:
        names = (G.to_onnx if fmt == "onnx" else G.to_torchscript)(model, task, example[None] if task not in
                                                                   G.DETECTION_TASKS else example, tmp)
    meta["model_file"], meta["checkpoint"] = out.name, str(checkpoint)
    meta["outputs"] = _outputs(task, names)
    meta["sha256"] = sha256_file(out)
    side = S.sidecar_path(out)
    S.write_sidecar(side, meta, protected)  # the runtime reads it for the check
    say(f"checking {out.name} against PyTorch on {len(samples)} images")
    check = compare(model, task, ExportedModel(out), samples)
    meta["check"] = check
    S.write_sidecar(side, meta, protected)
    return ExportReport(out, side, check, time.perf_counter() - t0)


def _prepare_for(meta: Mapping[str, Any], image: Any) -> Any:
    from vision_studio.core.evaluation.predict import _load, _prepare

    inp = meta["input"]
    task = Task.DETECTION if meta["task"] in G.DETECTION_TASKS else meta["task"]
    return _prepare(_load(image), task, inp["image_size"], inp["mean"] or (0, 0, 0), inp["std"] or (1, 1, 1))


def _meta(built: Any, config: Any, categories: list[dict[str, Any]], fmt: str, per_image: int,
          exported: Mapping[int, int] | None) -> dict[str, Any]:
    task = config.task
    offset = 1 if task in G.DETECTION_TASKS else 0
    names = [c["name"] for c in categories]
    if task == Task.SEMANTIC_SEGMENTATION and getattr(config, "unlabelled_as", "ignore") == "background":
        offset, names = 1, ["background"] + names
    return {"format": fmt, "model_file": "", "task": task, "arch": config.arch,
            "opset": G.ONNX_OPSET if fmt == "onnx" else None,
            "input": S.input_entry(task, config.image_size, built.mean, built.std),
            "categories": S.categories_entry(categories, offset, exported),
            "category_ids": "exported COCO ids of the project" if exported else "store ids (no project given)",
            "class_names": names, "label_offset": offset,
            "postprocess": S.postprocess_entry(task, G.SCORE_FLOOR, per_image),
            "vision_studio": __version__}


def _outputs(task: str, names: list[str]) -> list[dict[str, str]]:
    shapes = {"logits": "[B, C]" if task == Task.CLASSIFICATION else "[B, C, H, W]",
              "boxes": "[N, 4] float32 xyxy pixels of the input", "labels": "[N] int64 model labels",
              "scores": "[N] float32", "masks": "[N, 1, H, W] float32 probabilities"}
    return [{"name": n, "shape": shapes[n]} for n in names]


def compare(model: Any, task: str, exported: Any, samples: Sequence[Any]) -> dict[str, Any]:
    """PyTorch ``model`` vs the exported model on ``samples`` (see the module docstring).

    Returns:
        ``{"images": n, "max_abs_diff": {output: float}, "tolerance": {...}, "passed":
        bool, "pytorch_ms": float, "exported_ms": float}`` (mean ms per image, CPU)
        plus, for detectors, ``"detections"`` (kept by both) and ``"count_mismatch"``
        (images whose kept counts differ).
    """
    import torch

    from vision_studio.core.evaluation.predict import _load

    arrays = [_load(s) for s in samples]
    xs = [exported.prepare(a) for a in arrays]
    tp = te = 0.0
    torch_out, onnx_out = [], []
    for x in xs[:1]:  # warm-up: the first call of each pays for lazy initialisation
        with torch.inference_mode():
            model([x]) if task in G.DETECTION_TASKS else model(x[None])
        exported.run((x if task in G.DETECTION_TASKS else x[None]).numpy())
    for x in xs:
        inp = x if task in G.DETECTION_TASKS else x[None]
        t = time.perf_counter()
        with torch.inference_mode():
            y = model([inp])[0] if task in G.DETECTION_TASKS else model(inp)
        tp += time.perf_counter() - t
        t = time.perf_counter()
        e = exported.run(inp.numpy())
        te += time.perf_counter() - t
        torch_out.append({k: v.numpy() for k, v in y.items()} if isinstance(y, dict) else y.numpy())
        onnx_out.append(e)
    timing = {"pytorch_ms": 1000 * tp / len(xs), "exported_ms": 1000 * te / len(xs), "images": len(xs)}
    if task not in G.DETECTION_TASKS:
        diff = max(float(np.abs(a - b[0]).max()) for a, b in zip(torch_out, onnx_out))
        return {**timing, "max_abs_diff": {"logits": diff}, "tolerance": {"logits": LOGIT_TOLERANCE},
                "passed": bool(diff <= LOGIT_TOLERANCE)}
    return {**timing, **_compare_detections(arrays, xs, torch_out, onnx_out, exported)}


def _raw(arrays: list[np.ndarray], xs: list[Any], outs: list[tuple[np.ndarray, ...]], categories: list) -> Any:
    from vision_studio.core.evaluation.predictions import RawDetections

    boxes, scores, labels, img = [], [], [], []
    for k, (a, x, o) in enumerate(zip(arrays, xs, outs)):
        scale = np.array([a.shape[1] / x.shape[-1], a.shape[0] / x.shape[-2]] * 2, np.float32)
        boxes.append(o[0].reshape(-1, 4) * scale)
        labels.append(o[1].astype(np.int64))
        scores.append(o[2].astype(np.float32))
        img.append(np.full(len(o[2]), k, np.int64))
    return RawDetections(image_ids=np.arange(1, len(arrays) + 1), image_sizes=np.array([a.shape[:2] for a in arrays]),
                         paths=("",) * len(arrays), categories=categories, label_offset=1,
                         img_index=np.concatenate(img), boxes=np.concatenate(boxes).astype(np.float32),
                         scores=np.concatenate(scores), labels=np.concatenate(labels))


def _compare_detections(arrays: list, xs: list, torch_out: list, onnx_out: list, exported: Any) -> dict[str, Any]:
    names = exported.names
    pt = _raw(arrays, xs, [tuple(d[n] for n in names[:3]) for d in torch_out], exported.categories)
    ex = _raw(arrays, xs, [tuple(o[:3]) for o in onnx_out], exported.categories)
    post = exported.meta["postprocess"]
    kp = pt.filter(post["score_threshold"], post["nms_iou"], post["max_per_image"])
    ke = ex.filter(post["score_threshold"], post["nms_iou"], post["max_per_image"])
    mismatch, dbox, rbox, dscore, dmask, kept, miou = 0, 0.0, 0.0, 0.0, 0.0, 0, 1.0
    pooled = np.zeros(2)  # total intersection, total union of the paired masks
    for k in range(len(arrays)):
        a, b = kp[pt.img_index[kp] == k], ke[ex.img_index[ke] == k]
        if len(a) != len(b) or not np.array_equal(pt.labels[a], ex.labels[b]):
            mismatch += 1
            continue
        kept += len(a)
        if len(a):
            d = np.abs(pt.boxes[a] - ex.boxes[b])
            dbox = max(dbox, float(d.max()))
            rbox = max(rbox, float(((d - BOX_ATOL) / np.maximum(np.abs(pt.boxes[a]), 1e-12)).max()))
            dscore = max(dscore, float(np.abs(pt.scores[a] - ex.scores[b]).max()))
            if "masks" in names:
                ia, ib = a - np.flatnonzero(pt.img_index == k)[0], b - np.flatnonzero(ex.img_index == k)[0]
                ma, mb = torch_out[k]["masks"][ia], onnx_out[k][3][ib]
                dmask = max(dmask, float(np.abs(ma - mb).max()))
                inter_union = _mask_overlap(ma > MASK_THRESHOLD, mb > MASK_THRESHOLD)
                miou = min(miou, float(np.where(inter_union[1] > 0, inter_union[0] / np.maximum(inter_union[1], 1),
                                                1.0).min(initial=1.0)))
                pooled += inter_union.sum(axis=1)
    diff = {"boxes": dbox, "scores": dscore} | ({"masks": dmask} if "masks" in names else {})
    piou = float(pooled[0] / pooled[1]) if pooled[1] else 1.0
    masks = {"mask_iou_min": miou, "mask_iou_pooled": piou} if "masks" in names else {}
    return {"max_abs_diff": diff, "boxes_relative": rbox, "detections": kept, **masks,
            "tolerance": {"boxes": f"|d| <= {BOX_ATOL:g} + {BOX_RTOL:g} * |box| (torchvision test_onnx)"},
            "count_mismatch": mismatch, "candidates": [len(pt), len(ex)],
            "passed": bool(mismatch == 0 and rbox <= BOX_RTOL and piou >= MASK_IOU_MIN)}


def _mask_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[2, N] int64: intersection and union pixel counts of paired binary masks ``a[i]``,
    ``b[i]`` ([N, 1, H, W] bool)."""
    return np.stack([(a & b).reshape(len(a), -1).sum(1), (a | b).reshape(len(a), -1).sum(1)]).astype(np.int64)
