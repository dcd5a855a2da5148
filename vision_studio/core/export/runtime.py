"""Run an exported model (ONNX with onnxruntime, or TorchScript) on images and return the
prediction objects of the checkpoint path (:mod:`vision_studio.core.evaluation.predictions`).

The preprocessing is the checkpoint path's (the validation transform of training, read
from the sidecar), and so is the postprocessing: detector candidates are scaled back to
the original image and kept whole in :class:`RawDetections`, so that ``filter(score,
nms)`` and ``to_coco_results`` give the same COCO results as
:func:`vision_studio.core.evaluation.predict.predict_checkpoint`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vision_studio.core.errors import ConfigError
from vision_studio.core.evaluation.predict import _encode_masks, _ids_and_paths, _load, _prepare
from vision_studio.core.evaluation.predictions import (ClassificationPredictions, RawDetections,
                                                      SemanticPredictions)
from vision_studio.core.export import graphs as G
from vision_studio.core.export.sidecar import read_sidecar
from vision_studio.core.types import Task

Progress = Callable[[int, int], None]


def open_backend(path: str | os.PathLike, kind: str, threads: int | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` (CPU) or a ``torch.jit.load``-ed module.

    Raises:
        ConfigError: the file cannot be read as that format.
    """
    try:
        if kind == "onnx":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            if threads:
                opts.intra_op_num_threads = threads
            opts.log_severity_level = 3
            return ort.InferenceSession(os.fspath(path), opts, providers=["CPUExecutionProvider"])
        import torch

        return torch.jit.load(os.fspath(path), map_location="cpu").eval()
    except Exception as exc:  # onnxruntime / torch raise their own types
        raise ConfigError(f"{path}: not a readable {kind} model ({type(exc).__name__}: {exc})") from exc


class ExportedModel:
    """An exported model and its sidecar.

    Attributes:
        path: The model file.
        meta: The sidecar dict (:mod:`.sidecar`).
        task: The task.
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"{self.path}: no such exported model")
        self.meta = read_sidecar(self.path)
        self.task: str = self.meta["task"]
        self.kind: str = self.meta["format"]
        self.names: list[str] = [o["name"] for o in self.meta["outputs"]]
        self.session = open_backend(self.path, self.kind, threads)

    @property
    def categories(self) -> list[dict[str, Any]]:
        """``[{"id": store id, "name"}]`` in model label order (the checkpoint's)."""
        return [{"id": c["store_id"], "name": c["name"]} for c in self.meta["categories"]]

    def prepare(self, image: Any) -> Any:
        """A decoded image (or file) → the float tensor the export takes (batchless)."""
        inp = self.meta["input"]
        mean, std = inp["mean"] or (0, 0, 0), inp["std"] or (1, 1, 1)
        task = Task.DETECTION if self.task in G.DETECTION_TASKS else self.task
        return _prepare(_load(image), task, inp["image_size"], mean, std)

    def run(self, x: Any) -> list[np.ndarray]:
        """Raw outputs for one prepared input (numpy, in the sidecar's output order)."""
        return G.backend_run(self.session, self.kind, self.task, self.names, np.asarray(x))

    def predict(self, images: Sequence[Any], *, image_ids: Sequence[int] | None = None,
                batch_size: int = 8, progress: Progress | None = None) -> Any:
        """Predict like ``predict_checkpoint``: :class:`RawDetections`,
        :class:`ClassificationPredictions` or :class:`SemanticPredictions`.

        Raises:
            ImageDecodeError: an unreadable image (the message names it).
        """
        if self.task in G.DETECTION_TASKS:
            return self._detections(images, image_ids, progress)
        ids, paths = _ids_and_paths(images, image_ids)
        names = list(self.meta["class_names"])
        if self.task == Task.CLASSIFICATION:
            probs = []
            for start in range(0, len(images), batch_size):
                x = np.stack([self.prepare(b).numpy() for b in images[start:start + batch_size]])
                logits = self.run(x)[0].astype(np.float64)
                e = np.exp(logits - logits.max(axis=1, keepdims=True))
                probs.append((e / e.sum(axis=1, keepdims=True)).astype(np.float32))
                if progress:
                    progress(min(start + batch_size, len(images)), len(images))
            p = np.concatenate(probs) if probs else np.zeros((0, len(names)), np.float32)
            return ClassificationPredictions(ids, paths, names, p)
        return SemanticPredictions(ids, paths, names, self._label_maps(images, progress))

    def _label_maps(self, images: Sequence[Any], progress: Progress | None) -> list[np.ndarray]:
        import torch
        import torch.nn.functional as F

        maps = []
        for k, image in enumerate(images):
            arr = _load(image)
            logits = torch.from_numpy(self.run(self.prepare(arr)[None].numpy())[0])
            logits = F.interpolate(logits.float(), size=arr.shape[:2], mode="bilinear", align_corners=False)
            maps.append(logits.argmax(1)[0].to(torch.uint8).numpy())
            if progress:
                progress(k + 1, len(images))
        return maps

    def _detections(self, images: Sequence[Any], image_ids: Sequence[int] | None,
                    progress: Progress | None) -> RawDetections:
        import torch

        ids, paths = _ids_and_paths(images, image_ids)
        post = self.meta["postprocess"]
        parts: dict[str, list[np.ndarray]] = {"img": [], "boxes": [], "scores": [], "labels": []}
        masks: list[dict[str, Any]] | None = [] if "masks" in self.names else None
        sizes = np.zeros((len(images), 2), dtype=np.int64)
        for k, image in enumerate(images):
            arr = _load(image)
            t = self.prepare(arr)
            out = self.run(t.numpy())
            h, w = arr.shape[:2]
            sizes[k] = (h, w)
            scale = np.array([w / t.shape[-1], h / t.shape[-2]] * 2, dtype=np.float32)
            boxes = out[0].reshape(-1, 4).astype(np.float32) * scale
            parts["img"].append(np.full(boxes.shape[0], k, dtype=np.int64))
            parts["boxes"].append(boxes)
            parts["labels"].append(out[1].astype(np.int64))
            parts["scores"].append(out[2].astype(np.float32))
            if masks is not None:
                masks.extend(_encode_masks(torch.from_numpy(out[3]), h, w, float(post["mask_threshold"])))
            if progress:
                progress(k + 1, len(images))
        cat = {k: (np.concatenate(v) if v else np.zeros((0, 4) if k == "boxes" else 0)) for k, v in parts.items()}
        return RawDetections(
            image_ids=ids, image_sizes=sizes, paths=paths, categories=self.categories,
            label_offset=int(self.meta["label_offset"]), img_index=cat["img"].astype(np.int64),
            boxes=cat["boxes"].astype(np.float32).reshape(-1, 4), scores=cat["scores"].astype(np.float32),
            labels=cat["labels"].astype(np.int64), masks=masks, score_floor=float(post["score_floor"]))
