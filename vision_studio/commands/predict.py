"""``vision-studio predict``: run a checkpoint on image files and write COCO results JSON
(detection / instance segmentation) or per-image predictions (classification / semantic
segmentation), with overlay PNGs on request.

Outputs are checked before the model runs (:func:`~vision_studio.core.outputs.check_output`):
the checkpoint, the input images, a Vision Studio project file and, with ``--project``,
that project's files are never written; an existing output needs ``--overwrite``. Files
are written through temporary files renamed into place. With ``--project``, results use
the ids of ``export --format coco`` of that project
(:func:`~vision_studio.core.evaluation.export_ids.export_id_maps`): its category ids, and
the exported image id for an input file that is an image of the project.

``--model FILE.onnx`` (or a TorchScript ``.pt`` written by ``export-model``) runs an
exported model instead of a checkpoint (:class:`~vision_studio.core.export.runtime.
ExportedModel`, onnxruntime on the CPU) and writes the same outputs.
"""
from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Task

SQLITE_MAGIC = b"SQLite format 3\x00"


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _protected(args: argparse.Namespace, store: Any) -> set[str]:
    """The files ``predict`` never writes: checkpoint, input images, any SQLite file
    (a project) and, with a project, its files."""
    from vision_studio.core.export.sidecar import sidecar_path
    from vision_studio.core.outputs import protected_paths

    source = [args.model, sidecar_path(args.model)] if getattr(args, "model", None) else [args.checkpoint]
    paths = {*(os.fspath(p) for p in source), *(os.fspath(p) for p in args.images)}
    if _is_sqlite(args.out):
        paths.add(os.fspath(args.out))
    if store is not None:
        paths |= set(protected_paths(store))
    return paths


def _ids(store: Any, images: list[Path]) -> tuple[Any, dict[int, int]]:
    """Exported ids of the project (or ``None``) and ``{input index + 1: image id}``: the
    exported id for an input that is an image of the project, else an id past every
    exported one."""
    if store is None:
        return None, {}
    from vision_studio.core.evaluation.export_ids import export_id_maps

    ids = export_id_maps(store)
    by_path = {os.path.realpath(store.resolve(im)): im.id for im in store.images()}
    out, nxt = {}, max(ids.image.values(), default=0)
    for k, p in enumerate(images):
        v = by_path.get(os.path.realpath(p))
        if v is None:  # not an image of the project: an id no exported image has
            nxt += 1
        out[k + 1] = ids.image.get(v, v) if v is not None else nxt
    return ids, out


def predict_command(args: argparse.Namespace) -> int:
    """Run ``predict`` (see the module docstring); returns the exit code."""
    from vision_studio.core.store import ProjectStore

    missing = [str(p) for p in args.images if not p.is_file()]
    if missing:
        raise ConfigError(f"no such image file: {', '.join(missing[:5])}")
    store = ProjectStore.open(args.project) if args.project else None
    try:
        return _predict(args, store)
    finally:
        if store is not None:
            store.close()


def _outputs(args: argparse.Namespace, protected: set[str]) -> None:
    """Check every output of the checkpoint's task before the model runs."""
    from vision_studio.core.outputs import check_output
    from vision_studio.core.evaluation.session import checkpoint_file
    from vision_studio.core.training.checkpoints import read_checkpoint

    if getattr(args, "model", None):
        from vision_studio.core.export.sidecar import read_sidecar

        task = read_sidecar(args.model)["task"]
    else:
        task = read_checkpoint(checkpoint_file(args.checkpoint))["config"]["task"]
    check_output(args.out, overwrite=args.overwrite, protected=protected)
    if task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        check_output(args.out.with_suffix(".images.json"), overwrite=args.overwrite, protected=protected)
    elif task == Task.SEMANTIC_SEGMENTATION:
        check_output(args.out.with_suffix(".npz"), overwrite=args.overwrite, protected=protected)
    if args.overlays:
        check_output(args.overlays, overwrite=args.overwrite, protected=protected)


def _slicing(value: str) -> Any:
    """``--slice``: ``"auto"``, ``None`` for ``off``, or :class:`SliceSettings` of a tile size.

    Raises:
        ConfigError: neither auto, off nor a positive number of pixels.
    """
    from vision_studio.core.evaluation.sliced import SliceSettings

    if value in ("auto", "off"):
        return None if value == "off" else "auto"
    try:
        tile = int(value)
        if tile < 32:
            raise ValueError
    except ValueError:
        raise ConfigError(f"--slice: {value!r} is not auto, off or a tile size of at least 32 pixels") from None
    return SliceSettings(tile=tile)


def _predict(args: argparse.Namespace, store: Any) -> int:
    from vision_studio.commands._console import progress_printer
    from vision_studio.core.evaluation.checkpoint_predict import predict_checkpoint
    from vision_studio.core.outputs import atomic_write_bytes, atomic_write_text

    protected = _protected(args, store)
    _outputs(args, protected)
    if getattr(args, "model", None):
        from vision_studio.core.export.runtime import ExportedModel

        exported = ExportedModel(args.model)
        task, categories = exported.task, exported.categories
        pred = exported.predict(list(args.images), batch_size=args.batch_size or 8,
                                progress=progress_printer("predict"))
    else:
        pred, config, categories = predict_checkpoint(args.checkpoint, args.images, device=args.device,
                                                      batch_size=args.batch_size, progress=progress_printer("predict"),
                                                      slicing=_slicing(getattr(args, "slice", "auto")))
        if getattr(pred, "slicing", None):
            print("sliced inference: " + ", ".join(f"{k}={v}" for k, v in pred.slicing.items()))
        task = config.task
    if task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        return _write_detections(args, pred, categories, store, protected)
    if task == Task.CLASSIFICATION:
        rows = [{"file": str(p), "class": pred.class_names[int(pr.argmax())], "probs": pr.tolist()}
                for p, pr in zip(args.images, pred.probs)]
        atomic_write_text(args.out, json.dumps({"class_names": list(pred.class_names), "images": rows}, indent=1),
                          protected=protected)
        print(f"{len(rows)} images classified -> {args.out}")
        return 0
    npz = args.out.with_suffix(".npz")
    buf = io.BytesIO()
    np.savez_compressed(buf, **{f"image_{k}": m for k, m in enumerate(pred.label_maps)})
    atomic_write_bytes(npz, buf.getvalue(), protected=protected)
    atomic_write_text(args.out, json.dumps({"class_names": list(pred.class_names), "label_maps": npz.name,
                                            "files": [str(p) for p in args.images]}, indent=1), protected=protected)
    print(f"{len(args.images)} label maps -> {npz}")
    return 0


def _write_detections(args: argparse.Namespace, pred: Any, categories: list, store: Any, protected: set[str]) -> int:
    from vision_studio.core.evaluation.export_ids import ExportIds, to_export_ids
    from vision_studio.core.evaluation.report import save_overlay
    from vision_studio.core.images import read_image
    from vision_studio.core.outputs import atomic_write_text

    results = pred.to_coco_results(pred.filter(args.score_threshold, args.nms_iou))
    ids, image_ids = _ids(store, list(args.images))
    if ids is not None:
        results = to_export_ids(results, ExportIds(category=ids.category, image=image_ids))
    images = [{"id": image_ids.get(int(i), int(i)), "file_name": str(p)} for i, p in zip(pred.image_ids, args.images)]
    atomic_write_text(args.out, json.dumps(results), protected=protected)
    side = args.out.with_suffix(".images.json")
    atomic_write_text(side, json.dumps(images, indent=1), protected=protected)
    print(f"{len(results)} detections on {len(args.images)} images -> {args.out} (image ids in {side.name})")
    if args.overlays:
        names = {(ids.category.get(int(c["id"]), int(c["id"])) if ids else int(c["id"])): c["name"]
                 for c in categories}
        for im, p in zip(images, args.images):
            save_overlay(read_image(p), [], [r for r in results if r["image_id"] == im["id"]], names,
                         Path(args.overlays) / f"{Path(p).stem}.png", title=str(p))
    return 0
