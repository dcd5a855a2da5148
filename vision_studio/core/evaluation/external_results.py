"""Predictions made elsewhere: a COCO results file from any tool (YOLO, Detectron2,
MMDetection...) read into the evaluation session's objects, so that it gets the whole
review the checkpoint path gets (metrics, PR curves, confusion, score / NMS filtering,
FP/FN browsing, accepting predictions).

A COCO results file is a JSON list of ``{"image_id", "category_id", "bbox": [x, y, w, h]
pixels, "score"}`` with, for instance segmentation, ``"segmentation"`` (RLE or polygons)
(the format of ``COCO.loadRes``; a dict with an ``"annotations"`` list is read too).

Ids: ``image_id`` and ``category_id`` are those of ``vision-studio export --format coco
--split S`` of the project (:func:`~vision_studio.core.evaluation.export_ids.export_id_maps`
with that split — imported COCO ids are kept, so results made on the original dataset
match). An image may instead be named by its file: ``image_id`` a string, or a
``"file_name"`` field, matched against the project path of the image, then its base name
(when unique). A category may be named by ``"category_name"`` when it has no id.

:func:`results_inputs` returns the same :class:`~.session.EvalInputs` (with
:class:`~.predictions.RawDetections`) as the checkpoint path's :func:`~.session.load_inputs`.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Mapping, Sequence

import numpy as np

from vision_studio.core.errors import ConfigError
from vision_studio.core.evaluation.predictions import RawDetections
from vision_studio.core.evaluation.session import EvalInputs, finish_inputs, split_images
from vision_studio.core.geometry import box_convert
from vision_studio.core.types import Task


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The result dicts of a COCO results file.

    Raises:
        ConfigError: unreadable file, not JSON, not a list of result objects, or a result
            without ``bbox`` / ``score`` (the message names the file and the result).
    """
    p = Path(path)
    try:
        data = json.loads(p.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ConfigError(f"{p}: not valid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        data = data["annotations"]
    if not isinstance(data, list):
        raise ConfigError(f"{p}: not a COCO results file (expected a JSON list of detections)")
    for k, r in enumerate(data):
        if not isinstance(r, dict):
            raise ConfigError(f"{p}: result {k} is not an object")
        box = r.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
            raise ConfigError(f"{p}: result {k} has no bbox [x, y, w, h]")
        if not isinstance(r.get("score"), (int, float)) or isinstance(r.get("score"), bool):
            raise ConfigError(f"{p}: result {k} has no numeric score")
    return data


def _image_keys(store: Any, images: Sequence[Any], split: str) -> tuple[dict[int, int], dict[str, int]]:
    """``{exported id: store id}`` and ``{file key: store id}`` (project path, and base
    name when unique) of the split's images."""
    from vision_studio.core.evaluation.export_ids import export_id_maps

    exported = export_id_maps(store, split).image
    by_id = {int(exported.get(im.id, im.id)): im.id for im in images}
    by_name: dict[str, int] = {PurePosixPath(im.path).as_posix(): im.id for im in images}
    bases = Counter(PurePosixPath(im.path).name for im in images)
    by_name.update({PurePosixPath(im.path).name: im.id for im in images if bases[PurePosixPath(im.path).name] == 1})
    return by_id, by_name


def _image_of(r: Mapping[str, Any], k: int, by_id: Mapping[int, int], by_name: Mapping[str, int],
              path: Path, split: str) -> int:
    key = r.get("file_name", r.get("image_id"))
    if isinstance(key, str):
        name = PurePosixPath(key.replace("\\", "/"))
        for cand in (name.as_posix(), name.name):
            if cand in by_name:
                return by_name[cand]
        raise ConfigError(f"{path}: result {k} names image {key!r}, which is not an image of split {split!r}")
    if isinstance(key, int) and not isinstance(key, bool) and key in by_id:
        return by_id[key]
    raise ConfigError(f"{path}: result {k} names image id {key!r}, not an image of split {split!r} (ids are those "
                      f"of 'vision-studio export --format coco --split {split}')")


def _other_split_hint(store: Any, results: Sequence[Mapping[str, Any]], split: str) -> str:
    """``"; these results are of split 'train' …"`` when every result names an image of
    one other split of the project (ids of that split's export), else ``""``."""
    splits = [s for s in store.splits() if s != split] + ["all"]
    for other in dict.fromkeys(splits) if split != "all" else ():
        images = split_images(store, other)
        by_id, by_name = _image_keys(store, images, other)
        try:
            for k, r in enumerate(results):
                _image_of(r, k, by_id, by_name, Path(), other)
        except ConfigError:
            continue
        name = "several splits" if other == "all" else f"split {other!r}"
        return f"; these results are of the images of {name}: choose {'all' if other == 'all' else other!r}"
    return ""


def _categories(store: Any, path: Path) -> tuple[list[dict[str, Any]], dict[int, int], dict[str, int]]:
    """Categories evaluated (those with annotations in the project, store order), and
    ``{exported id: store id}``, ``{name: store id}`` of every category."""
    from vision_studio.core.evaluation.export_ids import export_id_maps

    exported = export_id_maps(store).category
    used = {c for (_s, c) in store.annotation_counts()}
    cats = [{"id": c.id, "name": c.name} for c in store.categories() if c.id in used]
    by_id = {int(exported.get(c.id, c.id)): c.id for c in store.categories()}
    names = Counter(c.name for c in store.categories())
    by_name = {c.name: c.id for c in store.categories() if names[c.name] == 1}
    if not cats:
        raise ConfigError(f"{path}: the project has no box or mask annotations to evaluate against")
    return cats, by_id, by_name


def _category_of(r: Mapping[str, Any], k: int, by_id: Mapping[int, int], by_name: Mapping[str, int],
                 path: Path) -> int:
    cid = r.get("category_id")
    if isinstance(cid, int) and not isinstance(cid, bool) and cid in by_id:
        return by_id[cid]
    if cid is None and r.get("category_name") in by_name:
        return by_name[r["category_name"]]
    known = ", ".join(f"{e}" for e in sorted(by_id)[:20])
    raise ConfigError(f"{path}: result {k} names category id {cid!r}, which the project does not have "
                      f"(exported category ids: {known})")


def _rle(seg: Any, h: int, w: int) -> dict[str, Any]:
    from pycocotools import mask as mask_utils

    if isinstance(seg, list):  # polygons
        seg = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    elif isinstance(seg, dict) and isinstance(seg.get("counts"), list):  # uncompressed RLE
        seg = mask_utils.frPyObjects(seg, h, w)
    counts = seg["counts"]
    return {"size": [int(seg["size"][0]), int(seg["size"][1])],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else str(counts)}


def results_inputs(store: Any, results_file: str | os.PathLike, split: str = "val") -> EvalInputs:
    """The evaluation session of a COCO results file on ``split`` of the project.

    Args:
        store: The open project.
        results_file: The COCO results JSON (see the module docstring).
        split: The split the results were made on (``"all"`` = every image).

    Returns:
        A finished :class:`EvalInputs` (``checkpoint`` = the results file; detection, or
        instance segmentation when every result has a ``segmentation``) with
        :class:`RawDetections` (``score_floor`` = the lowest score) and the ground truth.
        Images of the split without results are kept (they have no detections).

    Raises:
        ConfigError: unreadable file, a result naming an image outside the split or an
            unknown category (one line naming the file and the result).
    """
    path = Path(results_file)
    results = read_results(path)
    images = split_images(store, split)
    if not images:
        raise ConfigError(f"{store.path}: split {split!r} has no images")
    by_id, by_name = _image_keys(store, images, split)
    cats, cat_by_id, cat_by_name = _categories(store, path)
    index = {im.id: k for k, im in enumerate(images)}
    try:
        img_idx = np.array([index[_image_of(r, k, by_id, by_name, path, split)] for k, r in enumerate(results)],
                           np.int64)
    except ConfigError as exc:
        raise ConfigError(f"{exc}{_other_split_hint(store, results, split)}") from None
    store_cat = [_category_of(r, k, cat_by_id, cat_by_name, path) for k, r in enumerate(results)]
    for c in sorted(set(store_cat) - {c["id"] for c in cats}):  # named by results, no annotations
        cats.append({"id": c, "name": store.category(c).name})
    label = {c["id"]: k + 1 for k, c in enumerate(cats)}
    task = Task.INSTANCE_SEGMENTATION if results and all("segmentation" in r for r in results) else Task.DETECTION
    masks = None
    if task == Task.INSTANCE_SEGMENTATION:
        masks = [_rle(r["segmentation"], images[i].height, images[i].width) for r, i in zip(results, img_idx)]
    xywh = np.array([r["bbox"] for r in results], np.float64).reshape(-1, 4)
    scores = np.array([r["score"] for r in results], np.float32)
    raw = RawDetections(
        image_ids=np.array([im.id for im in images], np.int64),
        image_sizes=np.array([(im.height, im.width) for im in images], np.int64).reshape(-1, 2),
        paths=tuple(os.fspath(store.resolve(im)) for im in images), categories=cats, label_offset=1,
        img_index=img_idx, boxes=box_convert(xywh, "xywh", "xyxy").astype(np.float32),
        scores=scores, labels=np.array([label[c] for c in store_cat], np.int64), masks=masks,
        score_floor=float(scores.min(initial=0.0)))
    inputs = EvalInputs(path, split, task, tuple(cats), tuple(c["name"] for c in cats), 1, "ignore",
                        tuple(images), raw)
    return finish_inputs(store, inputs, None, use_cache=False)
