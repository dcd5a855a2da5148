"""``vision-studio evaluate`` and ``vision-studio predict``.

``evaluate`` runs a checkpoint on a split of a project, prints the metrics (the COCO
summary and a per-class table for detection / instance segmentation) and writes a report
folder: ``metrics.json``, PR-curve PNGs, a confusion-matrix PNG, an IoU histogram and
overlays of predictions on images. ``predict`` runs a checkpoint on image files and
writes COCO results JSON (detection / instance segmentation) or per-image predictions
(classification / semantic segmentation), with overlay PNGs on request.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


from vision_studio.commands._console import progress_printer
from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Task


def run_predict(args: argparse.Namespace) -> int:
    """``vision-studio predict`` (in :mod:`vision_studio.commands.predict`)."""
    from vision_studio.commands.predict import predict_command

    return predict_command(args)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` and ``predict`` sub-commands."""
    p = sub.add_parser("evaluate", help="evaluate a checkpoint (or a COCO results file) on a split of a project",
                       description="Evaluate a trained checkpoint, or detections made by another tool (a COCO "
                                   "results file keyed by the ids or file names of 'export --format coco' of the "
                                   "project); print metrics; write a report folder.")
    p.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", type=Path, help="best.pt / last.pt or a run folder")
    what.add_argument("--results", type=Path, help="COCO results JSON made elsewhere (detection / instance "
                                                   "segmentation)")
    p.add_argument("--split", default="val", help="split to evaluate (default: val)")
    p.add_argument("--out", type=Path, help="report folder (default: <checkpoint folder>/eval_<split>)")
    p.add_argument("--backend", choices=("faster", "pycocotools"),
                   help="COCO evaluation backend (default: the project setting "
                        "'evaluation_backend', else faster)")
    _common(p)
    p.add_argument("--overlays", type=int, default=12, help="overlay PNGs to write (default 12)")
    p.set_defaults(func=run_evaluate)

    q = sub.add_parser("predict", help="run a checkpoint (or an exported model) on image files",
                       description="Predict with a trained checkpoint or a model written by export-model; "
                                   "write COCO results JSON.")
    src = q.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="best.pt / last.pt or a run folder")
    src.add_argument("--model", type=Path, help="an ONNX / TorchScript file written by export-model (run with "
                                                "onnxruntime on the CPU; its sidecar FILE.json beside it)")
    q.add_argument("images", nargs="+", type=Path, help="image files")
    q.add_argument("--out", required=True, type=Path, help="results JSON file to write")
    q.add_argument("--overlays", type=Path, metavar="DIR", help="also write overlay PNGs here")
    _common(q)
    q.add_argument("--project", type=Path,
                   help="the project the checkpoint was trained in: results then use the category and image "
                        "ids of 'export --format coco' of it, and its files are never written")
    q.add_argument("--slice", default="auto", metavar="auto|off|TILE",
                   help="detectors: sliced inference over overlapping tiles for large images (SAHI). 'auto' "
                        "(default) slices images above 2000 px and twice the model input; 'off' resizes every "
                        "image whole; a number slices every image into tiles of that many pixels")
    q.set_defaults(func=run_predict)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--score-threshold", type=float, default=0.05,
                   help="keep detections scoring above this (default 0.05, as torchvision)")
    p.add_argument("--nms-iou", type=float, default=0.5, help="class-wise NMS IoU threshold (default 0.5)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file / fill a non-empty output folder (the project "
                        "file and its images are never written)")
    p.add_argument("--batch-size", type=int, help="images per forward pass")


def run_evaluate(args: argparse.Namespace) -> int:
    from vision_studio.core.evaluation.session import load_inputs
    from vision_studio.core.outputs import check_output, protected_paths
    from vision_studio.core.store import ProjectStore

    store = ProjectStore.open(args.project)
    try:
        if not store.images(split=args.split):
            raise ConfigError(f"{args.project}: split {args.split!r} has no images "
                              f"(splits: {', '.join(f'{k or chr(34) * 2}={v}' for k, v in store.splits().items())})")
        out = args.out or _default_out(args)
        protected = set(protected_paths(store)) | ({str(args.results)} if args.results else set())
        check_output(out, overwrite=args.overwrite, protected=protected)  # before the slow part
        if args.results:
            from vision_studio.core.evaluation.external_results import results_inputs

            inputs = results_inputs(store, args.results, args.split)
            head = {"task": inputs.task, "results": str(args.results), "split": args.split}
        else:
            # the evaluation session, as the Evaluation panel opens it (a fresh prediction: no cache)
            inputs = load_inputs(store, args.checkpoint, args.split, progress=progress_printer("predict"),
                                 use_cache=False, device=args.device, batch_size=args.batch_size)
            head = {"task": inputs.task, "checkpoint": str(args.checkpoint), "split": args.split}
        out.mkdir(parents=True, exist_ok=True)
        if inputs.is_detection:
            _evaluate_detection(store, inputs, head, args, out)
        elif inputs.task == Task.CLASSIFICATION:
            _evaluate_classification(inputs, head, out)
        else:
            _evaluate_semantic(inputs, head, out)
        print(f"report: {out}")
    finally:
        store.close()
    return 0


def _default_out(args: argparse.Namespace) -> Path:
    """``<checkpoint folder>/eval_<split>``, or ``<results folder>/eval_<results stem>_<split>``."""
    if args.results:
        return args.results.parent / f"eval_{args.results.stem}_{args.split}"
    return (args.checkpoint if args.checkpoint.is_dir() else args.checkpoint.parent) / f"eval_{args.split}"


def _evaluate_detection(store: Any, inputs: Any, head: dict, args: argparse.Namespace, out: Path) -> None:
    from vision_studio.core.evaluation.export_ids import export_id_maps
    from vision_studio.core.evaluation.report_folder import write_detection_report
    from vision_studio.core.images import read_image

    backend = args.backend or store.get_setting("evaluation_backend", "faster")
    masks = inputs.task == Task.INSTANCE_SEGMENTATION and inputs.predictions.masks is not None
    evaluated = write_detection_report(
        out, inputs, args.score_threshold, args.nms_iou, head=head, iou_types=("bbox", "segm") if masks else ("bbox",),
        backend=backend, confusion_min_score=max(args.score_threshold, 0.5), ids=export_id_maps(store, args.split),
        image_reader=lambda im: read_image(store.resolve(im)), overlays=args.overlays, overlay_min_score=0.5)
    for res in evaluated:
        _print_coco(res)


def _print_coco(res: Any) -> None:
    print(f"\nCOCO {res.iou_type} ({res.backend})")
    for name, value in res.stats.items():
        print(f"  {name:6s} {value:7.4f}")
    print(f"  {'category':24s} {'objects':>7s} {'AP':>7s} {'AP50':>7s} {'AP75':>7s}")
    for c in res.per_class:
        print(f"  {c.name[:24]:24s} {c.num_gt:7d} {c.ap:7.4f} {c.ap50:7.4f} {c.ap75:7.4f}")
    print(f"  outcomes at IoU 0.5: {res.outcomes.counts()}")


def _evaluate_classification(inputs: Any, head: dict, out: Path) -> None:
    from vision_studio.core.evaluation.dense import classification_result
    from vision_studio.core.evaluation.report_folder import write_classification_report

    if not (inputs.gt.labels >= 0).any():
        raise ConfigError("no image of the split has a category tag of this model")
    r = classification_result(inputs)
    m = r.metrics
    print(f"accuracy {m['accuracy']:.4f}  " + "  ".join(f"top-{k} {v:.4f}" for k, v in m["top_k"].items()))
    print(f"  {'class':24s} {'prec':>7s} {'recall':>7s} {'F1':>7s} {'support':>7s}")
    for c in m["per_class"]:
        print(f"  {c['name'][:24]:24s} {c['precision']:7.4f} {c['recall']:7.4f} {c['f1']:7.4f} {c['support']:7d}")
    write_classification_report(out, r, inputs, head)


def _evaluate_semantic(inputs: Any, head: dict, out: Path) -> None:
    from vision_studio.core.evaluation.dense import semantic_result
    from vision_studio.core.evaluation.report_folder import write_semantic_report

    r = semantic_result(inputs)
    m = r.metrics
    print(f"mIoU {m['mIoU']:.4f}  pixel accuracy {m['pixel_accuracy']:.4f}  mean Dice {m['mean_dice']:.4f}")
    for c in m["per_class"]:
        print(f"  {c['name'][:24]:24s} IoU {c['iou']:7.4f} Dice {c['dice']:7.4f}")
    write_semantic_report(out, r, head)
