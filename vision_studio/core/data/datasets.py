"""The torch ``Dataset`` of a snapshot's samples and its collate function.

An image that fails to decode is not fatal: ``__getitem__`` returns a :class:`Skipped`
record naming the file and the reason, :func:`collate` leaves it out of the batch and
hands it on in :attr:`Batch.skipped`, and the trainer reports it and goes on.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torchvision import tv_tensors

from vision_studio.core.data.snapshot import IGNORE_INDEX, Sample, Snapshot
from vision_studio.core.errors import VisionStudioError
from vision_studio.core.types import Annotation, Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skipped:
    """A sample left out of a batch: ``source`` is the image's project path."""

    source: str
    reason: str
    image_id: int


@dataclass
class Batch:
    """A collated batch.

    Attributes:
        images: ``float32 [B, 3, H, W]`` (classification, semantic) or a list of
            ``float32 [3, H_i, W_i]`` (detection, instance segmentation).
        targets: ``int64 [B]`` labels (classification); ``int64 [B, H, W]`` label maps
            with 255 = ignore (semantic); or a list of dicts with ``boxes`` (``float32
            [N, 4]`` xyxy pixels), ``labels`` (``int64 [N]``, 1..K), ``image_id``,
            ``size`` (``(H, W)`` of the transformed image) and,
            for instance segmentation, ``masks`` (``uint8 [N, H, W]``).
        skipped: Samples that could not be loaded.
    """

    images: Any
    targets: Any
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def pin_memory(self) -> Batch:  # called by DataLoader(pin_memory=True)
        pin = (lambda t: t.pin_memory()) if torch.cuda.is_available() else (lambda t: t)
        return Batch(_apply(self.images, pin), _apply(self.targets, pin), self.skipped)


def _apply(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _apply(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_apply(v, fn) for v in obj]
    return obj


def _read_image(path: str, window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    if window is not None:  # a tile of a large image: only its region
        from vision_studio.core.image_regions import read_window

        return read_window(path, window)
    from vision_studio.core.images import read_image

    return read_image(path)


def decode_mask(ann: Annotation, height: int, width: int) -> np.ndarray:
    """The binary mask of an annotation, ``uint8 [height, width]`` (1 = object).

    Uses the RLE when there is one, else the polygons (``pycocotools.mask.frPyObjects``),
    else fills the bbox.

    Raises:
        ValueError: an RLE whose size differs from the image's.
    """
    with warnings.catch_warnings():  # pycocotools' numpy-2 DeprecationWarning, per call
        warnings.simplefilter("ignore", DeprecationWarning)
        return _decode_mask(ann, height, width)


def _decode_mask(ann: Annotation, height: int, width: int) -> np.ndarray:
    from pycocotools import mask as mask_utils

    if ann.rle:
        rle = dict(ann.rle)
        if list(rle.get("size", [])) != [height, width]:
            raise ValueError(f"mask size {rle.get('size')} differs from the image size "
                             f"{[height, width]} (annotation {ann.id})")
        if isinstance(rle["counts"], list):
            rle = mask_utils.frPyObjects(rle, height, width)
        elif isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
        return mask_utils.decode(rle).astype(np.uint8)
    if ann.polygons:
        rles = mask_utils.frPyObjects([list(p) for p in ann.polygons], height, width)
        return mask_utils.decode(mask_utils.merge(rles)).astype(np.uint8)
    out = np.zeros((height, width), np.uint8)
    x1, y1, x2, y2 = (int(round(v)) for v in ann.xyxy)
    out[max(0, y1):max(0, y2), max(0, x1):max(0, x2)] = 1
    return out


class VisionDataset(torch.utils.data.Dataset):
    """Samples of one split of a :class:`Snapshot`, decoded and transformed on access.

    Args:
        snapshot: The run's snapshot (categories, task, label conventions).
        samples: The samples of this split.
        transform: A pipeline from :func:`~vision_studio.core.data.build_transforms`.

    ``dataset[i]`` is ``(image, target)`` (see :class:`Batch` for the shapes) or a
    :class:`Skipped` record when the image cannot be read. ``dataset[(i, seed)]`` draws
    the random augmentation of sample ``i`` from ``seed`` alone (torch's RNG is forked
    and seeded around the transform), so that the result does not depend on the process
    or DataLoader worker that loads it, nor on what was loaded before: a run gives the
    same batches with 0 or N workers, and resumes exactly.
    """

    def __init__(self, snapshot: Snapshot, samples: Sequence[Sample],
                 transform: Callable[..., Any]) -> None:
        self.snapshot = snapshot
        self.samples = list(samples)
        self.transform = transform
        self.task = snapshot.task

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Any, Any] | Skipped:
        index, seed = key if isinstance(key, tuple) else (key, None)
        s = self.samples[index]
        try:
            arr = _read_image(s.path, s.window)
            if seed is None:
                return self._make(s, arr)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return self._make(s, arr)
        except (VisionStudioError, OSError, ValueError) as exc:
            log.warning("skipped %s: %s", s.rel_path, exc)
            return Skipped(source=s.rel_path, reason=str(exc), image_id=s.image_id)

    def _make(self, s: Sample, arr: np.ndarray) -> tuple[Any, Any]:
        h, w = arr.shape[:2]
        image = tv_tensors.Image(torch.from_numpy(np.require(arr, requirements=["C", "W"])).permute(2, 0, 1))
        if self.task == Task.CLASSIFICATION:
            return self.transform(image), s.label
        if self.task == Task.SEMANTIC_SEGMENTATION:
            out_img, out_mask = self.transform(image, tv_tensors.Mask(self._label_map(s, h, w)))
            return out_img, out_mask.as_subclass(torch.Tensor).long()
        return self._detection(s, image, h, w)

    def _label_map(self, s: Sample, h: int, w: int) -> torch.Tensor:
        fill = 0 if self.snapshot.unlabelled_as == "background" else IGNORE_INDEX
        lab = np.full((h, w), fill, np.uint8)
        for ann in s.annotations:  # in id order: later annotations paint over earlier ones
            lab[decode_mask(ann, h, w) > 0] = self.snapshot.label_of(ann.category_id)
        return torch.from_numpy(lab)

    def _detection(self, s: Sample, image: tv_tensors.Image, h: int, w: int) -> tuple[Any, Any]:
        anns = [a for a in s.annotations if not a.iscrowd]
        boxes = torch.tensor([a.xyxy for a in anns], dtype=torch.float32).reshape(-1, 4)
        sample: dict[str, Any] = {
            "image": image,
            "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(h, w)),
            "labels": torch.tensor([self.snapshot.label_of(a.category_id) for a in anns],
                                   dtype=torch.int64),
        }
        if self.task == Task.INSTANCE_SEGMENTATION:
            masks = np.stack([decode_mask(a, h, w) for a in anns]) if anns else \
                np.zeros((0, h, w), np.uint8)
            sample["masks"] = tv_tensors.Mask(torch.from_numpy(masks))
        out = self.transform(sample)
        target = {"boxes": out["boxes"].as_subclass(torch.Tensor).float(),
                  "labels": out["labels"], "image_id": s.image_id,
                  "size": tuple(int(v) for v in out["image"].shape[-2:])}
        if "masks" in out:
            target["masks"] = out["masks"].as_subclass(torch.Tensor)
        return out["image"].as_subclass(torch.Tensor), target


def collate(items: Sequence[tuple[Any, Any] | Skipped]) -> Batch:
    """Collate dataset items into a :class:`Batch`, leaving :class:`Skipped` ones out."""
    skipped = [it for it in items if isinstance(it, Skipped)]
    good = [it for it in items if not isinstance(it, Skipped)]
    if not good:
        return Batch(images=[], targets=[], skipped=skipped)
    images = [torch.as_tensor(g[0]).as_subclass(torch.Tensor) for g in good]
    targets = [g[1] for g in good]
    if isinstance(targets[0], dict):
        return Batch(images=images, targets=targets, skipped=skipped)
    if isinstance(targets[0], int):
        return Batch(torch.stack(images), torch.tensor(targets, dtype=torch.int64), skipped)
    return Batch(torch.stack(images), torch.stack(targets), skipped)
