"""Sliced inference (SAHI) for detectors on images much larger than their input.

The method of Akyon et al., "Slicing Aided Hyper Inference and Fine-tuning for Small
Object Detection" (ICIP 2022): the image is cut into overlapping tiles
(:func:`vision_studio.core.large.tiles.tile_grid`, the ``sahi`` library's slicing), the
detector runs on every tile at the tile's own resolution (so small objects keep their
pixels), optionally also on the whole image resized as usual (SAHI's "standard
prediction", which keeps objects larger than a tile), the tile boxes are shifted back into
full-image pixels, and the union is merged per category by the ``sahi`` library's
``batched_nms`` (suppress) or ``batched_greedy_nmm`` (greedy non-maximum *merging*: a
kept box becomes the union of the boxes it matched, with the highest score — SAHI's own
merge rule, ``sahi.postprocess.utils.get_merged_bbox``/``get_merged_score``). The match
is by IoS (intersection over the smaller box, SAHI's default for slicing, because an
object cut by a tile's edge gives a small box inside the whole one) or IoU; the default
is NMS by IoU 0.5, which measured far better on dense scenes (see :class:`SliceSettings`).

The result is an ordinary :class:`~vision_studio.core.evaluation.predictions.RawDetections`
(boxes ``xyxy`` in original-image pixels), so the evaluation session, the CLI and the
Evaluate view re-filter it like any other; :class:`SliceSettings` records how it was made.
Masks are not kept by sliced inference (boxes only): a mask predicted on a tile would
have to be pasted into a full-size canvas per detection, which is what large images
cannot afford.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from vision_studio.core.cancel import Cancel, Progress, check_cancel
from vision_studio.core.large.tiles import DEFAULT_OVERLAP, Tile, tile_grid

MERGES = ("nms", "nmm")
METRICS = ("IOS", "IOU")


@dataclass(frozen=True)
class SliceSettings:
    """How a sliced prediction is made (recorded with its results).

    Attributes:
        tile: Tile side in pixels (the model's input size is the usual choice).
        overlap: Fraction of ``tile`` shared by neighbouring tiles, ``[0, 1)``.
        include_full: Also predict on the whole image resized (SAHI "standard
            prediction") and merge it in.
        merge: ``"nms"`` (default: suppress the lower-scored of a matched pair) or
            ``"nmm"`` (greedy merging into the union box, SAHI's default). Measured by
            ``benchmarks/bench_sliced.py`` on 4x4 mosaics of rbc_coco cells: NMS by IoU
            0.5 gave AP 41.7, NMM by IoS 0.5 gave 0.1 (it fuses touching objects of
            dense scenes into union boxes), whole-image resizing 0.0.
        match_metric: ``"IOU"`` (default) or ``"IOS"``.
        match_threshold: Overlap above which two boxes of a category match.
        min_side: Images whose longer side is at most this many pixels get only the
            whole-image pass (0: every image is sliced).
    """

    tile: int = 512
    overlap: float = DEFAULT_OVERLAP
    include_full: bool = True
    merge: str = "nms"
    match_metric: str = "IOU"
    match_threshold: float = 0.5
    min_side: int = 0

    def __post_init__(self) -> None:
        if self.merge not in MERGES:
            raise ValueError(f"merge must be one of {MERGES}, not {self.merge!r}")
        if self.match_metric not in METRICS:
            raise ValueError(f"match_metric must be one of {METRICS}, not {self.match_metric!r}")
        if self.tile <= 0 or not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"tile {self.tile} must be > 0 and overlap {self.overlap} in [0, 1)")

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able settings."""
        return asdict(self)


def merge_detections(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, *,
                     merge: str = "nmm", match_metric: str = "IOS", match_threshold: float = 0.5
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge the detections of one image per category with ``sahi``'s post-processing.

    Args:
        boxes: [N, 4] ``xyxy`` pixels. scores: [N]. labels: [N] int category labels.
        merge, match_metric, match_threshold: see :class:`SliceSettings`.

    Returns:
        ``(boxes, scores, labels)`` kept, highest score first (float32, float32, int64).
    """
    from sahi.postprocess.combine import batched_greedy_nmm, batched_nms

    n = int(scores.shape[0])
    if n == 0:
        return (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
    preds = np.column_stack([np.asarray(boxes, np.float64).reshape(n, 4), np.asarray(scores, np.float64),
                             np.asarray(labels, np.float64)])
    if merge == "nms":
        keep = list(batched_nms(preds, match_metric, match_threshold))
        out_boxes = preds[keep, :4]
    else:
        groups = batched_greedy_nmm(preds, match_metric, match_threshold)
        keep = sorted(groups, key=lambda i: -preds[i, 4])
        out_boxes = np.array([_union(preds[[k, *groups[k]], :4]) for k in keep]).reshape(-1, 4)
    return (out_boxes.astype(np.float32), preds[keep, 4].astype(np.float32),
            preds[keep, 5].astype(np.int64))


def _union(boxes: np.ndarray) -> np.ndarray:
    return np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()])


def _passes(src: Any, settings: SliceSettings, batch_size: int) -> tuple[list[list[Tile]], bool]:
    """The tile batches of one image (a few tiles in memory at a time) and whether the
    whole-image pass runs (always for an image no larger than a tile / ``min_side``)."""
    small = max(src.height, src.width) <= max(settings.min_side, settings.tile)
    tiles: list[Tile] = [] if small else tile_grid(src.height, src.width, settings.tile, settings.overlap)
    step = max(1, int(batch_size))
    return [tiles[k:k + step] for k in range(0, len(tiles), step)], settings.include_full or small


def _predict_one(model: Any, src: Any, categories: Sequence[Mapping[str, Any]],
                 settings: SliceSettings, full_size: int, kw: dict[str, Any],
                 before: Callable[[], None], after: Callable[[int, int], None]) -> tuple[np.ndarray, ...]:
    """Tiles (+ the whole image) of one image → merged ``(boxes, scores, labels)``.

    ``before()`` runs before every forward pass (the cancel check: it raises to stop);
    ``after(done, passes)`` after each (``done`` of the image's ``passes`` forward passes)."""
    from vision_studio.core.evaluation.predict import predict_detections

    batches, whole = _passes(src, settings, int(kw.get("batch_size", 2)))
    passes = len(batches) + int(whole)
    boxes: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for k, chunk in enumerate(batches):
        before()
        crops = [src.region(t.x0, t.y0, t.x1, t.y1) for t in chunk]
        raw = predict_detections(model, crops, categories, image_size=None, **kw)
        offsets = np.array([[t.x0, t.y0, t.x0, t.y0] for t in chunk], dtype=np.float32)
        boxes.append(raw.boxes + offsets[raw.img_index].reshape(-1, 4))
        scores.append(raw.scores)
        labels.append(raw.labels)
        after(k + 1, passes)
    if whole:
        before()
        small = not batches
        small_arr = src.overview(full_size) if not small else src.region(0, 0, src.width, src.height)
        full = predict_detections(model, [small_arr], categories, image_size=full_size, **kw)
        scale = np.array([src.width / small_arr.shape[1], src.height / small_arr.shape[0]] * 2, dtype=np.float32)
        boxes.append(full.boxes * scale)
        scores.append(full.scores)
        labels.append(full.labels)
        after(passes, passes)
        if small:  # one pass, nothing to merge: the plain prediction
            return boxes[0], scores[0], labels[0]
    return merge_detections(np.concatenate(boxes), np.concatenate(scores), np.concatenate(labels),
                            merge=settings.merge, match_metric=settings.match_metric,
                            match_threshold=settings.match_threshold)


def predict_sliced(model: Any, images: Sequence[str | os.PathLike | np.ndarray],
                   categories: Sequence[Mapping[str, Any]], *, settings: SliceSettings = SliceSettings(),
                   image_ids: Sequence[int] | None = None, image_size: int | None = None,
                   batch_size: int = 2, device: str = "cpu",
                   score_floor: float = 0.001, label_offset: int = 1, raw_max_per_image: int | None = None,
                   mask_threshold: float = 0.5, progress: Progress | None = None,
                   cancel: Cancel = None) -> Any:
    """Sliced prediction of a torchvision-style detector on images of any size.

    Args:
        model: Detector as for :func:`~vision_studio.core.evaluation.predict.predict_detections`.
        images: Image files (JPEG/PNG/..., and tiled/pyramidal TIFFs read tile by tile)
            or HxWx3 uint8 RGB arrays.
        categories: ``[{"id", "name"}]`` in model label order.
        settings: Tile size, overlap, whole-image pass and merge.
        image_ids: COCO image ids (default 1..I).
        image_size: Longer side of the whole-image pass (the model's validation size;
            default ``settings.tile``).
        batch_size: Tiles per forward pass.
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"``.
        score_floor: Lowest score kept before the merge.
        label_offset: Model label of ``categories[0]``.
        raw_max_per_image: Candidates kept per tile (as in ``predict_detections``).
        mask_threshold: Unused (sliced inference keeps no masks); accepted so that the
            options of the plain path can be passed through.
        progress: ``progress(done, total_images)`` after every forward pass: ``done`` is
            ``i + passes done / passes of image i`` within image ``i`` (0-based; its
            passes: the tile batches, then the whole-image pass), monotone, and exactly
            ``i + 1`` (an int) once image ``i`` is merged. A callback that raises stops
            the prediction there (what the callers' cancel wrappers do).
        cancel: Checked (:func:`~vision_studio.core.cancel.is_cancelled`: an Event, a
            token or a callable) before every image and every forward pass, so a cancel
            acts within one tile batch.

    Returns:
        :class:`~vision_studio.core.evaluation.predictions.RawDetections` (no masks),
        boxes ``xyxy`` in original-image pixels.

    Raises:
        ImageDecodeError: an image cannot be read.
        Cancelled: ``cancel`` was set (nothing is returned).
    """
    from vision_studio.core.evaluation.predictions import RawDetections

    ids = np.asarray(image_ids if image_ids is not None else range(1, len(images) + 1), dtype=np.int64)
    kw = dict(batch_size=batch_size, device=device, score_floor=score_floor, label_offset=label_offset,
              raw_max_per_image=raw_max_per_image)
    parts: dict[str, list[np.ndarray]] = {"img": [], "boxes": [], "scores": [], "labels": []}
    sizes = np.zeros((len(images), 2), dtype=np.int64)
    from vision_studio.core.image_regions import open_regions

    n = len(images)
    for i, image in enumerate(images):
        where = f" at image {i + 1} of {n}"
        check_cancel(cancel, where)  # before decoding: a large JPEG takes seconds
        src = open_regions(image)
        sizes[i] = (src.height, src.width)

        def after(done: int, passes: int, i: int = i) -> None:
            if progress is not None and done < passes:  # the image's end is reported after the merge
                progress(i + done / passes, n)

        b, s, lab = _predict_one(model, src, categories, settings, image_size or settings.tile, kw,
                                 lambda: check_cancel(cancel, where), after)
        parts["img"].append(np.full(len(s), i, dtype=np.int64))
        parts["boxes"].append(b)
        parts["scores"].append(s)
        parts["labels"].append(lab)
        if progress:
            progress(i + 1, n)
    cat = {k: np.concatenate(v) if v else np.zeros((0, 4) if k == "boxes" else 0) for k, v in parts.items()}
    paths = tuple("" if isinstance(im, np.ndarray) else str(im) for im in images)
    return RawDetections(image_ids=ids, image_sizes=sizes, paths=paths, categories=[dict(c) for c in categories],
                         label_offset=label_offset, img_index=cat["img"].astype(np.int64),
                         boxes=cat["boxes"].astype(np.float32).reshape(-1, 4),
                         scores=cat["scores"].astype(np.float32), labels=cat["labels"].astype(np.int64),
                         masks=None, score_floor=score_floor, slicing=settings.as_dict())


AUTO_MIN_SIDE = 2000
"""The automatic rule's size: images whose longer side exceeds both this (pixels) and
twice the model input are predicted by sliced inference."""


def auto_slicing(sizes: Sequence[tuple[int, int]], image_size: int) -> SliceSettings | None:
    """The automatic choice: :class:`SliceSettings` (tiles of the model's ``image_size``,
    ``min_side`` = :data:`AUTO_MIN_SIDE`) when any image of ``sizes`` (``(height,
    width)`` pixels) has a longer side above both :data:`AUTO_MIN_SIDE` and twice
    ``image_size``; else ``None`` (whole-image prediction, as ever)."""
    limit = max(AUTO_MIN_SIDE, 2 * image_size)
    if any(max(h, w) > limit for h, w in sizes):
        return SliceSettings(tile=int(image_size), min_side=limit)
    return None
